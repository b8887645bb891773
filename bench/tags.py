"""The benchmark dataset's tags (S12): every record of tenant 0 carries ``order_id`` = ``order-<its run>``, so a tag
filter selects exactly the records ``filter[flow_run_id]`` does (100 per value) and S12 compares with S3 directly.

Added to a dataset on first use by one ``INSERT … SELECT`` (a dataset seeded before tags existed needs no reseed).
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


def ensure(database_url: str, tenant_id: int, log: Callable[[str], None]) -> None:
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
                started = time.perf_counter()
                c = payload_metadata.c
                rows = select(
                    c.tenant_id, literal(TAG), literal("order-", String()) + cast(c.flow_run_id, String()), c.id
                ).where(c.tenant_id == tenant_id)
                await connection.execute(
                    payload_tags.insert().from_select(["tenant_id", "name", "value", "payload_id"], rows)
                )
            if database.dialect_name == "postgresql":
                # Outside a transaction: index-only scans need the visibility map a bulk insert lacks (as the seeding
                # does for payload_metadata); autovacuum would get there later.
                connection = await asyncpg.connect(driver_url(database_url))
                try:
                    await connection.execute("VACUUM (ANALYZE) payload_tags")
                finally:
                    await connection.close()
            log(f"  tagged tenant {tenant_id}'s records with {TAG} ({time.perf_counter() - started:.1f} s)")
        finally:
            await database.dispose()

    asyncio.run(work())
