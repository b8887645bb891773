"""Deep pages of ``GET /api/v1/payload-metadata`` start from offset anchors (kit/keyset.py): the answers must be the
OFFSET walk's, exactly, before and after inserts and deletions. Anchors sit every 7 rows here (1,000 in service), so
a few hundred records give the walk, the anchors and their retirement plenty to do."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import delete, text

from metadock.kit.db import Database
from metadock.kit.principal import Principal, Role
from metadock.kit.repository import ANCHORS
from metadock.payloads.repository import PayloadMaintenanceRepository, PayloadRepository
from metadock.payloads.service import PayloadService
from metadock.payloads.table import payload_metadata
from metadock.settings import Settings
from metadock.tenants.service import TenantService
from tests.factories import (
    ANCHOR_SPACING,
    PAYLOADS,
    TenantKeys,
    add_payload_records,
    create_tenant,
    payload_record_values,
    run_in_transaction,
)

RECORDS = 260


def _specs(count: int, seed: int) -> list[dict[str, Any]]:
    draw = random.Random(seed)
    return [{"flow_run_id": draw.choice([1, 2, 3]), "flow_step_id": draw.choice([10, 20])} for _ in range(count)]


@pytest.fixture
def records(settings: Settings, tenant: TenantKeys, spaced_anchors: None) -> list[dict[str, Any]]:
    return add_payload_records(settings.database_url, tenant.uuid, _specs(RECORDS, seed=1))


def _get(client: TestClient[object], tenant: TenantKeys, params: dict[str, str]) -> dict[str, Any]:
    response = client.get(PAYLOADS, params=params, headers=tenant.headers("reader"))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _expected(records: list[dict[str, Any]], params: dict[str, str]) -> tuple[list[int], int]:
    """The page an OFFSET walk over the records in id order gives, and the filtered total."""
    selected = sorted(records, key=lambda record: record["id"])
    for field in ("flow_run_id", "flow_step_id"):
        if f"filter[{field}]" in params:
            wanted = {int(value) for value in params[f"filter[{field}]"].split(",")}
            selected = [record for record in selected if record[field] in wanted]
    page, per_page = int(params["page"]), int(params["per_page"])
    return [record["id"] for record in selected[(page - 1) * per_page : page * per_page]], len(selected)


def _assert_pages_exact(
    client: TestClient[object], tenant: TenantKeys, records: list[dict[str, Any]], queries: list[dict[str, str]]
) -> None:
    for params in queries:
        body = _get(client, tenant, params)
        ids, total = _expected(records, params)
        assert ([row["id"] for row in body["data"]], body["meta"]["total"]) == (ids, total), params


def _random_queries(seed: int, count: int) -> list[dict[str, str]]:
    draw = random.Random(seed)
    filters = [{}, {"filter[flow_run_id]": "2"}, {"filter[flow_step_id]": "10"}, {"filter[flow_run_id]": "1,3"}]
    queries = []
    for _ in range(count):
        per_page = draw.choice([1, 5, 7, 13, 50])
        page = draw.randint(1, RECORDS // per_page + 2)  # past the last page too
        queries.append({**draw.choice(filters), "page": str(page), "per_page": str(per_page)})
    return queries


def test_deep_pages_from_anchors_are_the_offset_walks_pages(
    client: TestClient[object],
    tenant: TenantKeys,
    records: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    queries = _random_queries(seed=2, count=120)
    bodies = [_get(client, tenant, params) for params in queries]

    assert ANCHORS.count() > RECORDS // ANCHOR_SPACING  # the anchors served these pages (several shapes)
    _assert_pages_exact(client, tenant, records, queries)
    # The whole answer (links, meta) is the one the OFFSET path gives when no anchor applies.
    monkeypatch.setattr(PayloadRepository, "anchor_spacing", 10**9)
    assert [_get(client, tenant, params) for params in queries] == bodies


def test_deleting_a_record_before_an_anchor_retires_the_anchors(
    client: TestClient[object], settings: Settings, tenant: TenantKeys, records: list[dict[str, Any]]
) -> None:
    queries = [{"page": str(page), "per_page": "10"} for page in range(2, 28)]
    _assert_pages_exact(client, tenant, records, queries)
    before = ANCHORS.count()

    # Through the API (this worker) and then as another worker would, through its own connection.
    deleted = records[3]["id"]
    assert client.delete(f"{PAYLOADS}/{deleted}", headers=tenant.headers("admin")).status_code == 204
    left = [record for record in records if record["id"] != deleted]
    _assert_pages_exact(client, tenant, left, queries)

    other = records[50]["id"]

    async def delete_elsewhere(connection: Any) -> None:
        service_tenant = await TenantService(connection).get_tenant(tenant.uuid)
        principal = Principal(service_tenant.id, service_tenant.uuid, Role.ADMIN, "other worker")
        await PayloadService(connection, principal, "file").delete(str(other))

    run_in_transaction(settings.database_url, delete_elsewhere)
    left = [record for record in left if record["id"] != other]
    _assert_pages_exact(client, tenant, left, queries + _random_queries(seed=3, count=40))
    assert before > 0


def test_pages_stay_exact_while_records_are_added_and_removed(
    client: TestClient[object], settings: Settings, tenant: TenantKeys, records: list[dict[str, Any]]
) -> None:
    live = list(records)
    draw = random.Random(4)
    for round_ in range(6):
        _assert_pages_exact(client, tenant, live, _random_queries(seed=10 + round_, count=25))
        live += add_payload_records(settings.database_url, tenant.uuid, _specs(draw.randint(1, 30), seed=round_))
        if round_ % 2:
            victim = draw.choice(live[: len(live) // 2])  # always before some anchor
            assert client.delete(f"{PAYLOADS}/{victim['id']}", headers=tenant.headers("admin")).status_code == 204
            live.remove(victim)
    _assert_pages_exact(client, tenant, live, _random_queries(seed=99, count=40))


def test_a_recount_after_rows_were_removed_behind_the_apps_back_retires_the_anchors(
    client: TestClient[object], settings: Settings, tenant: TenantKeys, records: list[dict[str, Any]]
) -> None:
    queries = [{"page": str(page), "per_page": "9"} for page in range(2, 30)]
    _assert_pages_exact(client, tenant, records, queries)
    removed = {record["id"] for record in records[:20:3]}

    async def bulk_delete_and_recount(connection: Any) -> None:
        # What a bulk tool does (bench's clean-up): rows gone without the totals knowing, then `recount_totals`.
        await connection.write(delete(payload_metadata).where(payload_metadata.c.id.in_(removed)))
        await PayloadMaintenanceRepository(connection).recount_totals()

    run_in_transaction(settings.database_url, bulk_delete_and_recount)
    _assert_pages_exact(client, tenant, [record for record in records if record["id"] not in removed], queries)


def test_another_tenants_records_never_move_a_tenants_anchors(
    client: TestClient[object],
    settings: Settings,
    tenant: TenantKeys,
    other_tenant: TenantKeys,
    records: list[dict[str, Any]],
) -> None:
    queries = _random_queries(seed=5, count=30)
    _assert_pages_exact(client, tenant, records, queries)
    theirs = add_payload_records(settings.database_url, other_tenant.uuid, _specs(40, seed=6))
    assert client.delete(f"{PAYLOADS}/{theirs[0]['id']}", headers=other_tenant.headers("admin")).status_code == 204
    _assert_pages_exact(client, tenant, records, queries)
    _assert_pages_exact(client, other_tenant, theirs[1:], [{"page": str(p), "per_page": "3"} for p in range(1, 15)])


def test_a_tenants_records_commit_in_id_order_so_none_appears_below_an_anchor(postgres_url: str) -> None:
    """On PostgreSQL the sequence hands out ids outside transactions: a capture that drew id 10 could commit after
    one that drew 11, below an anchor counted meanwhile. A second capture of the tenant must not draw its id while
    the first is open (SQLite lets one writer in at a time anyway)."""
    tenant = create_tenant(postgres_url, "ordering")

    async def run() -> tuple[int, int, int]:
        database = Database(postgres_url, pool_size=3)
        try:
            async with database.transaction() as connection:
                principal_tenant = await TenantService(connection).get_tenant(tenant.uuid)
            principal = Principal(principal_tenant.id, principal_tenant.uuid, Role.ADMIN, "test")
            values = payload_record_values()
            async with database.transaction() as first:
                first_id = (await PayloadService(first, principal, "file").record(values)).id

                async def second_capture() -> int:
                    async with database.transaction() as second:
                        return (await PayloadService(second, principal, "file").record(payload_record_values())).id

                second = asyncio.create_task(second_capture())
                await asyncio.sleep(0.5)
                assert not second.done()  # waiting for the first capture's commit
                async with database.transaction() as observer:
                    drawn = int(await observer.scalar(text("SELECT last_value FROM payload_metadata_id_seq")))
            return first_id, drawn, await second
        finally:
            await database.dispose()

    first_id, drawn_while_open, second_id = asyncio.run(run())
    assert drawn_while_open == first_id  # the waiting capture had drawn no id yet
    assert second_id > first_id
