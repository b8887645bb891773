"""Keyset scans: every row of a filtered, ordered list, a batch at a time, for exports.

A batch is the next ``limit`` rows strictly after the previous batch's last row in the list's order (the query's
order, always ending in the primary key, so the order is total): ``WHERE (k1, k2, …, id) > (:k1, :k2, …, :id)``,
written as a row-value comparison when every key runs the same way, else as its expansion
``k1 > :k1 OR (k1 = :k1 AND (k2 > :k2 OR …))``. Each batch costs what the first does (no OFFSET to walk), and a row
is never read twice: a batch starts after a key, not at a position that deletions could shift.

The scan is bounded by the primary key the tenant's newest row had when it began (:meth:`ScannedRepository.scan_bound`),
so it ends even while rows keep arriving. The order's columns must be NOT NULL (checked when a statement is built):
NULLs would compare as unknown and drop rows from the seek.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any, ClassVar

from sqlalchemy import Select, and_, bindparam, func, literal_column, or_, select, tuple_
from sqlalchemy.sql.elements import ColumnElement

from metadock.kit.export import ScanBatch
from metadock.kit.list_statements import KeyScan, literal_limit
from metadock.kit.query import FilterOp, ListQuery
from metadock.kit.repository import TenantScopedRepository

_SCANS: dict[Hashable, Select[Any]] = {}
_MAX_SCAN_SHAPES = 1_000
_MAX_CACHED_VALUES = 8


def _key_label(index: int) -> str:
    return f"scan_key_{index}"


def _after_label(index: int) -> str:
    return f"scan_after_{index}"


def _after_clause(keys: list[tuple[ColumnElement[Any], bool]]) -> ColumnElement[bool]:
    """Rows strictly after the bound key ``scan_after_<n>`` values in this order."""
    bound = [bindparam(_after_label(index), type_=column.type) for index, (column, _) in enumerate(keys)]
    if len(keys) == 1:
        column, descending = keys[0]
        return column < bound[0] if descending else column > bound[0]
    directions = {descending for _, descending in keys}
    if len(directions) == 1:
        # One direction: a row-value comparison, which both databases can seek an index with.
        columns = tuple_(*(column for column, _ in keys))
        values = tuple_(*bound)
        after = columns < values if directions.pop() else columns > values
    else:
        clause: ColumnElement[bool] | None = None
        for index in reversed(range(len(keys))):
            column, descending = keys[index]
            beyond = column < bound[index] if descending else column > bound[index]
            clause = beyond if clause is None else or_(beyond, and_(column == bound[index], clause))
        assert clause is not None
        after = clause
    # The leading key's own bound, implied by the rest but written out: an index on (tenant, k1, …) is then walked
    # from the cursor on, where an OR alone made SQLite read and sort the tenant's every row for each batch.
    first, descending = keys[0]
    return and_(first <= bound[0] if descending else first >= bound[0], after)


class ScannedRepository(TenantScopedRepository):
    """A tenant-scoped repository whose lists can also be read whole, in batches (see the module's docstring)."""

    # No index leads with (tenant_id, primary key): on SQLite a scan in key order with no equality filter then walks
    # the primary key and checks the tenant of each row, instead of reading and sorting the tenant's every row per
    # batch through another tenant index (SQLite has no statistics to tell the two apart).
    scan_walks_primary_key: ClassVar[bool] = False

    def _scan_keys(self, query: ListQuery) -> list[tuple[ColumnElement[Any], bool]]:
        keys = [(self.columns[order.field], order.descending) for order in query.order]
        if all(order.field != self.tie_breaker for order in query.order):
            keys.append((self.columns[self.tie_breaker], False))
        for column, _ in keys:
            if getattr(column, "nullable", False):
                raise TypeError(f"a keyset scan cannot order by the nullable column {column}")
        return keys

    def _scan_statement(self, query: ListQuery, columns: tuple[Any, ...], *, seeking: bool, limit: int) -> Select[Any]:
        shape = (
            self.table.name,
            columns,  # the columns themselves: held by the key, so never confused with others
            tuple(
                (
                    item.field,
                    item.op,
                    len(item.values),
                    item.op is FilterOp.CONTAINS_ANY and self._contains_variant(item),
                )
                for item in query.filters
            ),
            tuple((order.field, order.descending) for order in query.order),
            seeking,
            self.connection.dialect_name,
            limit,
        )
        cached = _SCANS.get(shape)
        if cached is not None:
            return cached
        keys = self._scan_keys(query)
        primary_key = self.columns[self.tie_breaker]
        in_key_order = keys[0][0] is primary_key
        through = bindparam("scan_through", type_=primary_key.type)
        key_scan = self._key_scan(query) if len(keys) == 1 and in_key_order else None
        if key_scan is not None:
            statement = self._key_scan_statement(key_scan, keys[0][1], columns, seeking=seeking, limit=limit)
            if len(_SCANS) < _MAX_SCAN_SHAPES and all(len(i.values) <= _MAX_CACHED_VALUES for i in query.filters):
                _SCANS[shape] = statement
            return statement
        scope = self._list_scope()
        if (
            in_key_order
            and self.scan_walks_primary_key
            and self.connection.dialect_name == "sqlite"
            and all(item.op is not FilterOp.ANY_OF for item in query.filters)
        ):
            scope = (self.table.c.tenant_id + literal_column("0")) == bindparam("scope_tenant_id")
        where = [
            scope,
            *(self._filter_clause(index, item) for index, item in enumerate(query.filters)),
            # In another order, `+ 0`: the bound must not make the (tenant, id) index look like the way in (SQLite
            # then read the tenant's every row up to it and sorted them, for each batch).
            primary_key <= through if in_key_order else (primary_key + literal_column("0")) <= through,
        ]
        if seeking:
            where.append(_after_clause(keys))
        labelled = [column.label(_key_label(index)) for index, (column, _) in enumerate(keys)]
        statement = (
            select(*(columns or (self.table,)), *labelled)
            .where(*where)
            .order_by(*self._order_by(query))
            .limit(literal_limit(limit))
        )
        if len(_SCANS) < _MAX_SCAN_SHAPES and all(len(item.values) <= _MAX_CACHED_VALUES for item in query.filters):
            _SCANS[shape] = statement
        return statement

    def _key_scan_statement(
        self, key_scan: KeyScan, descending: bool, columns: tuple[Any, ...], *, seeking: bool, limit: int
    ) -> Select[Any]:
        """A batch in key order whose keys come from elsewhere (a tag's range, kit/repository.py ``KeyScan``): the
        batch's keys from there alone, then their rows by key, held to the tenant. Through this table instead,
        PostgreSQL's generic plan read the tenant's every row up to the bound to find a tag's few (22 ms a batch for
        100 records of 18,000, growing with the tenant)."""
        primary_key = self.columns[self.tie_breaker]
        key = key_scan.key
        where = [*key_scan.where, key <= bindparam("scan_through", type_=primary_key.type)]
        if seeking:
            after = bindparam(_after_label(0), type_=primary_key.type)
            where.append(key < after if descending else key > after)
        batch = (
            select(key.label("scan_id"))
            .select_from(key_scan.source)
            .where(*where)
            .order_by(key.desc() if descending else key.asc())
            .limit(literal_limit(limit))
            .subquery()
        )
        return (
            select(*(columns or (self.table,)), primary_key.label(_key_label(0)))
            .join(batch, primary_key == batch.c.scan_id)
            .where(self.table.c.tenant_id == bindparam("scope_tenant_id"))
            .order_by(primary_key.desc() if descending else primary_key.asc())
        )

    async def scan_bound(self) -> int | None:
        """The tenant's largest primary key now (None: no rows): where a scan that begins now ends."""
        primary_key = self.columns[self.tie_breaker]
        newest = await self.connection.scalar(self._select(func.max(primary_key)))
        return None if newest is None else int(newest)

    async def _scan_batch(
        self, query: ListQuery, columns: tuple[Any, ...], *, after: tuple[Any, ...] | None, through: int, limit: int
    ) -> ScanBatch:
        """Up to ``limit`` rows after the key ``after`` (from the start when None), primary keys up to ``through``."""
        statement = self._scan_statement(query, columns, seeking=after is not None, limit=limit)
        parameters: dict[str, Any] = {
            "scope_tenant_id": self.tenant_id,
            "scan_through": through,
            **self._filter_values(query),
        }
        if after is not None:
            parameters.update({f"scan_after_{index}": value for index, value in enumerate(after)})
        rows = list(await self.connection.fetch_all(statement, parameters))
        if len(rows) < limit:
            return ScanBatch(rows, None)
        last = rows[-1]
        width = len(self._scan_keys(query))
        return ScanBatch(rows, tuple(last[_key_label(index)] for index in range(width)))
