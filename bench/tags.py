"""The benchmark dataset's tags (S12): every record of tenant 0 carries ``order_id`` = ``order-<its run>``, so a tag
filter selects exactly the records ``filter[flow_run_id]`` does (100 per value) and S12 compares with S3 directly.

Added to a dataset on first use by one ``INSERT … SELECT`` (a dataset seeded before tags existed needs no reseed).
On PostgreSQL the table's indexes (its primary key too) are dropped for that insert and rebuilt after it from the
definitions PostgreSQL reports, in the insert's transaction, as ``bench/seed_postgres.py`` loads the records: the
key leads with the value (``order-<run>`` sorts as text, not in id order), so 9M rows inserted through it would land
all over the b-tree, while one sorted build of each index takes seconds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import asyncpg
from sqlalchemy import String, cast, literal, select

from bench.seed_postgres import driver_url
from metadock.kit.db import Database
from metadock.payloads.table import payload_metadata
from metadock.payloads.tag_tables import payload_tags

TAG = "order_id"


def value_of(run: int) -> str:
    return f"order-{run}"


async def _postgres(database_url: str, tenant_id: int) -> bool:
    """Tag the tenant's records on PostgreSQL with the indexes rebuilt after the insert; False when already tagged."""
    connection = await asyncpg.connect(driver_url(database_url))
    try:
        present = await connection.fetchval(
            "SELECT 1 FROM payload_tags WHERE tenant_id = $1 AND name = $2 LIMIT 1", tenant_id, TAG
        )
        if present is not None:
            return False
        await connection.execute("SET maintenance_work_mem = '1GB'")
        constraints = await connection.fetch(
            "SELECT conname, pg_get_constraintdef(oid) AS definition FROM pg_constraint "
            "WHERE conrelid = 'payload_tags'::regclass AND contype = 'p'"
        )
        indexes = await connection.fetch(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() "
            "AND tablename = 'payload_tags' AND indexname NOT IN "
            "(SELECT conname FROM pg_constraint WHERE conrelid = 'payload_tags'::regclass) ORDER BY indexname"
        )
        async with connection.transaction():
            for index in indexes:
                await connection.execute(f'DROP INDEX "{index["indexname"]}"')
            for constraint in constraints:
                await connection.execute(f'ALTER TABLE payload_tags DROP CONSTRAINT "{constraint["conname"]}"')
            await connection.execute(
                "INSERT INTO payload_tags (tenant_id, name, value, payload_id) "
                "SELECT tenant_id, $2, 'order-' || flow_run_id, id FROM payload_metadata WHERE tenant_id = $1",
                tenant_id,
                TAG,
            )
            for constraint in constraints:
                await connection.execute(
                    f'ALTER TABLE payload_tags ADD CONSTRAINT "{constraint["conname"]}" {constraint["definition"]}'
                )
            for index in indexes:
                await connection.execute(index["indexdef"])
        # Outside the transaction: index-only scans need the visibility map a bulk insert lacks (as the seeding does
        # for payload_metadata); autovacuum would get there later.
        await connection.execute("VACUUM (ANALYZE) payload_tags")
    finally:
        await connection.close()
    return True


def ensure(database_url: str, tenant_id: int, log: Callable[[str], None]) -> None:
    started = time.perf_counter()
    if database_url.split("://", 1)[0].startswith("postgres"):
        if asyncio.run(_postgres(database_url, tenant_id)):
            log(f"  tagged tenant {tenant_id}'s records with {TAG} ({time.perf_counter() - started:.1f} s)")
        return

    async def work() -> None:
        database = Database(database_url, pool_size=1)
        try:
            async with database.transaction() as connection:
                present = await connection.scalar(
                    select(payload_tags.c.payload_id)
                    .where(payload_tags.c.tenant_id == tenant_id, payload_tags.c.name == TAG)
                    .limit(1)
                )
                if present is not None:
                    return
                c = payload_metadata.c
                rows = select(
                    c.tenant_id, literal(TAG), literal("order-", String()) + cast(c.flow_run_id, String()), c.id
                ).where(c.tenant_id == tenant_id)
                await connection.execute(
                    payload_tags.insert().from_select(["tenant_id", "name", "value", "payload_id"], rows)
                )
            log(f"  tagged tenant {tenant_id}'s records with {TAG} ({time.perf_counter() - started:.1f} s)")
        finally:
            await database.dispose()

    asyncio.run(work())
