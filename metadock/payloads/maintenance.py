"""Operator jobs over every tenant: retention pruning and store/database consistency checks.

Each batch is its own transaction, committed before any bytes are removed, so interrupting a job at any point
leaves at worst orphaned bytes (found by ``fsck``), never a live record without bytes. Both jobs are safe to run
while the server serves and to rerun.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from metadock.kit.db import Database
from metadock.payloads.repository import PayloadMaintenanceRepository
from metadock.payloads.store import PayloadStore

BATCH = 500
# Bytes younger than this may belong to a capture whose record is about to be written: never call them orphans.
IN_FLIGHT_GRACE = dt.timedelta(minutes=15)
STALE_UPLOAD_AGE = dt.timedelta(hours=6)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def prune(database: Database, store: PayloadStore, *, older_than_days: int, batch_size: int = BATCH) -> int:
    """Drop (reason ``expired``) the payloads captured more than ``older_than_days`` ago; returns how many."""
    if older_than_days <= 0:
        return 0
    cutoff = _now() - dt.timedelta(days=older_than_days)
    pruned = 0
    while True:
        async with database.transaction() as connection:
            batch = await PayloadMaintenanceRepository(connection).drop_expired_batch(cutoff, batch_size, _now())
        if not batch:
            return pruned
        for row in batch:
            await store.delete(row["store_key"])
        pruned += len(batch)


async def recount_totals(database: Database) -> None:
    async with database.transaction() as connection:
        await PayloadMaintenanceRepository(connection).recount_totals()


@dataclass
class FsckReport:
    orphaned_keys: list[str] = field(default_factory=list)  # bytes without a live record
    missing_records: list[int] = field(default_factory=list)  # live records without bytes
    stale_uploads_removed: int = 0
    repaired: bool = False


async def fsck(
    database: Database, store: PayloadStore, *, repair: bool, grace: dt.timedelta = IN_FLIGHT_GRACE
) -> FsckReport:
    report = FsckReport(repaired=repair)
    started = _now()
    listed: set[str] = set()
    candidates: list[str] = []

    async def check(keys: list[str]) -> None:
        async with database.transaction() as connection:
            live = await PayloadMaintenanceRepository(connection).live_keys(keys)
        report.orphaned_keys.extend(key for key in keys if key not in live)

    async for key, modified in store.list_keys():
        listed.add(key)
        if modified < started - grace:
            candidates.append(key)
        if len(candidates) >= BATCH:
            await check(candidates)
            candidates = []
    if candidates:
        await check(candidates)

    after_id = 0
    while True:
        async with database.transaction() as connection:
            # Records younger than the listing may have bytes the listing did not see yet.
            rows = await PayloadMaintenanceRepository(connection).live_records_after(after_id, started - grace, BATCH)
        if not rows:
            break
        report.missing_records.extend(row["id"] for row in rows if row["store_key"] not in listed)
        after_id = rows[-1]["id"]

    if repair:
        for key in report.orphaned_keys:
            await store.delete(key)
        for start in range(0, len(report.missing_records), BATCH):
            async with database.transaction() as connection:
                await PayloadMaintenanceRepository(connection).mark_dropped(
                    report.missing_records[start : start + BATCH], "deleted", _now()
                )
        report.stale_uploads_removed = await store.remove_stale_uploads(older_than=STALE_UPLOAD_AGE)
        await recount_totals(database)
    return report
