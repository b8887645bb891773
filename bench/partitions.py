"""PostgreSQL's partitioned payload table (issue 14): which partition key, and dropping a month of records.

``python -m bench.partitions [--records 1000000] [--url postgresql://postgres@127.0.0.1/metadock_bench_partitions]``

A fresh database, migrated (so ``payload_metadata`` is partitioned by id ranges), holds N records of 3 tenants
captured over ten months in id order, partitions of N/10 ids (one month each). Two more tables hold the same rows:
``bench_plain`` (unpartitioned, as before migration 0011) and ``bench_by_time`` (partitioned by ``created_at`` by
month; its primary key must then be ``(id, created_at)``). Then:

1. Key choice: the median time of a lookup by id (tenant-scoped, as S6), a first list page (tenant, newest 100 by
   id, as S1) and an exact filtered total (tenant and run, as S3's count) on each table.
2. Dropping the oldest month (all its records already dropped by byte retention, with no bytes to remove, so only
   the database's work is measured): ``partitions.drop_expired_partitions`` on the partitioned table against the
   batched delete (500 per transaction, totals adjusted in each, as ``prune_records`` does) on ``bench_plain``,
   followed by the ``VACUUM`` the deleted rows need. For each: wall time, WAL written (``pg_current_wal_lsn()``
   before and after) and the latency of lookups by id run meanwhile on another connection.

Writes ``bench/results/<UTC time>-partitions.md``. Figures are only meaningful against each other, in one run.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import statistics
import time
from pathlib import Path
from typing import Any

import asyncpg

from bench.seed_postgres import driver_url, ensure_database
from metadock import migrate
from metadock.kit.db import Database
from metadock.payloads import partitions
from metadock.payloads.store import open_store

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
MONTH = dt.timedelta(days=30)
COLUMNS = (
    "tenant_id, flow_run_id, flow_step_id, flow_version_id, flow_log_id, store_key, size, sha256, content_type, "
    "dropped, dropped_reason, created_at, updated_at, stored_at, expires_at"
)


def _fill(table: str, records: int) -> str:
    # Record g is captured at START + g * (10 months / N): ids follow time, ten months in all. The first month's
    # records are dropped (too_large: no bytes), as byte retention leaves them before record retention comes.
    step = f"(interval '300 days' / {records})"
    return (
        f"INSERT INTO {table} (id, {COLUMNS}) SELECT g, 1 + g % 3, g / 50, g % 7, 1, g, 'k/' || g, 1024, NULL, "
        f"'application/json', g < {records // 10}, CASE WHEN g < {records // 10} THEN 'too_large' END, "
        f"timestamptz '{START.isoformat()}' + g * {step}, now(), NULL, NULL FROM generate_series(1, {records}) g"
    )


async def _prepare(url: str, records: int) -> None:
    database = Database(url, pool_size=1)
    try:
        await migrate.upgrade(database)
    finally:
        await database.dispose()
    connection = await asyncpg.connect(driver_url(url))
    try:
        await connection.execute(
            "TRUNCATE payload_metadata, payload_counts; DROP TABLE IF EXISTS bench_plain, bench_by_time;"
            "INSERT INTO tenants (id, uuid, name, created_at) SELECT g, gen_random_uuid()::text, 'bench ' || g, now() "
            "FROM generate_series(1, 3) g ON CONFLICT DO NOTHING"
        )
        # The partitioned table: one partition per month (N/10 ids), made as the migration and ensure_partitions do.
        for name in [
            row["relname"]
            for row in await connection.fetch(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "WHERE i.inhparent = 'payload_metadata'::regclass AND c.relname <> 'payload_metadata_default'"
            )
        ]:
            await connection.execute(f"DROP TABLE {name}")
        width = records // 10
        await connection.execute(f"SELECT setval(pg_get_serial_sequence('payload_metadata', 'id'), {records})")
        for start in range(0, records + 2 * width, width):
            await connection.execute(
                f"CREATE TABLE payload_metadata_ids_{start} PARTITION OF payload_metadata "
                f"FOR VALUES FROM ({start}) TO ({start + width})"
            )
        await connection.execute(
            "CREATE TABLE bench_plain (LIKE payload_metadata INCLUDING DEFAULTS INCLUDING INDEXES)"
        )
        await connection.execute(
            "CREATE TABLE bench_by_time (LIKE payload_metadata INCLUDING DEFAULTS) PARTITION BY RANGE (created_at)"
        )
        for month in range(11):
            low, high = START + month * MONTH, START + (month + 1) * MONTH
            await connection.execute(
                f"CREATE TABLE bench_by_time_{month} PARTITION OF bench_by_time "
                f"FOR VALUES FROM ('{low.isoformat()}') TO ('{high.isoformat()}')"
            )
        await connection.execute("ALTER TABLE bench_by_time ADD PRIMARY KEY (id, created_at)")
        for index in ("tenant_id, id", "tenant_id, flow_run_id, id", "dropped, created_at"):
            await connection.execute(f"CREATE INDEX ON bench_by_time ({index})")
        for table in ("payload_metadata", "bench_plain", "bench_by_time"):
            started = time.perf_counter()
            await connection.execute(_fill(table, records))
            print(f"  {table}: {records} rows in {time.perf_counter() - started:.0f} s", flush=True)
        await connection.execute(
            "INSERT INTO payload_counts (tenant_id, total, generation) SELECT tenant_id, count(*), 1 "
            "FROM payload_metadata GROUP BY tenant_id"
        )
        for table in ("payload_metadata", "bench_plain", "bench_by_time"):
            await connection.execute(f"VACUUM ANALYZE {table}")
    finally:
        await connection.close()


async def _median_ms(connection: asyncpg.Connection, sql: str, arguments: list[tuple[Any, ...]]) -> float:
    statement = await connection.prepare(sql)
    times = []
    for values in arguments:
        started = time.perf_counter()
        await statement.fetch(*values)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


async def _partitions_read(connection: asyncpg.Connection, sql: str, values: tuple[Any, ...]) -> tuple[int, int]:
    """How many relations the query's plan scans and how many buffers it touches (independent of the load)."""
    plan = await connection.fetchval(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}", *values)
    nodes = [json.loads(plan)[0]["Plan"]]
    scanned = 0
    while nodes:
        node = nodes.pop()
        scanned += "Relation Name" in node
        nodes.extend(node.get("Plans", []))
    root = json.loads(plan)[0]["Plan"]
    return scanned, int(root.get("Shared Hit Blocks", 0)) + int(root.get("Shared Read Blocks", 0))


