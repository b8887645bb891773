"""All SQL about payload metadata records. Tenant-scoped, except the maintenance queries that prune and fsck use."""

from __future__ import annotations

import datetime as dt
import secrets
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

from sqlalchemy import (
    BigInteger,
    Select,
    String,
    bindparam,
    case,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    type_coerce,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.elements import ColumnElement

from metadock.kit.db import Connection
from metadock.kit.export import ScanBatch
from metadock.kit.list_statements import KeyScan, ListStatements
from metadock.kit.query import Filter, ListQuery
from metadock.kit.read_ahead import ScopedRead
from metadock.kit.scan import ScannedRepository
from metadock.kit.timestamps import UTCDateTime, UTCIsoText
from metadock.payloads.search import SEARCH_FILTER, fts5_query
from metadock.payloads.search_repository import remove_search_of, search_clause
from metadock.payloads.table import payload_counts, payload_metadata
from metadock.payloads.tag_repository import TagRepository, remove_tags_of, tag_clause, tag_key_scan
from metadock.payloads.tags import TAG_FILTER_PREFIX
from metadock.webhooks import outbox

_c = payload_metadata.c


def _read(column: Any) -> Any:
    """The column as every read of a record gives it: timestamps as the API prints them, ``…T…Z`` text (parsing
    and formatting a datetime again, twice per row of a 100-row page, cost a third of the page's time)."""
    return type_coerce(column, UTCIsoText()).label(column.key) if isinstance(column.type, UTCDateTime) else column


_ROW = tuple(_read(column) for column in _c)
# What a list (and a capture's answer) shows of each record: reading the other columns would cost as much as the query.
_SHOWN = tuple(
    _read(column)
    for column in (
        _c.id,
        _c.created_at,
        _c.updated_at,
        _c.flow_version_id,
        _c.flow_step_id,
        _c.flow_run_id,
        _c.store_key,
        _c.size,
        _c.dropped,
        _c.flow_log_id,
    )
)

_TENANT_TOTAL = select(payload_counts.c.total).where(payload_counts.c.tenant_id == bindparam("tenant_id"))
# The same, in a list's statement (kit/repository.py _fused_total), on its tenant parameter.
_TENANT_TOTAL_OF_LIST = select(payload_counts.c.total).where(payload_counts.c.tenant_id == bindparam("scope_tenant_id"))
_TENANT_TOTAL_AND_GENERATION = select(payload_counts.c.total, payload_counts.c.generation).where(
    payload_counts.c.tenant_id == bindparam("tenant_id")
)

# Built once: a capture runs both, and building a 16-column insert costs more than executing it.
_INSERT = insert(payload_metadata).returning(*_SHOWN)


def _add_to_total_statement(dialect: Any) -> Any:
    delta = bindparam("delta", type_=BigInteger())
    # A first row starts at the delta, or at 0 for a removal (which cannot precede an insert, but need not fail).
    # The generation starts at random, so it names this tenant's history in this database: a tenant recreated with
    # the same id (a restore, a truncated and reseeded database, the next test's database) never matches old anchors.
    statement = dialect.insert(payload_counts).values(
        tenant_id=bindparam("tenant_id"),
        total=case((delta > 0, delta), else_=0),
        generation=bindparam("first_generation", type_=BigInteger()),
    )
    # A removal raises the tenant's generation, which retires every offset anchor counted before it (kit/keyset.py).
    return statement.on_conflict_do_update(
        index_elements=[payload_counts.c.tenant_id],
        set_={
            "total": payload_counts.c.total + delta,
            "generation": payload_counts.c.generation + case((delta < 0, 1), else_=0),
        },
    )


def first_generation() -> int:
    return secrets.randbits(62)


_ADD_TO_TOTAL = {"sqlite": _add_to_total_statement(sqlite), "postgresql": _add_to_total_statement(postgresql)}


def _insert_counted_statement() -> Any:
    """PostgreSQL: the tenant's total and then the record in one statement (one round trip instead of two). The
    record's row is selected from the upsert's output, so the upsert (and its row lock, held to the commit) runs
    before the record's id is drawn, as in ``insert``; sub-statements of a ``WITH`` that do not feed each other run
    in no set order. The upsert takes the same row lock as on its own, so concurrent captures still add up exactly."""
    counted = _add_to_total_statement(postgresql).returning(payload_counts.c.tenant_id).cte("counted")
    names = [column.key for column in _c if column.key != "id"]
    # A column left out of the parameters is NULL, as in ``_INSERT`` (every NOT NULL column is always given).
    row = select(*(bindparam(name, None, type_=_c[name].type, required=False) for name in names)).select_from(counted)
    inserted = insert(payload_metadata).from_select(names, row).returning(*_SHOWN).cte("inserted")
    # The record's event, queued from the inserted row in the same statement (webhooks/outbox.py): no extra round
    # trip, and no row at all for a tenant without a subscription to it.
    queued = outbox.queue_statement(bindparam("tenant_id"), inserted.c.id, inserted).cte("queued")
    return select(*inserted.c).add_cte(queued)


# SQLite has no data-modifying WITH: there the insert and the upsert stay two statements (in-process, no round trip).
_INSERT_COUNTED = _insert_counted_statement()


class PayloadRepository(ScannedRepository):
    table = payload_metadata
    columns: ClassVar[dict[str, Any]] = {
        "id": _c.id,
        "flow_run_id": _c.flow_run_id,
        "flow_step_id": _c.flow_step_id,
        "flow_log_id": _c.flow_log_id,
        "created_at": _c.created_at,
    }
    # Deep pages in id order start from offset anchors (kit/keyset.py): these filters never change once a record
    # is written, removals raise the generation, and a tenant's records commit in id order (see insert).
    offset_generation = (
        select(payload_counts.c.generation)
        .where(payload_counts.c.tenant_id == bindparam("scope_tenant_id"))
        .scalar_subquery()
    )
    # A tag is written in its record's transaction and removed only with it, so tag filters qualify too. A search
    # does not: its entry goes when the record's bytes do (expiry), which raises no generation (OFFSET path, exact).
    keyset_fields = frozenset({"id", "flow_run_id", "flow_step_id", "flow_log_id"})

    def _shape_field(self, field: str) -> str:
        if field == SEARCH_FILTER:  # its SQL is the database's own (FTS5 or tsvector): part of the shape
            return f"{SEARCH_FILTER}@{self.connection.dialect_name}"
        return TAG_FILTER_PREFIX if field.startswith(TAG_FILTER_PREFIX) else field

    def _keyset_field(self, field: str) -> bool:
        return field.startswith(TAG_FILTER_PREFIX) or field in self.keyset_fields

    def _filter_clause(self, index: int, item: Filter) -> Any:
        if item.field == SEARCH_FILTER:
            return search_clause(self.connection.dialect_name, _c.id, bindparam(f"filter_{index}_0", type_=String()))
        if not item.field.startswith(TAG_FILTER_PREFIX):
            return super()._filter_clause(index, item)
        return tag_clause(_c.id, *self._tag_parameters(index, item))

    @staticmethod
    def _tag_parameters(index: int, item: Filter) -> tuple[Any, list[Any]]:
        # The tag's name is a bound parameter like its values: one statement serves every tag name.
        values = [bindparam(f"filter_{index}_{n}", type_=String()) for n in range(len(item.values))]
        return bindparam(f"filter_{index}_name", type_=String()), values

    def _key_scan(self, query: ListQuery) -> KeyScan | None:
        """Tags alone: the ids come from the tags' key (tag_repository.tag_key_scan), in either id order."""
        if not query.filters or not all(item.field.startswith(TAG_FILTER_PREFIX) for item in query.filters):
            return None
        return tag_key_scan([self._tag_parameters(index, item) for index, item in enumerate(query.filters)])

    def _filter_values(self, query: ListQuery) -> dict[str, Any]:
        values = super()._filter_values(query)
        for index, item in enumerate(query.filters):
            if item.field.startswith(TAG_FILTER_PREFIX):
                values[f"filter_{index}_name"] = item.field.removeprefix(TAG_FILTER_PREFIX)
            elif item.field == SEARCH_FILTER and self.connection.dialect_name == "sqlite":
                # The user's words, each quoted: FTS5 syntax in a client's text is never interpreted.
                values[f"filter_{index}_0"] = fts5_query(str(item.values[0]))
        return values

    async def list_page(self, query: ListQuery) -> tuple[list[Any], int]:
        return await self._page(query, _SHOWN)

    async def get(self, record_id: int) -> Any | None:
        return await self._one_by("id", record_id, _ROW)

    @classmethod
    def read_of_get(cls, record_id: int) -> ScopedRead:
        """:meth:`get` as a read authentication may fetch ahead."""
        return cls._read_one_by("id", record_id, _ROW)

    async def export_batch(
        self, query: ListQuery, *, after: tuple[Any, ...] | None, through: int, limit: int
    ) -> ScanBatch:
        """The next batch of an export: what a list shows of each record, in the list's order (kit/scan.py)."""
        return await self._scan_batch(query, _SHOWN, after=after, through=through, limit=limit)

    async def run_last_id(self, run_id: int) -> int | None:
        """The newest record of a run (None when this tenant has none): a run's archive covers ids up to it."""
        last = await self.connection.scalar(self._select(func.max(_c.id)).where(_c.flow_run_id == run_id))
        return None if last is None else int(last)

    async def run_page(self, run_id: int, *, after_id: int, through_id: int, limit: int) -> list[Any]:
        """Up to ``limit`` whole records of a run with ids in ``(after_id, through_id]``, in id order: a keyset walk
        over the ``(tenant_id, flow_run_id, id)`` index, so the thousandth page costs what the first does."""
        statement = (
            self._select(*_ROW)
            .where(_c.flow_run_id == run_id, _c.id > after_id, _c.id <= through_id)
            .order_by(_c.id)
            .limit(limit)
        )
        return list(await self.connection.fetch_all(statement))

    async def insert(self, values: dict[str, Any]) -> Any:
        # The tenant is the caller's, never one from ``values``.
        parameters = {**values, "tenant_id": self.tenant_id}
        # The total first: its row lock (held to the commit) is taken before the id is drawn, so a tenant's records
        # commit in id order, and a row can never appear below an offset anchor (on PostgreSQL the sequence hands out
        # ids outside transactions, and two captures drawing ids 10 then 11 could otherwise commit 11 first).
        event_type, data = outbox.payload_event(values)
        event = outbox.parameters(event_type, data, values["created_at"])
        if self.connection.dialect_name == "postgresql":
            counted = {**parameters, **event, "delta": 1, "first_generation": first_generation()}
            return await self.connection.fetch_one(_INSERT_COUNTED, counted)
        await self._add_to_total(1)
        row = await self.connection.fetch_one(_INSERT, parameters)
        assert row is not None
        await outbox.queue(self.connection, self.tenant_id, row["id"], event)
        return row

    async def delete(self, record_id: int) -> Any | None:
        statement = self._delete().where(_c.id == record_id).returning(*_c)  # the whole record: its event shows it
        row = await self.connection.fetch_one(statement)
        if row is not None:
            await self._add_to_total(-1)
            await TagRepository(self.connection, self.tenant_id).remove(record_id)
            await remove_search_of(self.connection, [record_id])
        return row

    async def tags(self, record_id: int) -> dict[str, str]:
        return await TagRepository(self.connection, self.tenant_id).of(record_id)

    async def _add_to_total(self, delta: int) -> None:
        statement = _ADD_TO_TOTAL[self.connection.dialect_name]
        parameters = {"tenant_id": self.tenant_id, "delta": delta, "first_generation": first_generation()}
        await self.connection.write(statement, parameters)

    def _fused_total(self, query: ListQuery, count: Select[Any]) -> ColumnElement[Any]:
        if query.filters:
            return super()._fused_total(query, count)
        return func.coalesce(_TENANT_TOTAL_OF_LIST.scalar_subquery(), 0)

    async def _count(self, query: ListQuery, statements: ListStatements, parameters: dict[str, Any]) -> int:
        if query.filters:
            return await super()._count(query, statements, parameters)
        return int(await self.connection.scalar(_TENANT_TOTAL, {"tenant_id": self.tenant_id}) or 0)

    async def _count_and_generation(
        self, query: ListQuery, statements: ListStatements, parameters: dict[str, Any]
    ) -> tuple[int, int | None]:
        if query.filters:
            return await super()._count_and_generation(query, statements, parameters)
        row = await self.connection.fetch_one(_TENANT_TOTAL_AND_GENERATION, {"tenant_id": self.tenant_id})
        return (int(row["total"]), int(row["generation"])) if row is not None else (0, None)


async def _dropped_events(
    connection: Connection, rows: Iterable[Any], now: dt.datetime, *, reason: str | None = None
) -> None:
    """``payload.dropped`` for each record a maintenance statement changed, in its transaction (webhooks/outbox.py);
    ``reason`` overrides the row's (a record deleted by retention: ``pruned``)."""
    events = []
    for row in rows:
        values = {**row, "updated_at": now, "dropped_reason": reason or row["dropped_reason"]}
        events.append(
            outbox.Event(row["tenant_id"], outbox.PAYLOAD_DROPPED, outbox.payload_event(values, row["id"])[1], now)
        )
    await outbox.emit_many(connection, events)


class PayloadMaintenanceRepository:
    """Across tenants, for the operator's ``payloads prune`` and ``payloads fsck``; never reachable over HTTP."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    async def drop_expired_batch(self, cutoff: dt.datetime, limit: int, now: dt.datetime) -> list[Any]:
        """Mark up to ``limit`` live payloads captured before ``cutoff`` dropped (``expired``); return the ids and
        store keys of those this statement changed.

        One statement, not a read then a write: on SQLite a transaction that reads first and writes later fails at
        once ("database is locked", no busy wait) if another writer committed in between, as a serving Metadock does
        all the time; a single UPDATE takes the write lock first and waits its turn.
        """
        batch = (
            select(_c.id)
            .where(_c.dropped.is_(False), _c.created_at < cutoff)
            .order_by(_c.created_at, _c.id)
            .limit(limit)
        )
        statement = (
            update(payload_metadata)
            .where(_c.id.in_(batch), _c.dropped.is_(False))
            .values(dropped=True, dropped_reason="expired", updated_at=now)
            .returning(*_c)
        )
        rows = await self.connection.fetch_all(statement)
        await _dropped_events(self.connection, rows, now)
        await remove_search_of(self.connection, (row["id"] for row in rows))  # the text goes with the bytes
        return rows

    async def any_live_before(self, cutoff: dt.datetime) -> bool:
        statement = select(_c.id).where(_c.dropped.is_(False), _c.created_at < cutoff).limit(1)
        return await self.connection.scalar(statement) is not None

    async def dropped_before(self, cutoff: dt.datetime, limit: int) -> list[Any]:
        """Up to ``limit`` dropped records captured before ``cutoff``, oldest first: the next batch record retention
        deletes (over the ``(dropped, created_at)`` index; records are dropped before they are deleted)."""
        statement = (
            select(_c.id, _c.store_key, _c.dropped_reason)
            .where(_c.dropped.is_(True), _c.created_at < cutoff)
            .order_by(_c.created_at, _c.id)
            .limit(limit)
        )
        return await self.connection.fetch_all(statement)

    async def delete_dropped(self, record_ids: Iterable[int]) -> int:
        """Delete those of ``record_ids`` that are dropped (a live record keeps its row whatever happened meanwhile)
        and take them off their tenants' totals in this same transaction, raising each tenant's generation (which
        retires its offset anchors). Returns how many rows went."""
        statement = delete(payload_metadata).where(_c.id.in_(list(record_ids)), _c.dropped.is_(True)).returning(*_c)
        rows = await self.connection.fetch_all(statement)
        if rows:
            await remove_tags_of(self.connection, (row["id"] for row in rows))
            await remove_search_of(self.connection, (row["id"] for row in rows))
        removed = Counter(row["tenant_id"] for row in rows)
        await _dropped_events(self.connection, rows, dt.datetime.now(dt.UTC), reason="pruned")
        await self.take_off_totals(removed)
        return sum(removed.values())

    async def take_off_totals(self, removed: Mapping[int, int]) -> None:
        """Lower each tenant's total by its count of removed records and raise its generation (which retires its
        offset anchors); in the caller's transaction, the one that removes the rows."""
        add_to_total = _ADD_TO_TOTAL[self.connection.dialect_name]
        for tenant_id, count in sorted(removed.items()):  # one order for every pruner: no lock-order deadlock
            parameters = {"tenant_id": tenant_id, "delta": -count, "first_generation": first_generation()}
            await self.connection.write(add_to_total, parameters)

    async def mark_dropped(self, record_ids: Iterable[int], reason: str, now: dt.datetime) -> int:
        record_ids = list(record_ids)
        statement = (
            update(payload_metadata)
            .where(_c.id.in_(record_ids), _c.dropped.is_(False))
            .values(dropped=True, dropped_reason=reason, updated_at=now)
            .returning(*_c)
        )
        rows = await self.connection.fetch_all(statement)
        await _dropped_events(self.connection, rows, now)
        await remove_search_of(self.connection, record_ids)  # the text goes with the bytes
        return len(rows)

    async def live_keys(self, keys: Iterable[str]) -> set[str]:
        """Which of ``keys`` belong to a record whose bytes should exist."""
        statement = select(_c.store_key).where(_c.store_key.in_(list(keys)), _c.dropped.is_(False))
        return set(await self.connection.scalars(statement))

    async def recount_totals(self) -> None:
        """Rebuild every tenant's total from the rows (after a bulk load, or to repair). Rows may have changed behind
        the totals' back, so every generation is raised too: no offset anchor counted before survives."""
        counted = select(func.count()).where(_c.tenant_id == payload_counts.c.tenant_id).scalar_subquery()
        await self.connection.write(
            update(payload_counts).values(total=counted, generation=payload_counts.c.generation + 1)
        )
        uncounted = (
            select(_c.tenant_id, func.count(), literal(first_generation(), BigInteger()))
            .where(_c.tenant_id.not_in(select(payload_counts.c.tenant_id)))
            .group_by(_c.tenant_id)
        )
        await self.connection.write(insert(payload_counts).from_select(["tenant_id", "total", "generation"], uncounted))

    async def live_records_after(
        self, after_id: int, created_before: dt.datetime, limit: int, *, now: dt.datetime, retained_since: dt.datetime
    ) -> list[Any]:
        """Live records by id, each with ``expired``: past its ``expires_at``, or captured before ``retained_since``
        (the byte retention's cutoff now), i.e. bytes a lifecycle rule at the retention may have removed."""
        expired = case((or_(_c.expires_at <= now, _c.created_at < retained_since), True), else_=False)
        statement = (
            select(_c.id, _c.store_key, expired.label("expired"))
            .where(_c.dropped.is_(False), _c.id > after_id, _c.created_at < created_before)
            .order_by(_c.id)
            .limit(limit)
        )
        return await self.connection.fetch_all(statement)
