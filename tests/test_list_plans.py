"""How a list's page is read at scale on PostgreSQL: its records by id, never a whole table.

Metadock's connections run generic plans (plan_cache_mode = force_generic_plan, kit/db.py). A LIMIT given as a
parameter is invisible to such a plan: PostgreSQL planned for 10% of the tenant's rows and joined the page's ids to
a sequential scan of every partition (S4, the unfiltered first page, 5 s at 10M records; deep pages 2-4 s). The page
size is written into the SQL (kit/repository.py ``literal_limit``), so the plan reads a later page's ids from the
index and the records by id, and a first page's records straight in the index's order. A table of a few thousand
rows is read whole either way (cheaper than 100 lookups), so this one has 200,000 records."""

from __future__ import annotations

import asyncio
import json

import asyncpg
import pytest

from tests.conftest import _empty_postgres
from tests.factories import create_tenant
from tests.test_tag_plans import _by_id, _list_plans, _record_reads

RECORDS = 200_000


@pytest.fixture
def big_postgres_tenant(postgres_url: str) -> int:
    _empty_postgres(postgres_url)
    uuid = create_tenant(postgres_url, "big").uuid

    async def seed() -> int:
        connection = await asyncpg.connect(postgres_url)
        try:
            tenant_id: int = await connection.fetchval("SELECT id FROM tenants WHERE uuid = $1", uuid)
            await connection.execute(
                """INSERT INTO payload_metadata (tenant_id, flow_run_id, flow_step_id, store_key, size, content_type,
                       dropped, created_at, updated_at)
                   SELECT $1, g / 100, g % 7, 'k' || g, 1024, 'application/json', false,
                       now() - ($2 - g) * interval '1 second', now()
                   FROM generate_series(1, $2) g""",
                tenant_id,
                RECORDS,
            )
            await connection.execute("VACUUM ANALYZE payload_metadata")
            return tenant_id
        finally:
            await connection.close()

    return asyncio.run(seed())


@pytest.mark.parametrize(
    ("params", "first_page"),
    [
        ([("per_page", "100")], True),
        ([("page", "3"), ("per_page", "100")], False),
        ([("sort", "-id"), ("per_page", "50")], True),
        ([("sort", "-created_at"), ("per_page", "100")], True),
        ([("sort", "-created_at"), ("page", "2"), ("per_page", "100")], False),
    ],
    ids=["first-page", "third-page", "newest-first", "by-created", "by-created-second-page"],
)
def test_a_lists_page_reads_its_records_by_id_and_no_table_whole(
    postgres_url: str, big_postgres_tenant: int, params: list[tuple[str, str]], first_page: bool
) -> None:
    page, _count = _list_plans(postgres_url, big_postgres_tenant, params)
    # Partitions past the records' ids are empty: scanning one costs nothing and is allowed.
    reads = [read for read in _record_reads(page) if "_ids_0:" in read]
    assert reads, page
    assert not [read for read in reads if read.startswith("Seq Scan")], "\n".join(reads)
    if first_page:
        # No offset to walk: the records are read in the index's order and the plan stops at the page's size (the
        # deferred join would read each row twice: its id, then the row by id).
        assert json.loads(page)[0]["Plan"]["Node Type"] == "Limit", page
        assert all(read.startswith("Index Scan") for read in reads), "\n".join(reads)
    else:
        assert any(_by_id(read) for read in reads), "\n".join(reads)
