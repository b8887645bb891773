"""Record retention on SQLite: prune 90% of N payload records and measure the time and the file's size before and
after (issue 14).

``python -m bench.record_retention [--records 1000000]``: a fresh database under ``var/bench/retention/`` (created
with this code's settings, so ``auto_vacuum=INCREMENTAL``), N records in one tenant, 90% of them captured 100 days
ago and already past byte retention (dropped, ``expired``: what record retention meets in service), the rest
today; then ``maintenance.prune_records(older_than_days=30)`` as ``metadock payloads prune`` runs it. Writes
``bench/results/<UTC time>-record-retention.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import shutil
import sqlite3
import time
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.engine import Connection as SyncConnection

from metadock import migrate
from metadock.kit.db import Database
from metadock.payloads import maintenance
from metadock.payloads.store import open_store
from metadock.payloads.table import payload_metadata
from metadock.tenants.service import TenantService
from metadock.tenants.table import tenants

ROOT = Path(__file__).resolve().parent.parent
DIRECTORY = ROOT / "var" / "bench" / "retention"
RESULTS = ROOT / "bench" / "results"
INSERT_BATCH = 20_000


def _rows(start: int, end: int, tenant_id: int, now: dt.datetime) -> list[dict[str, Any]]:
    old = now - dt.timedelta(days=100)
    rows = []
    for n in range(start, end):
        expired = n % 10 != 0
        created = old + dt.timedelta(seconds=n) if expired else now
        name = f"{n * 2654435761 % 2**128:032x}"  # spread over directories as generated keys are
        rows.append(
            {
                "tenant_id": tenant_id,
                "flow_run_id": n // 100,
                "flow_step_id": n % 10,
                "flow_version_id": 1,
                "flow_log_id": n,
                "store_key": f"{name[:2]}/{name[2:4]}/{name}",
                "size": 1024,
                "sha256": f"{n:064x}",
                "content_type": "application/json",
                "dropped": expired,
                "dropped_reason": "expired" if expired else None,
                "created_at": created,
                "updated_at": created,
                "stored_at": created,
            }
        )
    return rows


def _size(path: Path) -> int:
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path.stat().st_size


async def _run(records: int) -> str:
    shutil.rmtree(DIRECTORY, ignore_errors=True)
    DIRECTORY.mkdir(parents=True)
    path = DIRECTORY / "metadock.db"
    database = Database(f"sqlite:///{path}", pool_size=2)
    store = open_store(f"file://{DIRECTORY / 'payloads'}")
    try:
        await migrate.upgrade(database)
        async with database.transaction() as connection:
            tenant = await TenantService(connection).create_tenant("retention")
            tenant_id = await connection.scalar(select(tenants.c.id).where(tenants.c.uuid == tenant.uuid))
        now = dt.datetime.now(dt.UTC)
        seeding = time.perf_counter()
        for start in range(0, records, INSERT_BATCH):
            rows = _rows(start, min(records, start + INSERT_BATCH), tenant_id, now)

            def work(connection: SyncConnection, rows: list[dict[str, Any]] = rows) -> None:
                connection.execute(insert(payload_metadata), rows)

            await database.run_sync(work)
        await maintenance.recount_totals(database)
        seeded = time.perf_counter() - seeding
        before = _size(path)
        pruning = time.perf_counter()
        deleted = await maintenance.prune_records(database, store, older_than_days=30)
        pruned = time.perf_counter() - pruning
        after = _size(path)
    finally:
        await database.dispose()
    with sqlite3.connect(path) as connection:
        left = connection.execute("SELECT count(*) FROM payload_metadata").fetchone()[0]
        total = connection.execute("SELECT total FROM payload_counts").fetchone()[0]
    mib = 1024 * 1024
    return (
        f"# Record retention on SQLite ({dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC)\n\n"
        f"- records: {records:,} (seeded in {seeded:.1f} s), 90% past a 30-day record retention\n"
        f"- `prune_records(older_than_days=30)`: {deleted:,} deleted in {pruned:.1f} s "
        f"({deleted / pruned:,.0f} records/s, batches of {maintenance.BATCH})\n"
        f"- file before: {before / mib:.1f} MiB, after: {after / mib:.1f} MiB ({after / before:.0%})\n"
        f"- rows left: {left:,}; the tenant's total: {total:,}\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    report = asyncio.run(_run(parser.parse_args().records))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}-record-retention.md").write_text(report)
    print(report)


if __name__ == "__main__":
    main()