async def _key_choice(url: str, records: int, rounds: int = 5) -> list[str]:
    connection = await asyncpg.connect(driver_url(url))
    ids = [(1 + n % 3, 1 + (n * 7919) % records) for n in range(1000)]
    runs = [(1 + n % 3, (n * 104729) % (records // 50)) for n in range(200)]
    tables = ("bench_plain", "payload_metadata", "bench_by_time")
    lines = [
        "| query | unpartitioned | by id range | by created_at |",
        "|---|---|---|---|",
    ]
    try:
        queries = (
            ("lookup by id (S6)", "SELECT * FROM {t} WHERE tenant_id = $1 AND id = $2", ids),
            (
                "first list page (S1)",
                "SELECT id FROM {t} WHERE tenant_id = $1 ORDER BY id DESC LIMIT 100",
                [(1 + n % 3,) for n in range(200)],
            ),
            ("exact filtered total (S3)", "SELECT count(*) FROM {t} WHERE tenant_id = $1 AND flow_run_id = $2", runs),
        )
        for label, sql, arguments in queries:
            medians: dict[str, list[float]] = {table: [] for table in tables}
            for _ in range(rounds):  # tables alternate, so the machine's load falls on each alike
                for table in tables:
                    await _median_ms(connection, sql.format(t=table), arguments[:20])  # warm
                    medians[table].append(await _median_ms(connection, sql.format(t=table), arguments))
            cells = []
            for table in tables:
                # A record of the last months: the first month is gone from two tables after a pruning run.
                middle = arguments[len(arguments) // 2][:1] + ((records // 2 + 1,) if len(arguments[0]) == 2 else ())
                sample = middle if "id = $2" in sql else arguments[len(arguments) // 2]
                scanned, buffers = await _partitions_read(connection, sql.format(t=table), sample)
                cells.append(f"{statistics.median(medians[table]):.3f} ms ({scanned} scanned, {buffers} buffers)")
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
    finally:
        await connection.close()
    return lines


async def _lookups(url: str, table: str, records: int, stop: asyncio.Event) -> list[float]:
    connection = await asyncpg.connect(driver_url(url))
    statement = await connection.prepare(f"SELECT * FROM {table} WHERE tenant_id = $1 AND id = $2")
    times: list[float] = []
    n = 0
    try:
        while not stop.is_set():
            n += 1
            record = records // 2 + (n * 7919) % (records // 2)
            started = time.perf_counter()
            await statement.fetch(1 + record % 3, record)
            times.append((time.perf_counter() - started) * 1000)
            await asyncio.sleep(0.002)
    finally:
        await connection.close()
    return times


async def _wal(connection: asyncpg.Connection) -> str:
    return str(await connection.fetchval("SELECT pg_current_wal_lsn()::text"))


async def _batched_delete(url: str, cutoff: dt.datetime) -> int:
    connection = await asyncpg.connect(driver_url(url))
    deleted = 0
    try:
        while True:
            async with connection.transaction():
                rows = await connection.fetch(
                    "DELETE FROM bench_plain WHERE id = ANY(ARRAY(SELECT id FROM bench_plain WHERE dropped "
                    "AND created_at < $1 ORDER BY created_at, id LIMIT 500)) RETURNING tenant_id",
                    cutoff,
                )
                if not rows:
                    break
                for tenant_id in sorted({row["tenant_id"] for row in rows}):
                    count = sum(1 for row in rows if row["tenant_id"] == tenant_id)
                    await connection.execute(
                        "UPDATE payload_counts SET total = total - $2, generation = generation + 1 "
                        "WHERE tenant_id = $1",
                        tenant_id,
                        count,
                    )
                deleted += len(rows)
        await connection.execute("VACUUM bench_plain")
    finally:
        await connection.close()
    return deleted


async def _partition_drop(url: str, cutoff: dt.datetime) -> int:
    database = Database(url, pool_size=2)
    try:
        store = open_store(f"file://{ROOT / 'var' / 'bench' / 'partitions-store'}")
        return await partitions.drop_expired_partitions(database, store, cutoff)
    finally:
        await database.dispose()


async def _pruning(url: str, records: int) -> list[str]:
    cutoff = START + MONTH  # the first month (and partition) is wholly before it
    lines = [
        "| pruning one month | records | time | WAL written | concurrent lookup by id p50 / p99 / max |",
        "|---|---|---|---|---|",
    ]
    admin = await asyncpg.connect(driver_url(url))
    try:
        for label, table, job in (
            ("nothing (baseline)", "payload_metadata", None),
            ("partition drop", "payload_metadata", _partition_drop),
            ("batched delete + VACUUM", "bench_plain", _batched_delete),
        ):
            stop = asyncio.Event()
            lookups = asyncio.create_task(_lookups(url, table, records, stop))
            await asyncio.sleep(1)
            before = await _wal(admin)
            started = time.perf_counter()
            went = await job(url, cutoff) if job is not None else 0
            elapsed = time.perf_counter() - started
            wal = int(await admin.fetchval("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1::text::pg_lsn)", before))
            if job is None:
                await asyncio.sleep(3)
            await asyncio.sleep(0.5)
            stop.set()
            times = sorted(await lookups)
            p99 = times[int(len(times) * 0.99)]
            lines.append(
                f"| {label} | {went} | {elapsed:.2f} s | {wal / 2**20:.1f} MiB | "
                f"{statistics.median(times):.2f} / {p99:.2f} / {times[-1]:.2f} ms ({len(times)} lookups) |"
            )
    finally:
        await admin.close()
    return lines


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1/metadock_bench_partitions")
    parser.add_argument("--reuse", action="store_true", help="the tables of an earlier run: the key choice only")
    arguments = parser.parse_args()
    url, records = arguments.url, arguments.records

    await ensure_database(url, print)
    if not arguments.reuse:
        print(f"seeding {records} records three times", flush=True)
        await _prepare(url, records)
    key_lines = await _key_choice(url, records)
    print("\n".join(key_lines), flush=True)
    prune_lines = [] if arguments.reuse else await _pruning(url, records)
    print("\n".join(prune_lines), flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    report = RESULTS / f"{stamp}-partitions.md"
    report.write_text(
        f"# Partitioned payload table, {records} records\n\n"
        + "\n".join(key_lines)
        + "\n\n"
        + "\n".join(prune_lines)
        + "\n"
    )
    print(f"wrote {report}")


if __name__ == "__main__":
    asyncio.run(main())
