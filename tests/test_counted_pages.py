"""A list's page and its exact total (kit/repository.py ``_page``): on PostgreSQL one statement, the count an
uncorrelated scalar subquery of the page (run once, an InitPlan) read from its first row; on SQLite the page, then
the count unless the first page is not full. Either way a client sees the same page and the same total.

- Over HTTP, on both databases: filters (a run, a step, a tag, together), both id orders, every page to one past the
  end, the unfiltered list (its total kept per tenant) and deep pages from offset anchors: the ids and ``meta.total``
  an OFFSET walk over the records gives, the same on SQLAlchemy's path and on the plan, other tenants never counted.
- A repository's rows are only the list's columns: the total read with them is not handed back.
- On PostgreSQL, counted on the wire: a full first page and its total are one round trip (two before), as are a
  deeper page, the unfiltered list and a tag list; a page past the end is still counted, apart.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from bench.pg_round_trips import counting_round_trips
from metadock.app import create_app
from metadock.kit.db import Connection
from metadock.kit.query import ListQuery
from metadock.metadatas.repository import MetadataRepository
from metadock.payloads.query import parse_list_query
from metadock.payloads.repository import PayloadRepository
from metadock.payloads.schemas import PayloadRecord
from metadock.payloads.tag_repository import TagRepository
from metadock.settings import Settings
from metadock.tenants.service import TenantService
from tests.conftest import _empty_postgres
from tests.factories import (
    PAYLOADS,
    TenantKeys,
    add_metadatas,
    add_payload_records,
    create_tenant,
    metadata_body,
    run_in_transaction,
)

RECORDS = 41
# What a list reads of each record (payloads/repository.py _SHOWN), and nothing else.
LISTED = {"id", "created_at", "updated_at", "flow_version_id", "flow_step_id", "flow_run_id", "store_key", "size"}
LISTED |= {"dropped", "flow_log_id"}


def _specs(count: int) -> list[dict[str, Any]]:
    return [{"flow_run_id": 1 + n % 3, "flow_step_id": 10 * (1 + n % 2)} for n in range(count)]


def _tag_by_run(database_url: str, tenant_uuid: str, records: list[dict[str, Any]]) -> None:
    """Each record tagged ``order_id`` = ``order-<its run>``."""

    async def work(connection: Connection) -> None:
        tenant_id = (await TenantService(connection).get_tenant(tenant_uuid)).id
        for record in records:
            await TagRepository(connection, tenant_id).add(record["id"], {"order_id": f"order-{record['flow_run_id']}"})

    run_in_transaction(database_url, work)


@pytest.fixture
def records(settings: Settings, tenant: TenantKeys, other_tenant: TenantKeys, spaced_anchors: None) -> list[Any]:
    added = add_payload_records(settings.database_url, tenant.uuid, _specs(RECORDS))
    _tag_by_run(settings.database_url, tenant.uuid, added)
    others = add_payload_records(settings.database_url, other_tenant.uuid, _specs(9))  # never counted for `tenant`
    _tag_by_run(settings.database_url, other_tenant.uuid, others)
    return added


def _expected(records: list[dict[str, Any]], params: dict[str, str]) -> tuple[list[int], int]:
    """The page an OFFSET walk over the tenant's records gives, and the filtered total."""
    selected = sorted(records, key=lambda record: record["id"], reverse=params.get("sort") == "-id")
    for field in ("flow_run_id", "flow_step_id"):
        if f"filter[{field}]" in params:
            wanted = {int(value) for value in params[f"filter[{field}]"].split(",")}
            selected = [record for record in selected if record[field] in wanted]
    if "filter[tag.order_id]" in params:
        values = set(params["filter[tag.order_id]"].split(","))
        selected = [record for record in selected if f"order-{record['flow_run_id']}" in values]
    page, per_page = int(params["page"]), int(params["per_page"])
    return [record["id"] for record in selected[(page - 1) * per_page : page * per_page]], len(selected)


FILTERS = [
    {},
    {"filter[flow_run_id]": "2"},
    {"filter[flow_run_id]": "1,3", "filter[flow_step_id]": "20"},
    {"filter[tag.order_id]": "order-1"},
    {"filter[tag.order_id]": "order-1,order-2", "filter[flow_step_id]": "10"},
    {"filter[flow_run_id]": "99"},  # nothing
]


