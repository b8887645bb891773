"""PostgreSQL's bulk path for the benchmark dataset: payload records by ``COPY`` (10M rows in minutes, not hours).

The records go into the table the migrations made. Its secondary indexes are dropped for the load and rebuilt from
the definitions PostgreSQL itself reports (``pg_indexes.indexdef``) after it, all in one transaction, so the schema
after the load is exactly the migrated one (same names, same definitions) and an interrupted load leaves the table
as it was. The primary key stays: ids arrive in order, so its b-tree only appends.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import asyncpg

from bench.dataset import PAYLOAD_COLUMNS, SeedParams, payload_rows
from metadock.kit.db import Database
from metadock.payloads.partitions import ensure_partitions
from metadock.settings import get_settings

COPY_CHUNK = 500_000


def driver_url(url: str) -> str:
    """The URL asyncpg takes (SQLAlchemy's ``postgresql+asyncpg://`` without the driver name)."""
    scheme, rest = url.split("://", 1)
    return f"postgresql://{rest}" if scheme.startswith("postgres") else url


async def ensure_database(url: str, log: Callable[[str], None]) -> None:
    """Create the URL's database when it does not exist yet (a dedicated bench database, e.g. a 10M dataset)."""
    try:
        connection = await asyncpg.connect(driver_url(url))
    except asyncpg.InvalidCatalogNameError:
        base, name = driver_url(url).rsplit("/", 1)
        name = name.split("?", 1)[0]
        admin = await asyncpg.connect(f"{base}/postgres")
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
        log(f"  created database {name}")
    else:
        await connection.close()


async def payload_total(url: str) -> int | None:
    """The payload records the per-tenant totals count, or None when the schema is not there (a dropped database)."""
    try:
        connection = await asyncpg.connect(driver_url(url))
    except (OSError, asyncpg.PostgresError):
        return None
    try:
        total = await connection.fetchval("SELECT coalesce(sum(total), 0) FROM payload_counts")
    except asyncpg.PostgresError:
        return None
    finally:
        await connection.close()
    return int(total)


async def copy_payloads(params: SeedParams, stored: dict[int, dict[str, Any]], log: Callable[[str], None]) -> None:
    """Every payload record of the dataset into the migrated (and empty) ``payload_metadata``."""
    connection = await asyncpg.connect(driver_url(params.db_url))
    try:
        # Index builds sort in memory rather than in temporary files; PostgreSQL 15 builds each with parallel workers.
        await connection.execute("SET maintenance_work_mem = '1GB'")
        indexes = await connection.fetch(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() "
            "AND tablename = 'payload_metadata' AND indexname NOT IN "
            "(SELECT conname FROM pg_constraint WHERE conrelid = 'payload_metadata'::regclass) ORDER BY indexname"
        )
        # Migration 0011 partitions the table by id: the partitions the load's ids need are made first (else its
        # rows would land in the DEFAULT partition), as ``ensure_partitions`` makes them in service.
        database = Database(params.db_url, pool_size=1)
        try:
            settings = get_settings()
            await ensure_partitions(
                database,
                width=settings.payload_partition_ids,
                ahead=settings.payload_partitions_ahead,
                through_id=params.payloads,
            )
        finally:
            await database.dispose()
        async with connection.transaction():
            for index in indexes:
                await connection.execute(f'DROP INDEX "{index["indexname"]}"')
            started = time.perf_counter()
            for start in range(0, params.payloads, COPY_CHUNK):
                end = min(params.payloads, start + COPY_CHUNK)
                await connection.copy_records_to_table(
                    "payload_metadata",
                    records=payload_rows(start, end, params, stored),
                    columns=PAYLOAD_COLUMNS,
                )
                rate = end / (time.perf_counter() - started)
                log(f"    {end:,} records copied ({rate:,.0f}/s)")
            for index in indexes:
                began = time.perf_counter()
                # A partitioned table's index is reported ``ON ONLY`` the parent: built so, no partition would get one.
                await connection.execute(index["indexdef"].replace(" ON ONLY ", " ON ", 1))
                log(f"    rebuilt {index['indexname']} ({time.perf_counter() - began:.0f} s)")
        # Index-only scans need the visibility map a fresh bulk load lacks; autovacuum would get there later.
        await connection.execute("VACUUM (ANALYZE) payload_metadata")
    finally:
        await connection.close()
