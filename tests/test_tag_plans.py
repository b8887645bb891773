"""What a tag filter lists, and how (issue 16: "a tag lookup is as fast as ``filter[flow_run_id]``").

With other filters, in every order and on every page: exactly the records a scan would give. The plans: the list's
page and its exact total find the tag's records through the tags' own key and read the records by id, never by
walking the tenant's every record. On PostgreSQL the generic plan, the one Metadock's connections run
(plan_cache_mode = force_generic_plan): it estimates an average tenant, and through ``id IN (SELECT payload_id FROM
payload_tags …)`` it merge- or hash-joined the tag's 100 ids with an index scan of a big tenant's every record, the
page and the count each taking ~15 ms on 18,000 records (S12, 0.04x floor) and growing with the tenant. Read from
the tags' key, a page of 100 was still hash-joined with a scan of the tenant while PostgreSQL priced an index probe
for a spinning disk (``random_page_cost`` 4): 8 ms on a freshly seeded 18,000-record tenant, against 0.3 ms by id
(kit/postgres.py SERVER_SETTINGS)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
from typing import Any

import asyncpg
import pytest
from litestar.testing import TestClient
from sqlalchemy import insert, select, text
from sqlalchemy.sql.base import Executable

from metadock.app import create_app
from metadock.kit.db import Connection
from metadock.payloads.query import parse_list_query
from metadock.payloads.repository import PayloadRepository
from metadock.payloads.table import payload_metadata
from metadock.payloads.tag_tables import payload_tags
from metadock.settings import Settings
from metadock.tenants.service import TenantService
from tests.factories import (
    PAYLOADS,
    TenantKeys,
    backdate_payload,
    create_tenant,
    payload_record_values,
    run_in_transaction,
)
from tests.plans import StatementRecorder, plan_of
from tests.test_payload_tags import Client, _capture, _listed

RECORDS = 3_000
PER_RUN = 100


@pytest.fixture
def big_tenant(database_url: str, tenant: TenantKeys) -> int:
    """A tenant with most of the records (every one tagged ``order_id`` = ``order-<its run>``, 100 a value), and a
    few other tenants with a record each, as the bench's dataset has them: an average tenant is much smaller."""
    others = [create_tenant(database_url, f"other-{n}").uuid for n in range(4)]

    async def work(connection: Connection) -> int:
        tenants = TenantService(connection)
        tenant_id = (await tenants.get_tenant(tenant.uuid)).id
        now = dt.datetime.now(dt.UTC)
        rows = [
            {**payload_record_values(now, flow_run_id=1 + n // PER_RUN), "tenant_id": tenant_id} for n in range(RECORDS)
        ]
        for uuid in others:
            rows.append({**payload_record_values(now), "tenant_id": (await tenants.get_tenant(uuid)).id})
        await connection.execute(insert(payload_metadata), rows)
        c = payload_metadata.c
        records = await connection.fetch_all(select(c.id, c.tenant_id, c.flow_run_id))
        tags = [
            {
                "tenant_id": r["tenant_id"],
                "name": "order_id",
                "value": f"order-{r['flow_run_id']}",
                "payload_id": r["id"],
            }
            for r in records
        ]
        await connection.execute(insert(payload_tags), tags)
        return tenant_id

    tenant_id = run_in_transaction(database_url, work)
    _analyze(database_url)
    return tenant_id


def _analyze(database_url: str) -> None:
    if database_url.startswith("sqlite"):

        async def work(connection: Connection) -> None:
            await connection.execute(text("ANALYZE"))

        run_in_transaction(database_url, work)
        return

    async def vacuum() -> None:
        connection = await asyncpg.connect(database_url)
        try:
            await connection.execute("VACUUM ANALYZE payload_metadata, payload_tags")
        finally:
            await connection.close()

    asyncio.run(vacuum())


def _list_plans(database_url: str, tenant_id: int, params: list[tuple[str, str]]) -> list[str]:
    """The plan of the list's page and of its count, with its values: the two statements SQLite runs for a full first
    page, the InitPlan of PostgreSQL's one statement apart from the rest of its plan (kit/repository.py _page)."""

    async def work(connection: Connection) -> list[tuple[Executable, dict[str, Any]]]:
        recorder = StatementRecorder(connection)
        await PayloadRepository(recorder, tenant_id).list_page(parse_list_query(params))
        return recorder.statements

    statements = run_in_transaction(database_url, work)
    plans = [
        plan_of(database_url, statement, values, pg_explain="EXPLAIN (FORMAT JSON)") for statement, values in statements
    ]
    if database_url.startswith("sqlite"):
        assert len(plans) == 2, statements  # a full first page: the total is counted
        return plans
    assert len(plans) == 1, statements  # a full first page and its total: one round trip
    return _page_and_count(plans[0])


def _page_and_count(plan: str) -> list[str]:
    """A counted page's PostgreSQL plan (JSON) as two: the page's without its InitPlan, and the InitPlan, the count
    run once for the whole page (a SubPlan would run per row, and fails here)."""
    top = json.loads(plan)[0]["Plan"]
    initplans = [child for child in top.get("Plans", []) if child.get("Parent Relationship") == "InitPlan"]
    assert len(initplans) == 1, plan

    def without_initplans(node: dict[str, Any]) -> dict[str, Any]:
        children = [without_initplans(c) for c in node.get("Plans", []) if c.get("Parent Relationship") != "InitPlan"]
        assert all(c.get("Parent Relationship") != "SubPlan" for c in children), plan
        return {**node, "Plans": children}

    return [json.dumps([{"Plan": without_initplans(top)}]), json.dumps([{"Plan": initplans[0]}])]


def _record_reads(plan: str) -> list[str]:
    """Each read of payload_metadata (a partition of it, on PostgreSQL) in the plan, with its conditions."""
    if not plan.startswith("["):  # SQLite's EXPLAIN QUERY PLAN, one step a line
        return [line for line in plan.splitlines() if "payload_metadata" in line]
    reads = []

    def walk(node: dict[str, Any]) -> None:
        if str(node.get("Relation Name", "")).startswith("payload_metadata"):
            conditions = [str(node[k]) for k in ("Index Cond", "Filter", "Recheck Cond") if k in node]
            reads.append(f"{node['Node Type']} {node['Relation Name']}: {' / '.join(conditions)}")
        for child in node.get("Plans", []):
            walk(child)

    walk(json.loads(plan)[0]["Plan"])
    return reads


def _by_id(read: str) -> bool:
    """A read of records by the ids the tags gave (a join's parameter), not a walk of the tenant's records."""
    if read.startswith(("SEARCH", "SCAN")):  # SQLite
        return read.startswith("SEARCH payload_metadata USING INTEGER PRIMARY KEY (rowid=?)")
    return re.search(r"\(id = \w+\.\w+\)|\(\w+\.\w+ = id\)", read) is not None


@pytest.mark.parametrize(
    "params",
    [
        [("filter[tag.order_id]", "order-30")],
        [("filter[tag.order_id]", "order-30"), ("sort", "-id")],
        [("filter[tag.order_id]", "order-30,order-2")],
        [("filter[tag.order_id]", "order-30"), ("sort", "-created_at")],
    ],
    ids=["id", "-id", "any-of", "-created_at"],
)
def test_a_tag_lists_page_and_total_read_the_tags_key_and_records_only_by_id(
    database_url: str, big_tenant: int, params: list[tuple[str, str]]
) -> None:
    page, count = _list_plans(database_url, big_tenant, [*params, ("per_page", "100")])
    assert _record_reads(page), page  # the page reads its records
    assert all(_by_id(read) for read in _record_reads(page)), "\n".join(_record_reads(page))
    # The total counts the tag's key range alone (a record's tags live and go with it).
    assert _record_reads(count) == [], count
    assert "payload_tags" in count, count


def test_a_tag_filter_with_other_filters_sorts_and_pages_lists_what_a_scan_would(
    client: Client, tenant: TenantKeys, other_tenant: TenantKeys, database_url: str
) -> None:
    """Each shape the list builds for tags (tags alone: from the tags' key; with an order other than id: joined to
    the records; with other filters: a semi-join) against the records filtered and sorted here in Python."""
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    records = []
    for n in range(14):
        tags = {"tag[order_id]": f"o{n % 3}", **({"tag[region]": "eu"} if n % 2 else {})}
        record = _capture(client, tenant, flow_run_id=1 + n % 2, flow_step_id=1 + n % 4, **tags)
        created = start + dt.timedelta(minutes=(n * 7) % 5)  # out of id order, with ties
        backdate_payload(database_url, record["id"], created)
        records.append({"id": record["id"], "run": 1 + n % 2, "step": 1 + n % 4, "created": created, "tags": tags})
    _capture(client, other_tenant, **{"tag[order_id]": "o1"})  # never listed for ``tenant``

    def expected(orders: set[str], region: bool, run: int | None, step: int | None, sort: str) -> list[int]:
        kept = [
            r
            for r in records
            if r["tags"]["tag[order_id]"] in orders
            and (not region or r["tags"].get("tag[region]") == "eu")
            and run in (None, r["run"])
            and step in (None, r["step"])
        ]
        by_created = {"created_at": 1, "-created_at": -1}.get(sort)
        if by_created is None:
            kept.sort(key=lambda r: r["id"], reverse=sort == "-id")
        else:
            kept.sort(key=lambda r: (by_created * r["created"].timestamp(), r["id"]))  # ties: id ascending
        return [r["id"] for r in kept]

    for orders in ({"o1"}, {"o0", "o2"}):
        for region in (False, True):
            for run, step in ((None, None), (2, None), (None, 3)):
                for sort in ("id", "-id", "created_at", "-created_at"):
                    params = {"filter[tag.order_id]": ",".join(sorted(orders)), "sort": sort}
                    params |= {"filter[tag.region]": "eu"} if region else {}
                    params |= {"filter[flow_run_id]": str(run)} if run else {}
                    params |= {"filter[flow_step_id]": str(step)} if step else {}
                    wanted = expected(orders, region, run, step, sort)
                    for page in (1, 2, 3):
                        got = _listed(client, tenant, **params, per_page="2", page=str(page))
                        assert got == (wanted[(page - 1) * 2 : page * 2], len(wanted)), (params, page)


def test_an_export_of_tags_alone_in_batches_lists_what_the_list_does(settings: Settings, tenant: TenantKeys) -> None:
    """Batches of 2 (each a seek from the last one's key, read from the tags' key), either way, exact."""
    with TestClient(create_app(settings.model_copy(update={"export_batch_size": 2}))) as client:
        records = [_capture(client, tenant, **{"tag[order_id]": f"o{n % 3}"})["id"] for n in range(11)]
        wanted = [rid for n, rid in enumerate(records) if n % 3 in (0, 2)]
        for sort, expected in (("id", wanted), ("-id", wanted[::-1])):
            params = {"filter[tag.order_id]": "o0,o2", "sort": sort}
            response = client.get(f"{PAYLOADS}/export", params=params, headers=tenant.headers("reader"))
            assert response.status_code == 200, response.text
            assert [json.loads(line)["id"] for line in response.text.splitlines()] == expected, sort
