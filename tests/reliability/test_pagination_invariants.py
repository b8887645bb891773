"""What a client paging through ``/api/v1/payload-metadata`` (and ``/metadatas``, built on the same pages) sees
when records arrive or go between two of its pages. Pages are offset pages, each read at its own moment; these
tests pin down the consequences (the README's "Pagination under concurrent writes" states them):

* sorted by ascending id (the default), new records land after every existing one: a scan sees each record that
  existed when it started exactly once, in order, and records added meanwhile at its end;
* sorted newest first, each record added before the scan reaches its end pushes one already-seen record onto the
  next page: duplicates, never a missed record;
* a record deleted behind the scan's position pulls the next one back across the page boundary: with deletions, a
  scan can miss records that existed throughout;
* ``meta.total`` is the count at the moment that page was read.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from litestar.testing import TestClient

from tests.factories import PAYLOADS, TenantKeys, add_metadatas, add_payload_records, metadata_body

PER_PAGE = 5
EXISTING = 12


def _page(client: TestClient[object], tenant: TenantKeys, page: int, sort: str | None) -> dict[str, Any]:
    params: dict[str, str | int] = {"per_page": PER_PAGE, "page": page}
    if sort is not None:
        params["sort"] = sort
    response = client.get(PAYLOADS, params=params, headers=tenant.headers())
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _scan(
    client: TestClient[object], tenant: TenantKeys, sort: str | None, between_pages: Callable[[int], None]
) -> tuple[list[int], list[int]]:
    """Page until a page comes back short, calling ``between_pages(page)`` after each; returns the ids seen, in
    order, and each page's ``meta.total``."""
    seen: list[int] = []
    totals: list[int] = []
    page = 1
    while True:
        body = _page(client, tenant, page, sort)
        seen.extend(record["id"] for record in body["data"])
        totals.append(body["meta"]["total"])
        if len(body["data"]) < PER_PAGE:
            return seen, totals
        between_pages(page)
        page += 1


@pytest.fixture
def existing(database_url: str, tenant: TenantKeys) -> list[int]:
    return [record["id"] for record in add_payload_records(database_url, tenant.uuid, [{}] * EXISTING)]


def test_ascending_scans_see_every_existing_record_once_and_new_ones_at_the_end(
    client: TestClient[object], database_url: str, tenant: TenantKeys, existing: list[int]
) -> None:
    added: list[int] = []

    def insert_two(_page: int) -> None:
        added.extend(record["id"] for record in add_payload_records(database_url, tenant.uuid, [{}, {}]))

    seen, totals = _scan(client, tenant, None, insert_two)

    assert seen[:EXISTING] == existing  # every existing record, once, in order
    assert seen == sorted(set(seen))  # no duplicates at all
    assert set(seen[EXISTING:]) <= set(added)  # then (some of) the newcomers
    assert totals == sorted(totals)
    assert totals[0] == EXISTING  # each page counts at its own moment
    assert totals[-1] == EXISTING + len(added)


@pytest.mark.parametrize("sort", ["-id", "-created_at"])
def test_newest_first_scans_repeat_records_when_new_ones_arrive_but_miss_none(
    client: TestClient[object], database_url: str, tenant: TenantKeys, existing: list[int], sort: str
) -> None:
    def insert_one(_page: int) -> None:
        add_payload_records(database_url, tenant.uuid, [{}])

    seen, _totals = _scan(client, tenant, sort, insert_one)

    assert set(existing) <= set(seen)  # nothing that existed is missed
    repeated = [record_id for record_id in set(seen) if seen.count(record_id) > 1]
    assert len(repeated) == len(seen) - len(set(seen)) > 0  # but records already seen come again
    assert not set(seen) - set(existing)  # and the newcomers, above the first page, are never seen


def test_a_deletion_behind_the_scan_makes_it_miss_a_record(
    client: TestClient[object], tenant: TenantKeys, existing: list[int]
) -> None:
    def delete_first(page: int) -> None:
        if page == 1:
            response = client.delete(f"{PAYLOADS}/{existing[0]}", headers=tenant.headers())
            assert response.status_code == 204

    seen, _totals = _scan(client, tenant, None, delete_first)

    # The record that was first on page 2 moved to page 1 after the client had read it: skipped, though it exists.
    skipped = existing[PER_PAGE]
    assert skipped not in seen
    assert seen == [record_id for record_id in existing if record_id != skipped]


def test_metadatas_in_their_default_order_are_seen_once_each_while_new_ones_arrive(
    client: TestClient[object], database_url: str, tenant: TenantKeys
) -> None:
    existing = [
        item["id"] for item in add_metadatas(database_url, tenant.uuid, [metadata_body(slug=f"m{n}") for n in range(7)])
    ]
    seen: list[int] = []
    page = 1
    while True:
        response = client.get("/metadatas", params={"limit": 3, "page": page}, headers=tenant.headers())
        assert response.status_code == 200, response.text
        seen.extend(item["id"] for item in response.json())
        if len(response.json()) < 3:
            break
        add_metadatas(database_url, tenant.uuid, [metadata_body(slug=f"new{page}")])
        page += 1

    assert seen[: len(existing)] == existing
    assert seen == sorted(set(seen))