@pytest.mark.parametrize("sort", ["id", "-id"])
@pytest.mark.parametrize("per_page", ["5", "14", "100"])
def test_every_page_and_its_total_are_an_offset_walks(
    client: TestClient[object], tenant: TenantKeys, records: list[dict[str, Any]], sort: str, per_page: str
) -> None:
    for filters in FILTERS:
        total = _expected(records, {**filters, "page": "1", "per_page": per_page})[1]
        for page in range(1, total // int(per_page) + 3):  # to one past the end, and the first page of nothing
            params = {**filters, "sort": sort, "page": str(page), "per_page": per_page}
            answers = []
            for _ in range(3):  # SQLAlchemy's path, then the plan
                response = client.get(PAYLOADS, params=params, headers=tenant.headers("reader"))
                assert response.status_code == 200, response.text
                body = response.json()
                answers.append(([row["id"] for row in body["data"]], body["meta"]["total"]))
                assert all(row.keys() == set(PayloadRecord.__struct_fields__) for row in body["data"])
            assert answers == [_expected(records, params)] * 3, params


def test_a_repositorys_rows_are_the_lists_columns_alone(settings: Settings, tenant: TenantKeys) -> None:
    add_payload_records(settings.database_url, tenant.uuid, _specs(6))
    add_metadatas(settings.database_url, tenant.uuid, [metadata_body(slug=f"s{n}") for n in range(6)])

    async def work(connection: Connection) -> list[tuple[set[str], int]]:
        tenant_id = (await TenantService(connection).get_tenant(tenant.uuid)).id
        seen = []
        for _ in range(3):  # SQLAlchemy's path, then the plan
            for query in ([("per_page", "4")], [("filter[flow_run_id]", "1"), ("per_page", "1")]):
                rows, total = await PayloadRepository(connection, tenant_id).list_page(parse_list_query(query))
                seen += [(set(row.keys()), total) for row in rows]
            rows, total = await MetadataRepository(connection, tenant_id).list_page(ListQuery(per_page=4))
            seen += [(set(row.keys()), total) for row in rows]
        return seen

    seen = run_in_transaction(settings.database_url, work)
    assert len(seen) == 3 * (4 + 1 + 4)
    assert all("list_total" not in keys for keys, _ in seen)
    assert {total for _, total in seen} == {6, 2}  # each list's total, on every path
    assert {frozenset(keys) for keys, _ in seen if "store_key" in keys} == {frozenset(LISTED)}


@pytest.fixture
def postgres_only(postgres_url: str) -> Iterator[str]:
    _empty_postgres(postgres_url)
    yield postgres_url
    _empty_postgres(postgres_url)


def test_a_page_and_its_total_are_one_round_trip_on_postgresql(postgres_only: str, tmp_path: Path) -> None:
    keys = create_tenant(postgres_only, "trips")
    added = add_payload_records(postgres_only, keys.uuid, _specs(12))
    _tag_by_run(postgres_only, keys.uuid, added)

    with counting_round_trips(postgres_only) as counter:
        settings = Settings(database_url=counter.url, store_url=f"file://{tmp_path / 'payloads'}", data_dir=tmp_path)
        with TestClient(create_app(settings)) as client:

            def round_trips(params: dict[str, str], total: int) -> int:
                for _ in range(3):  # planned on the second run, prepared once per connection
                    response = client.get(PAYLOADS, params=params, headers=keys.headers("reader"))
                    assert response.json()["meta"]["total"] == total
                before = counter.round_trips
                for _ in range(10):
                    client.get(PAYLOADS, params=params, headers=keys.headers("reader"))
                return (counter.round_trips - before) // 10

            not_full = round_trips({"filter[flow_run_id]": "1", "per_page": "5"}, 4)
            lists = [
                round_trips({"filter[flow_run_id]": "1", "per_page": "2"}, 4),  # a full first page
                round_trips({"filter[flow_run_id]": "1", "per_page": "2", "page": "2"}, 4),
                round_trips({"per_page": "5"}, 12),  # the total kept per tenant
                round_trips({"filter[tag.order_id]": "order-2", "per_page": "3"}, 4),
            ]
            past_the_end = round_trips({"filter[flow_run_id]": "1", "per_page": "2", "page": "9"}, 4)

    # The credential's lookup and the page, its total with it (a first page that is not full was never counted);
    # a page past the end has no row to bring its total: counted apart.
    assert not_full == 2
    assert lists == [2, 2, 2, 2]
    assert past_the_end == 3
