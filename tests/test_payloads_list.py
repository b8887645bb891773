"""``GET /api/v1/payload-metadata``: spatie/laravel-query-builder's filters and sorts, Laravel's paginator."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from litestar.testing import TestClient

from metadock.settings import Settings
from tests.factories import (
    PAYLOADS,
    TenantKeys,
    add_payload_records,
    backdate_payload,
    capture_payload,
)

BASE = "http://testserver.local" + PAYLOADS
ALLOWED_FILTERS_MESSAGE = "Allowed filter(s) are `id, flow_run_id, flow_step_id, flow_log_id, tag.*`."
ALLOWED_SORTS_MESSAGE = "Allowed sort(s) are `id, created_at`."


def _list(client: TestClient[object], tenant: TenantKeys, params: Any = None) -> dict[str, Any]:
    response = client.get(PAYLOADS, params=params, headers=tenant.headers("reader"))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _ids(body: dict[str, Any]) -> list[int]:
    return [record["id"] for record in body["data"]]


def _query(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))


@pytest.fixture
def flows(client: TestClient[object], tenant: TenantKeys) -> list[dict[str, Any]]:
    """Six captures over runs, steps and logs (ids 1..6 in this order)."""
    specs = [
        {"flow_run_id": 1, "flow_step_id": 10, "flow_log_id": 100},
        {"flow_run_id": 1, "flow_step_id": 20, "flow_log_id": 100},
        {"flow_run_id": 2, "flow_step_id": 10, "flow_log_id": 200},
        {"flow_run_id": 2, "flow_step_id": 20},
        {"flow_run_id": 3, "flow_step_id": 10, "flow_log_id": 300},
        {"flow_run_id": 3, "flow_step_id": 30, "flow_version_id": 5},
    ]
    return [capture_payload(client, tenant.headers(), b"{}", **spec) for spec in specs]


# Filters ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"filter[flow_run_id]": "2"}, [2, 3]),
        ({"filter[flow_step_id]": "10"}, [0, 2, 4]),
        ({"filter[flow_log_id]": "100"}, [0, 1]),
        ({"filter[flow_run_id]": "1,3"}, [0, 1, 4, 5]),
        ({"filter[flow_step_id]": "20,30,999"}, [1, 3, 5]),
        ({"filter[flow_run_id]": "1,2", "filter[flow_step_id]": "20"}, [1, 3]),
        ({"filter[flow_run_id]": "3", "filter[flow_step_id]": "10", "filter[flow_log_id]": "300"}, [4]),
        ({"filter[flow_run_id]": "1", "filter[flow_step_id]": "30"}, []),
        ({"filter[flow_run_id]": "999"}, []),
        ({"filter[flow_run_id]": "abc"}, []),
        ({"filter[flow_log_id]": "1.5"}, []),
        ({"filter[flow_run_id]": "2,abc"}, [2, 3]),
    ],
)
def test_filters_are_exact_any_of_and_combine_with_and(
    client: TestClient[object],
    tenant: TenantKeys,
    flows: list[dict[str, Any]],
    params: dict[str, str],
    expected: list[int],
) -> None:
    body = _list(client, tenant, params)

    assert _ids(body) == [flows[index]["id"] for index in expected]
    assert body["meta"]["total"] == len(expected)
    assert all(isinstance(record["id"], int) for record in body["data"])


def test_filter_by_id(client: TestClient[object], tenant: TenantKeys, flows: list[dict[str, Any]]) -> None:
    second, fifth = flows[1]["id"], flows[4]["id"]

    assert _list(client, tenant, {"filter[id]": str(second)})["data"] == [flows[1]]
    assert _ids(_list(client, tenant, {"filter[id]": f"{fifth},{second}"})) == [second, fifth]
    assert _ids(_list(client, tenant, {"filter[id]": f"{second}", "filter[flow_run_id]": "2"})) == []
    assert _ids(_list(client, tenant, {"filter[id]": "not-an-id"})) == []


def test_an_empty_filter_value_filters_nothing_out(
    client: TestClient[object], tenant: TenantKeys, flows: list[dict[str, Any]]
) -> None:
    # Laravel turns "" into null and spatie skips a null filter.
    assert _ids(_list(client, tenant, {"filter[flow_run_id]": ""})) == [record["id"] for record in flows]
    assert _ids(_list(client, tenant, {"filter[flow_run_id]": "", "filter[flow_step_id]": "30"})) == [flows[5]["id"]]


@pytest.mark.parametrize(
    ("params", "unknown"),
    [
        ({"filter[payload_size]": "1"}, "payload_size"),
        ({"filter[dropped]": "1", "filter[flow_run_id]": "1"}, "dropped"),
        ({"filter[tenant_id]": "1", "filter[foo]": ""}, "tenant_id, foo"),
    ],
)
def test_an_unknown_filter_is_400_with_spaties_message(
    client: TestClient[object], tenant: TenantKeys, params: dict[str, str], unknown: str
) -> None:
    response = client.get(PAYLOADS, params=params, headers=tenant.headers())

    assert response.status_code == 400
    assert response.json() == {"message": f"Requested filter(s) `{unknown}` are not allowed. {ALLOWED_FILTERS_MESSAGE}"}


# Sorts -------------------------------------------------------------------------------------------------------------


@pytest.fixture
def dated(client: TestClient[object], settings: Settings, tenant: TenantKeys) -> list[int]:
    """Four records whose capture times do not follow their ids; the 2nd and 4th share one."""
    ids = [capture_payload(client, tenant.headers())["id"] for _ in range(4)]
    base = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)
    for record_id, minutes in zip(ids, [30, 10, 20, 10], strict=True):
        backdate_payload(settings.database_url, record_id, base + dt.timedelta(minutes=minutes))
    return ids


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        (None, [0, 1, 2, 3]),
        ("id", [0, 1, 2, 3]),
        ("-id", [3, 2, 1, 0]),
        ("created_at", [1, 3, 2, 0]),  # ties broken by id ascending
        ("-created_at", [0, 2, 1, 3]),
        ("created_at,-id", [3, 1, 2, 0]),
        ("-created_at,-id", [0, 2, 3, 1]),
        ("created_at,id", [1, 3, 2, 0]),
        ("", [0, 1, 2, 3]),
    ],
)
def test_sorts(
    client: TestClient[object], tenant: TenantKeys, dated: list[int], sort: str | None, expected: list[int]
) -> None:
    params = {} if sort is None else {"sort": sort}

    assert _ids(_list(client, tenant, params)) == [dated[index] for index in expected]


def test_records_carry_laravel_timestamps(client: TestClient[object], tenant: TenantKeys, dated: list[int]) -> None:
    first = _list(client, tenant, {"sort": "created_at"})["data"][0]

    assert first["created_at"] == "2024-05-01T12:10:00.000000Z"


@pytest.mark.parametrize(
    ("sort", "unknown"),
    [
        ("flow_run_id", "flow_run_id"),
        ("-payload_size", "payload_size"),
        ("id,-updated_at", "updated_at"),
        ("name,-title", "name, title"),
    ],
)
def test_an_unknown_sort_is_400_with_spaties_message(
    client: TestClient[object], tenant: TenantKeys, sort: str, unknown: str
) -> None:
    response = client.get(PAYLOADS, params={"sort": sort}, headers=tenant.headers())

    assert response.status_code == 400
    assert response.json() == {"message": f"Requested sort(s) `{unknown}` is not allowed. {ALLOWED_SORTS_MESSAGE}"}


# Pages -------------------------------------------------------------------------------------------------------------


@pytest.fixture
def twenty(settings: Settings, tenant: TenantKeys) -> list[int]:
    records = add_payload_records(settings.database_url, tenant.uuid, [{"flow_run_id": n % 3 + 1} for n in range(20)])
    return [record["id"] for record in records]


def test_the_default_page_is_the_first_fifteen_in_laravels_shape(
    client: TestClient[object], tenant: TenantKeys, twenty: list[int]
) -> None:
    body = _list(client, tenant)

    assert list(body) == ["data", "links", "meta"]
    assert _ids(body) == twenty[:15]
    assert body["links"] == {
        "first": f"{BASE}?page=1",
        "last": f"{BASE}?page=2",
        "prev": None,
        "next": f"{BASE}?page=2",
    }
    meta = body["meta"]
    assert list(meta) == ["current_page", "from", "last_page", "links", "path", "per_page", "to", "total"]
    assert {key: value for key, value in meta.items() if key != "links"} == {
        "current_page": 1,
        "from": 1,
        "last_page": 2,
        "path": BASE,
        "per_page": 15,
        "to": 15,
        "total": 20,
    }
    assert meta["links"] == [
        {"url": None, "label": "&laquo; Previous", "active": False},
        {"url": f"{BASE}?page=1", "label": "1", "active": True},
        {"url": f"{BASE}?page=2", "label": "2", "active": False},
        {"url": f"{BASE}?page=2", "label": "Next &raquo;", "active": False},
    ]


def test_the_last_page(client: TestClient[object], tenant: TenantKeys, twenty: list[int]) -> None:
    body = _list(client, tenant, {"page": "2"})

    assert _ids(body) == twenty[15:]
    assert body["links"]["prev"] == f"{BASE}?page=1"
    assert body["links"]["next"] is None
    assert (body["meta"]["current_page"], body["meta"]["from"], body["meta"]["to"]) == (2, 16, 20)
    assert body["meta"]["links"][0] == {"url": f"{BASE}?page=1", "label": "&laquo; Previous", "active": False}
    assert body["meta"]["links"][-1] == {"url": None, "label": "Next &raquo;", "active": False}
    assert [link["active"] for link in body["meta"]["links"]] == [False, False, True, False]


@pytest.mark.parametrize("per_page", [1, 7, 20, 100])
def test_per_page(client: TestClient[object], tenant: TenantKeys, twenty: list[int], per_page: int) -> None:
    body = _list(client, tenant, {"per_page": str(per_page), "page": "2"})

    assert _ids(body) == twenty[per_page : 2 * per_page]
    assert body["meta"]["per_page"] == per_page
    assert body["meta"]["last_page"] == max(-(-20 // per_page), 1)
    assert body["meta"]["total"] == 20


def test_a_page_past_the_end_is_empty(client: TestClient[object], tenant: TenantKeys, twenty: list[int]) -> None:
    body = _list(client, tenant, {"page": "5"})

    assert body["data"] == []
    meta = body["meta"]
    assert (meta["current_page"], meta["from"], meta["to"], meta["last_page"], meta["total"]) == (5, None, None, 2, 20)
    assert body["links"]["next"] is None
    assert body["links"]["prev"] == f"{BASE}?page=4"


def test_an_empty_list(client: TestClient[object], tenant: TenantKeys) -> None:
    body = _list(client, tenant)

    assert body["data"] == []
    assert body["links"] == {"first": f"{BASE}?page=1", "last": f"{BASE}?page=1", "prev": None, "next": None}
    meta = body["meta"]
    assert (meta["current_page"], meta["from"], meta["to"], meta["last_page"], meta["total"]) == (1, None, None, 1, 0)
    assert [link["label"] for link in meta["links"]] == ["&laquo; Previous", "1", "Next &raquo;"]


def test_page_links_keep_the_other_query_parameters(
    client: TestClient[object], tenant: TenantKeys, twenty: list[int]
) -> None:
    params = {"filter[flow_run_id]": "1,2", "sort": "-id", "per_page": "3", "page": "2"}

    body = _list(client, tenant, params)

    # 14 records of runs 1 and 2, newest first, three a page.
    assert body["meta"]["total"] == 14
    assert body["meta"]["last_page"] == 5
    assert len(body["data"]) == 3
    assert _ids(body) == sorted(_ids(body), reverse=True)
    urls = {name: body["links"][name] for name in ("first", "last", "prev", "next")}
    urls |= {link["label"]: link["url"] for link in body["meta"]["links"] if link["url"]}
    expected_pages = {"first": "1", "last": "5", "prev": "1", "next": "3", "1": "1", "2": "2", "5": "5"}
    for name, page in expected_pages.items():
        assert urls[name].startswith(BASE + "?"), urls[name]
        assert _query(urls[name]) == {**params, "page": page}, name
        # In the order sent, as PHP's array_merge keeps it.
        assert [key for key, _value in parse_qsl(urlsplit(urls[name]).query)] == list(params), name
    # Following a link gives what the link promises.
    following = client.get(body["links"]["next"].removeprefix("http://testserver.local"), headers=tenant.headers())
    assert following.json()["meta"]["current_page"] == 3
    assert min(_ids(body)) > max(_ids(following.json()))


def _labels(body: dict[str, Any]) -> list[str]:
    return [link["label"] for link in body["meta"]["links"]][1:-1]


@pytest.mark.parametrize(
    ("page", "labels"),
    [
        (1, ["1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "...", "19", "20"]),
        (7, ["1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "...", "19", "20"]),
        (8, ["1", "2", "...", "5", "6", "7", "8", "9", "10", "11", "...", "19", "20"]),
        (13, ["1", "2", "...", "10", "11", "12", "13", "14", "15", "16", "...", "19", "20"]),
        (14, ["1", "2", "...", "11", "12", "13", "14", "15", "16", "17", "18", "19", "20"]),
        (20, ["1", "2", "...", "11", "12", "13", "14", "15", "16", "17", "18", "19", "20"]),
    ],
)
def test_many_pages_get_laravels_link_window(
    client: TestClient[object], tenant: TenantKeys, twenty: list[int], page: int, labels: list[str]
) -> None:
    body = _list(client, tenant, {"per_page": "1", "page": str(page)})

    assert _labels(body) == labels
    for link in body["meta"]["links"][1:-1]:
        if link["label"] == "...":
            assert link == {"url": None, "label": "...", "active": False}
        else:
            assert _query(link["url"]) == {"per_page": "1", "page": link["label"]}
            assert link["active"] is (link["label"] == str(page))
    assert _ids(body) == [twenty[page - 1]]


def test_thirteen_pages_are_all_listed(client: TestClient[object], settings: Settings, tenant: TenantKeys) -> None:
    add_payload_records(settings.database_url, tenant.uuid, [{} for _ in range(13)])

    body = _list(client, tenant, {"per_page": "1", "page": "7"})

    assert _labels(body) == [str(n) for n in range(1, 14)]


@pytest.mark.parametrize("control", ["\x1c", "\x1f", "\x85", "\u2028"])
def test_integers_padded_with_odd_whitespace_are_client_errors_never_500(
    client: TestClient[object], tenant: TenantKeys, flows: list[dict[str, Any]], control: str
) -> None:
    """Found by schemathesis over the app's own OpenAPI: a regex admitted what int() then refused."""
    listed = client.get(PAYLOADS, params={"filter[flow_run_id]": f"1{control}"}, headers=tenant.headers())
    assert listed.status_code == 200
    assert listed.json()["data"] == []  # a non-integer matches nothing
    paged = client.get(PAYLOADS, params={"per_page": f"5{control}"}, headers=tenant.headers())
    assert paged.status_code == 200  # read as Laravel's $request->integer() does: the leading 5
    assert paged.json()["meta"]["per_page"] == 5
    captured = client.post(
        PAYLOADS, params={"flow_run_id": f"1{control}", "flow_step_id": 1}, content=b"{}", headers=tenant.headers()
    )
    assert captured.status_code == 422
