"""PostgreSQL's partitioned ``payload_metadata``: partitions made ahead of need, and whole partitions dropped by
record retention (README, "Partitioned payload table"). Everything here does nothing on SQLite, or on a PostgreSQL
table that is not partitioned.

Partitions hold ranges of ids, and ids follow time (the sequence hands them out in capture order), so a partition
holds one stretch of time. ``ensure_partitions`` keeps ``ahead`` empty ranges of ``width`` ids made above the last id
handed out; a capture whose id no partition covers lands in the DEFAULT partition (it never fails), and the next
``ensure_partitions`` moves such rows into the partition it makes for them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError

from metadock.kit.db import Connection, Database
from metadock.payloads.partition_repository import Partition, PartitionRepository
from metadock.payloads.search_repository import remove_search_between
from metadock.payloads.store import PayloadStore
from metadock.payloads.tag_repository import remove_tags_between

T = TypeVar("T")
KEY_BATCH = 1000
LOCK_ATTEMPTS = 5
_LOCK_NOT_AVAILABLE = "55P03"


# Another ``ensure_partitions`` (a ``payloads prune`` beside ``serve``'s own round) made that partition first: the
# table name is taken, or the range is now covered.
_MADE_BY_ANOTHER = frozenset({"42P07", "42P17"})


def _sqlstate(error: BaseException) -> str | None:
    seen: BaseException | None = error
    while seen is not None:
        if state := getattr(seen, "sqlstate", None) or getattr(seen, "pgcode", None):
            return str(state)
        seen = getattr(seen, "orig", None) or seen.__cause__
    return None


def _lock_timed_out(error: BaseException) -> bool:
    return _sqlstate(error) == _LOCK_NOT_AVAILABLE


async def _with_lock_retries(database: Database, work: Callable[[Connection], Awaitable[T]]) -> T:
    """``work`` in a transaction, again after a pause when it gave up waiting for a lock (its lock timeout keeps a
    queue of requests from forming behind it while a long reader holds the table)."""
    for attempt in range(LOCK_ATTEMPTS):
        try:
            async with database.transaction() as connection:
                return await work(connection)
        except DBAPIError as error:
            if not _lock_timed_out(error) or attempt == LOCK_ATTEMPTS - 1:
                raise
        await asyncio.sleep(0.5 * (attempt + 1))
    raise AssertionError("unreachable")  # pragma: no cover


async def _layout(database: Database) -> tuple[list[Partition], bool] | None:
    if database.dialect_name != "postgresql":
        return None
    async with database.transaction() as connection:
        repository = PartitionRepository(connection)
        if not await repository.is_partitioned():
            return None
        return await repository.partitions()


def _uncovered(first_id: int, end_id: int, partitions: Iterable[Partition]) -> list[tuple[int, int]]:
    """The parts of ``[first_id, end_id)`` no partition covers (partitions made with another width may overlap it)."""
    pieces = [(first_id, end_id)]
    for partition in partitions:
        pieces = [
            piece
            for start, end in pieces
            for piece in ((start, min(end, partition.first_id)), (max(start, partition.end_id), end))
            if piece[0] < piece[1]
        ]
    return pieces


async def ensure_partitions(database: Database, *, width: int, ahead: int, through_id: int = 0) -> int:
    """Make the partitions for the ``ahead`` ranges of ``width`` ids above the last id handed out (and the one it
    is in; with ``through_id``, every range up to that id first: a bulk load), and for any rows waiting in the
    DEFAULT partition; returns how many partitions were made."""
    layout = await _layout(database)
    if layout is None:
        return 0
    partitions, has_default = layout
    async with database.transaction() as connection:
        repository = PartitionRepository(connection)
        position = await repository.last_id_handed_out()
        stranded = await repository.default_id_blocks(width) if has_default else []
    current = position // width * width
    top = max(position, through_id) // width * width
    wanted = sorted({*stranded, *range(current, top + (ahead + 1) * width, width)})
    made = 0
    for start in wanted:
        for first_id, end_id in _uncovered(start, start + width, partitions):

            async def create(connection: Connection, first_id: int = first_id, end_id: int = end_id) -> int:
                return await PartitionRepository(connection).create(first_id, end_id)

            try:
                await _with_lock_retries(database, create)
            except DBAPIError as error:
                if _sqlstate(error) not in _MADE_BY_ANOTHER:
                    raise
                continue
            partitions.append(Partition("", first_id, end_id))
            made += 1
    return made


async def drop_expired_partitions(database: Database, store: PayloadStore, cutoff: dt.datetime) -> int:
    """Drop, oldest first, the partitions whose ids have all been handed out and whose records are all dropped and
    captured before ``cutoff``, removing their expired bytes (again) first; returns how many records went.

    Stops at the first partition that must stay: ids follow time, so the later ones are newer. Records of the
    boundary partition are left to the caller's batched delete."""
    layout = await _layout(database)
    if layout is None:
        return 0
    async with database.transaction() as connection:
        position = await PartitionRepository(connection).last_id_handed_out()
    deleted = 0
    for partition in layout[0]:
        if partition.end_id > position:
            break  # ids of it may still be handed out
        async with database.transaction() as connection:
            newest, live = await PartitionRepository(connection).capture_span(partition)
        if live or (newest is not None and newest >= cutoff):
            break
        # The bytes go first: the rows are the only record of the keys.
        after_id = 0
        while True:
            async with database.transaction() as connection:
                rows = await PartitionRepository(connection).expired_keys(partition, after_id, KEY_BATCH)
            if not rows:
                break
            await store.delete_many([row["store_key"] for row in rows])
            after_id = rows[-1]["id"]
        # Then their tags (their own table, which a drop does not touch), in short transactions: none can be added
        # meanwhile, since every record of the partition is dropped and past the cutoff.
        while True:
            async with database.transaction() as connection:
                if not await remove_tags_between(connection, partition.first_id, partition.end_id, KEY_BATCH):
                    break
        # And their content search entries (also their own table; expiry took most of them already).
        while True:
            async with database.transaction() as connection:
                if not await remove_search_between(connection, partition.first_id, partition.end_id, KEY_BATCH):
                    break

        async def drop(connection: Connection, partition: Partition = partition) -> int | None:
            return await PartitionRepository(connection).drop_if_expired(partition, cutoff)

        went = await _with_lock_retries(database, drop)
        if went is None:
            break
        deleted += went
    return deleted


def split_by_partition(record_ids: Iterable[int], partitions: list[Partition]) -> list[list[int]]:
    """``record_ids`` grouped by the partition each is in (ids no partition covers together: the DEFAULT one), so
    that each delete touches a single partition."""
    groups: dict[int, list[int]] = {}
    for record_id in record_ids:
        home = next((p.first_id for p in partitions if p.first_id <= record_id < p.end_id), -1)
        groups.setdefault(home, []).append(record_id)
    return [groups[key] for key in sorted(groups)]


async def partition_layout(database: Database) -> list[Partition] | None:
    """The range partitions (None when the table is not partitioned): for ``split_by_partition``."""
    layout = await _layout(database)
    return None if layout is None else layout[0]
