"""Operator jobs over every tenant: retention pruning and store/database consistency checks.

Each batch is its own transaction, committed before any bytes are removed, so interrupting a job at any point
leaves at worst orphaned bytes (found by ``fsck``), never a live record without bytes. Record retention deletes only
records already dropped, after removing their bytes again (an interrupted byte prune may have left some), so its
rerun finishes what an interrupted run began. Every job is safe to run while the server serves and to rerun.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

from metadock.kit.db import Database
from metadock.payloads import partitions
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
    return await _drop_captured_before(database, store, _now() - dt.timedelta(days=older_than_days), batch_size)


async def _drop_captured_before(database: Database, store: PayloadStore, cutoff: dt.datetime, batch_size: int) -> int:
    pruned = 0
    while True:
        async with database.transaction() as connection:
            batch = await PayloadMaintenanceRepository(connection).drop_expired_batch(cutoff, batch_size, _now())
        if not batch:
            # An empty batch is not the end when every row it chose was deleted or dropped by someone else while
            # the statement ran (PostgreSQL's UPDATE re-checks them, and skips them): ask again.
            async with database.transaction() as connection:
                if not await PayloadMaintenanceRepository(connection).any_live_before(cutoff):
                    return pruned
            continue
        await store.delete_many([row["store_key"] for row in batch])
        pruned += len(batch)


async def prune_records(
    database: Database,
    store: PayloadStore,
    *,
    older_than_days: int,
    started: dt.datetime | None = None,
    batch_size: int = BATCH,
    after_batch: Callable[[int], None] | None = None,
) -> int:
    """Delete the records captured more than ``older_than_days`` before ``started`` (default: now; ``0`` days: every
    record captured before it), with their bytes; returns how many records went.

    Live ones are dropped first, their bytes removed, as byte retention does; then on PostgreSQL whole partitions
    past the cutoff are dropped (``partitions.drop_expired_partitions``), and the remaining dropped records deleted a
    batch per transaction (one partition per delete), each tenant's total lowered (and its generation raised) in
    the same transaction.
    ``after_batch`` is told the running count after each batch (progress; an exception there stops the job as a
    kill would, leaving what ran committed)."""
    if older_than_days < 0:
        raise ValueError("older_than_days must not be negative")
    cutoff = (started or _now()) - dt.timedelta(days=older_than_days)
    await _drop_captured_before(database, store, cutoff, batch_size)
    # PostgreSQL: whole partitions past the cutoff go at once; only the boundary one's records are deleted below.
    deleted = await partitions.drop_expired_partitions(database, store, cutoff)
    while True:
        async with database.transaction() as connection:
            batch = await PayloadMaintenanceRepository(connection).dropped_before(cutoff, batch_size)
        if not batch:
            break
        # Byte retention marks records before it removes their bytes: if it was interrupted in between, those
        # bytes are still there, and once the record is gone nothing would ever name them again (removing a
        # missing object succeeds). Too large or vanished payloads never had bytes.
        await store.delete_many([row["store_key"] for row in batch if row["dropped_reason"] == "expired"])
        ids = [row["id"] for row in batch]
        layout = await partitions.partition_layout(database)
        # A delete never spans partitions (each one's transaction lowers the totals of the rows it removed).
        for group in [ids] if layout is None else partitions.split_by_partition(ids, layout):
            async with database.transaction() as connection:
                deleted += await PayloadMaintenanceRepository(connection).delete_dropped(group)
        if after_batch is not None:
            after_batch(deleted)
    await database.reclaim_free_pages()
    return deleted


async def recount_totals(database: Database) -> None:
    async with database.transaction() as connection:
        await PayloadMaintenanceRepository(connection).recount_totals()


@dataclass
class FsckReport:
    orphaned_keys: list[str] = field(default_factory=list)  # bytes without a live record
    missing_records: list[int] = field(default_factory=list)  # live records without bytes
    # Those of missing_records past their retention: a lifecycle rule's work, marked ``expired`` (others ``deleted``).
    expired_records: set[int] = field(default_factory=set)
    stale_uploads_removed: int = 0
    repaired: bool = False

    def reason(self, record_id: int) -> str:
        return "expired" if record_id in self.expired_records else "deleted"


async def fsck(
    database: Database,
    store: PayloadStore,
    *,
    repair: bool,
    grace: dt.timedelta = IN_FLIGHT_GRACE,
    retention_days: int = 0,
) -> FsckReport:
    """Compare the store's listing with the live records. A record whose bytes are gone is ``expired`` when it is
    past its ``expires_at`` or older than ``retention_days`` (an S3 lifecycle rule expires bytes by age, at or after
    the retention), else ``deleted`` (removed behind Metadock's back)."""
    report = FsckReport(repaired=repair)
    started = _now()
    # With no retention, "older than the retention" is never true.
    retained_since = (
        started - dt.timedelta(days=retention_days) if retention_days > 0 else dt.datetime.min.replace(tzinfo=dt.UTC)
    )
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
            rows = await PayloadMaintenanceRepository(connection).live_records_after(
                after_id, started - grace, BATCH, now=started, retained_since=retained_since
            )
        if not rows:
            break
        for row in rows:
            if row["store_key"] not in listed:
                report.missing_records.append(row["id"])
                if row["expired"]:
                    report.expired_records.add(row["id"])
        after_id = rows[-1]["id"]

    if repair:
        for key in report.orphaned_keys:
            await store.delete(key)
        for reason in ("expired", "deleted"):
            ids = [record_id for record_id in report.missing_records if report.reason(record_id) == reason]
            for start in range(0, len(ids), BATCH):
                async with database.transaction() as connection:
                    await PayloadMaintenanceRepository(connection).mark_dropped(
                        ids[start : start + BATCH], reason, _now()
                    )
        report.stale_uploads_removed = await store.remove_stale_uploads(older_than=STALE_UPLOAD_AGE)
        await recount_totals(database)
    return report
