"""``page`` and ``per_page`` of ``GET /api/v1/payload-metadata`` are read the way a Laravel controller reads them,
never refused: above the maximum is clamped, what is not a usable number falls back to the default (issue 11)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from litestar.testing import TestClient

from metadock.settings import Settings
from tests.factories import PAYLOADS, TenantKeys, add_payload_records

RECORDS = 230  # three pages of 100: the last one partial


@pytest.fixture
def records(settings: Settings, tenant: TenantKeys) -> list[int]:
    added = add_payload_records(settings.database_url, tenant.uuid, [{"flow_run_id": 1} for _ in range(RECORDS)])
    return [record["id"] for record in added]


def _page(client: TestClient[object], tenant: TenantKeys, params: dict[str, str]) -> dict[str, Any]:
    response = client.get(PAYLOADS, params=params, headers=tenant.headers("reader"))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_per_page_above_the_maximum_is_clamped_and_every_page_is_computed_on_the_maximum(
    client: TestClient[object], tenant: TenantKeys, records: list[int]
) -> None:
    first = _page(client, tenant, {"per_page": "250"})

    assert [row["id"] for row in first["data"]] == records[:100]
    meta = first["meta"]
    assert (meta["per_page"], meta["last_page"], meta["total"], meta["from"], meta["to"]) == (100, 3, RECORDS, 1, 100)
    # The links keep what the client sent (per_page=250) and lead to pages computed on 100.
    assert dict(parse_qsl(urlsplit(first["links"]["last"]).query)) == {"per_page": "250", "page": "3"}
    assert [link["label"] for link in meta["links"][1:-1]] == ["1", "2", "3"]


def test_following_next_links_with_per_page_250_sees_every_record_exactly_once(
    client: TestClient[object], tenant: TenantKeys, records: list[int]
) -> None:
    seen: list[int] = []
    url: str | None = f"{PAYLOADS}?per_page=250"
    while url is not None:
        response = client.get(url, headers=tenant.headers("reader"))
        assert response.status_code == 200, response.text
        body = response.json()
        seen += [row["id"] for row in body["data"]]
        url = body["links"]["next"]
    assert seen == records


@pytest.mark.parametrize(
    ("raw", "per_page"),
    [
        ("100", 100),
        ("101", 100),
        ("99999999999999999999999999", 100),  # PHP's intval saturates; the clamp applies
        ("0", 15),  # Laravel: $perPage ?: the model's default
        ("-5", 15),
        ("abc", 15),  # $request->integer(): intval('abc') is 0
        ("", 15),
        ("20abc", 20),  # intval reads the leading integer
        ("2.5", 2),
    ],
)
def test_per_page_edges_are_read_as_laravel_reads_them(
    client: TestClient[object], tenant: TenantKeys, records: list[int], raw: str, per_page: int
) -> None:
    body = _page(client, tenant, {"per_page": raw})

    assert body["meta"]["per_page"] == per_page
    assert [row["id"] for row in body["data"]] == records[:per_page]
    assert body["meta"]["last_page"] == -(-RECORDS // per_page)


@pytest.mark.parametrize("raw", ["0", "-3", "abc", "1.5", "", "9" * 19])
def test_a_page_that_is_not_a_positive_integer_is_the_first_page(
    client: TestClient[object], tenant: TenantKeys, records: list[int], raw: str
) -> None:
    body = _page(client, tenant, {"page": raw, "per_page": "10"})

    assert body["meta"]["current_page"] == 1
    assert [row["id"] for row in body["data"]] == records[:10]
    assert body["links"]["prev"] is None


def test_a_page_past_the_end_is_an_empty_page_that_says_where_the_end_is(
    client: TestClient[object], tenant: TenantKeys, records: list[int]
) -> None:
    body = _page(client, tenant, {"page": "7", "per_page": "250"})

    assert body["data"] == []
    meta = body["meta"]
    assert (meta["current_page"], meta["last_page"], meta["from"], meta["to"]) == (7, 3, None, None)
    assert body["links"]["next"] is None


def test_a_page_no_list_reaches_is_empty_not_an_error(
    client: TestClient[object], tenant: TenantKeys, records: list[int]
) -> None:
    body = _page(client, tenant, {"page": "99999999999999", "per_page": "100"})

    assert body["data"] == []
    assert body["meta"]["current_page"] == 1_000_000_000
    assert body["meta"]["total"] == RECORDS
