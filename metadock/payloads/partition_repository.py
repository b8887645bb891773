"""All SQL about the partitions of ``payload_metadata`` (PostgreSQL only; migration 0011 made the table partitioned).

The catalog is the one record of which partitions exist and which ids each holds: a bookkeeping table could
disagree with it (after a ``TRUNCATE``, a restore, an operator's DDL), the catalog cannot. A partition's capture
times are read when needed, as index probes on ``(dropped, created_at)``: microseconds per partition.

Partition names are made here from integers only (``payload_metadata_ids_<first id>``) and read back from the
catalog only when they match that shape, so no text from anywhere else ever reaches a statement.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from sqlalchemy import TextClause, text

from metadock.kit.db import Connection
from metadock.payloads.repository import PayloadMaintenanceRepository

TABLE = "payload_metadata"
DEFAULT = f"{TABLE}_default"
_NAME = re.compile(rf"^{TABLE}_ids_\d+$")
_BOUND = re.compile(r"^FOR VALUES FROM \('?(\d+)'?\) TO \('?(\d+)'?\)$")
# How long a partition step waits for a lock before giving up (and retrying later): a lock request queued behind a
# long reader makes every later request queue behind it, so the wait must stay short.
_LOCK_TIMEOUT = text("SET LOCAL lock_timeout = '2s'")
_MAKER_LOCK = text("SELECT pg_advisory_xact_lock(hashtext('metadock payload_metadata partitions'))")


@dataclass(frozen=True)
class Partition:
    name: str
    first_id: int  # inclusive
    end_id: int  # exclusive


def partition_name(first_id: int) -> str:
    return f"{TABLE}_ids_{int(first_id)}"


_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")


def _sql(template: str, **names: object) -> TextClause:
    """``template`` with ``{table}``, ``{default}`` and the given names and integers put in: each is made here (never
    from a request) and checked to be a plain identifier or an integer, so that nothing else can be spliced in."""
    values = {"table": TABLE, "default": DEFAULT, **names}
    for value in values.values():
        if not (isinstance(value, int) or (isinstance(value, str) and _IDENTIFIER.match(value))):
            raise ValueError("not an identifier")
    return text(template.format(**values))


class PartitionRepository:
    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    async def _rows(self, statement: TextClause, parameters: dict[str, Any] | None = None) -> list[Any]:
        return await self.connection.fetch_all(statement, parameters)

    async def is_partitioned(self) -> bool:
        if self.connection.dialect_name != "postgresql":
            return False
        sql = _sql("SELECT relkind = 'p' FROM pg_class WHERE oid = to_regclass('{table}')")
        return bool(await self.connection.scalar(sql))

    async def partitions(self) -> tuple[list[Partition], bool]:
        """The range partitions in id order, and whether the DEFAULT partition exists."""
        rows = await self._rows(
            _sql(
                "SELECT c.relname AS name, pg_get_expr(c.relpartbound, c.oid) AS bound FROM pg_inherits i "
                "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = '{table}'::regclass"
            )
        )
        ranges = []
        has_default = False
        for row in rows:
            if row["name"] == DEFAULT and row["bound"] == "DEFAULT":
                has_default = True
            elif _NAME.match(row["name"]) and (bound := _BOUND.match(row["bound"])):
                ranges.append(Partition(row["name"], int(bound[1]), int(bound[2])))
        return sorted(ranges, key=lambda partition: partition.first_id), has_default

    async def last_id_handed_out(self) -> int:
        """The id sequence's position (ids are drawn outside transactions: no later capture gets a smaller one)."""
        sql = _sql(
            "SELECT coalesce(s.last_value, 0) FROM pg_sequences s WHERE "
            "format('%I.%I', s.schemaname, s.sequencename)::regclass = "
            "pg_get_serial_sequence('{table}', 'id')::regclass"
        )
        return int(await self.connection.scalar(sql) or 0)

    async def default_id_blocks(self, width: int) -> list[int]:
        """The first ids of the ``width``-aligned ranges that rows waiting in the DEFAULT partition belong to."""
        rows = await self._rows(_sql("SELECT DISTINCT id / :width * :width AS start FROM {default}"), {"width": width})
        return sorted(int(row["start"]) for row in rows)

    async def create(self, first_id: int, end_id: int) -> int:
        """Make the partition for ids ``[first_id, end_id)``, moving in any rows of that range the DEFAULT partition
        holds, in one transaction (readers see them in one place or the other). Returns how many rows moved.

        Made as a table of its own and attached, not ``CREATE TABLE … PARTITION OF``: attaching takes only a SHARE
        UPDATE EXCLUSIVE lock on ``payload_metadata`` (captures and reads go on), where ``PARTITION OF`` takes an
        ACCESS EXCLUSIVE one. PostgreSQL makes the partition's indexes, primary key and foreign key on attach."""
        name = partition_name(first_id)
        bounds = {"first": int(first_id), "end": int(end_id)}
        await self.connection.execute(_LOCK_TIMEOUT)
        # One maker at a time (a ``payloads prune`` beside ``serve``'s round): the second then finds the name taken.
        await self.connection.execute(_MAKER_LOCK)
        await self.connection.execute(_sql("CREATE TABLE {name} (LIKE {table} INCLUDING DEFAULTS)", name=name))
        moved = await self.connection.write(
            _sql(
                "WITH moved AS (DELETE FROM {default} WHERE id >= :first AND id < :end RETURNING *) "
                "INSERT INTO {name} SELECT * FROM moved",
                name=name,
            ),
            bounds,
        )
        attach = "ALTER TABLE {table} ATTACH PARTITION {name} FOR VALUES FROM ({first}) TO ({end})"
        await self.connection.execute(_sql(attach, name=name, **bounds))
        return moved

    async def capture_span(self, partition: Partition) -> tuple[dt.datetime | None, bool]:
        """The newest capture time in the partition (None when it is empty), and whether it holds a live record."""
        name = partition_name(partition.first_id)
        row = await self._rows(
            _sql(
                "SELECT greatest((SELECT max(created_at) FROM {name} WHERE dropped), "
                "(SELECT max(created_at) FROM {name} WHERE NOT dropped)) AS newest, "
                "EXISTS (SELECT 1 FROM {name} WHERE NOT dropped) AS live",
                name=name,
            )
        )
        return row[0]["newest"], bool(row[0]["live"])

    async def expired_keys(self, partition: Partition, after_id: int, limit: int) -> list[Any]:
        """Ids and store keys of records whose bytes retention removed, in id order: removed again before the
        partition goes (an interrupted byte prune may have left some)."""
        return await self._rows(
            _sql(
                "SELECT id, store_key FROM {name} WHERE dropped_reason = 'expired' AND id > :after "
                "ORDER BY id LIMIT :limit",
                name=partition_name(partition.first_id),
            ),
            {"after": after_id, "limit": limit},
        )

    async def drop_if_expired(self, partition: Partition, cutoff: dt.datetime) -> int | None:
        """Drop the partition if every record in it is dropped and captured before ``cutoff``, taking its records
        off their tenants' totals (raising their generations) in this same transaction. Returns how many records
        went, or None if the partition must stay.

        ``payload_metadata`` is locked first (ACCESS EXCLUSIVE, as ``DROP`` needs anyway): while the rows are
        counted no one can change them, and there is a single lock order (table, then totals' rows) as in every
        capture and delete, so no deadlock. Requests on payloads wait for the count (one index-only scan of the
        partition; README, "Partitioned payload table")."""
        name = partition_name(partition.first_id)
        await self.connection.execute(_LOCK_TIMEOUT)
        await self.connection.execute(_sql("LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"))
        newest, live = await self.capture_span(partition)
        if live or (newest is not None and newest >= cutoff):
            return None
        rows = await self._rows(_sql("SELECT tenant_id, count(*) AS records FROM {name} GROUP BY tenant_id", name=name))
        removed = Counter({int(row["tenant_id"]): int(row["records"]) for row in rows})
        await PayloadMaintenanceRepository(self.connection).take_off_totals(removed)
        await self.connection.execute(_sql("DROP TABLE {name}", name=name))
        return sum(removed.values())
