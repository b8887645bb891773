"""The tenant-scoped repository base: every statement a repository builds starts here, so tenancy is written once.

A row of another tenant is invisible: it is never selected, updated or deleted, and callers see "not found".
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any, ClassVar

from sqlalchemy import (
    BigInteger,
    Delete,
    Select,
    Table,
    Update,
    and_,
    bindparam,
    delete,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.sql.elements import BindParameter, ColumnElement
from sqlalchemy.sql.selectable import FromClause

from metadock.kit import anchored_pages
from metadock.kit.anchored_pages import ANCHORS as ANCHORS  # re-exported: the tests clear and count them
from metadock.kit.anchored_pages import MAX_CACHED_VALUES, MAX_SHAPES
from metadock.kit.db import Connection
from metadock.kit.list_statements import TOTAL_COLUMN, KeyScan, ListStatements, literal_limit, without_total
from metadock.kit.query import Filter, FilterOp, ListQuery
from metadock.kit.read_ahead import TENANT_PARAMETER, ScopedRead

_ONE_BY: dict[tuple[str, str, tuple[Any, ...]], Select[Any]] = {}


_LIST_SHAPES: dict[tuple[Any, ...], ListStatements] = {}


def escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class TenantScopedRepository:
    table: ClassVar[Table]
    # The SQL-side allow-list: internal query field name -> column. A field not here cannot reach SQL.
    columns: ClassVar[Mapping[str, ColumnElement[Any]]]
    tie_breaker: ClassVar[str] = "id"
    # Keyset access for deep pages in ascending key order (kit/keyset.py). A repository opts in with the tenant's
    # generation (a scalar subquery on ``scope_tenant_id`` that every removal of a row raises in the same transaction)
    # and the filter fields whose values never change once a row is written; its rows of one tenant must commit in
    # key order (an integer key). Other orders and filters take the OFFSET path.
    offset_generation: ClassVar[ColumnElement[Any] | None] = None
    keyset_fields: ClassVar[frozenset[str]] = frozenset()
    anchor_spacing: ClassVar[int] = 1_000

    def __init__(self, connection: Connection, tenant_id: int) -> None:
        self.connection = connection
        self.tenant_id = tenant_id

    @property
    def _tenant_clause(self) -> ColumnElement[bool]:
        return self.table.c.tenant_id == self.tenant_id

    def _select(self, *columns: Any) -> Select[Any]:
        return select(*(columns or (self.table,))).where(self._tenant_clause)

    @classmethod
    def _one_by_statement(cls, key: str, columns: tuple[Any, ...]) -> Select[Any]:
        """The hot single-row read by ``key``, built once per table, key and columns (with the tenant as a bound
        parameter, still from the same scoping rule). Building a statement costs more than SQLite running it."""
        cache_key = (cls.table.name, key, columns)  # the columns themselves: held, so never confused with others
        statement = _ONE_BY.get(cache_key)
        if statement is None:
            statement = _ONE_BY[cache_key] = select(*(columns or (cls.table,))).where(
                cls.table.c.tenant_id == bindparam(TENANT_PARAMETER), cls.table.c[key] == bindparam("key_value")
            )
        return statement

    @classmethod
    def _read_one_by(cls, key: str, value: object, columns: tuple[Any, ...] = ()) -> ScopedRead:
        """:meth:`_one_by` as a read that authentication may fetch with the credential (``kit/read_ahead.py``)."""
        return ScopedRead(cls._one_by_statement(key, columns), {"key_value": value})

    async def _one_by(self, key: str, value: object, columns: tuple[Any, ...] = ()) -> Any | None:
        """The row (``columns`` of it, or all) of this tenant whose ``key`` column equals ``value``."""
        statement = self._one_by_statement(key, columns)
        return await self.connection.fetch_one(statement, {TENANT_PARAMETER: self.tenant_id, "key_value": value})

    def _update(self) -> Update:
        return update(self.table).where(self._tenant_clause)

    def _delete(self) -> Delete:
        return delete(self.table).where(self._tenant_clause)

    def _shape_field(self, field: str) -> str:
        """What of a filter's field decides its SQL. A repository whose filters name their key in a parameter (a
        tag's name) maps them all to one, so the statement cache holds one shape for all of them."""
        return field

    def _keyset_field(self, field: str) -> bool:
        """Whether anchors may serve an equality filter on ``field`` (its values never change once a row is
        written, and its rows of a tenant commit in key order: see :attr:`keyset_fields`)."""
        return field in self.keyset_fields

    def _key_scan(self, query: ListQuery) -> KeyScan | None:  # noqa: ARG002
        """The source of the keys of ``query``'s list, if not this table: its count reads them alone, its page too in
        key order (either way), and joins this table to them for another order. Decided by the query's filters alone
        (see :meth:`_list_statements`)."""
        return None

    def _filter_clause(self, index: int, item: Filter) -> ColumnElement[bool]:
        """The clause of the ``index``-th filter, its values as bound parameters (see :meth:`_filter_values`)."""
        column = self.columns[item.field]
        values = [bindparam(f"filter_{index}_{n}", type_=column.type) for n in range(len(item.values))]
        match item.op:
            case FilterOp.ANY_OF:
                return column == values[0] if len(values) == 1 else column.in_(values)
            case FilterOp.CONTAINS_ANY:
                return self._contains_clause(index, item, column, values)
            case FilterOp.BEFORE:
                return and_(*(column <= value for value in values))
            case FilterOp.STRICTLY_BEFORE:
                return and_(*(column < value for value in values))
            case FilterOp.AFTER:
                return and_(*(column >= value for value in values))
            case FilterOp.STRICTLY_AFTER:
                return and_(*(column > value for value in values))

    def _list_scope(self) -> ColumnElement[bool]:
        """The tenant clause of the list statements (bound, so the statement serves every tenant). A repository may
        write it so that SQLite cannot walk a tenant index, when it knows a better way in (the shape must then say so
        through :meth:`_contains_variant`)."""
        return self.table.c.tenant_id == bindparam("scope_tenant_id")

    def _contains_clause(
        self,
        index: int,  # noqa: ARG002 - names the parameters of an override's index lookup
        item: Filter,  # noqa: ARG002
        column: ColumnElement[Any],
        patterns: list[BindParameter[Any]],
    ) -> ColumnElement[bool]:
        """Partial match of any of the values: one ``LIKE '%value%'`` each (wildcards in values escaped). A
        repository with a text index over ``column`` overrides this to let the index find the candidates, keeping
        these LIKEs on top so that the answer stays the scan's; it then overrides :meth:`_contains_variant` and
        :meth:`_contains_parameters` too."""
        return or_(*(column.like(pattern, escape="\\") for pattern in patterns))

    def _contains_variant(self, item: Filter) -> Hashable:  # noqa: ARG002
        """What, besides its field and number of values, decides the SQL of a contains filter (say, whether a text
        index can serve these values on this database): part of the statement's shape."""
        return None

    def _contains_parameters(self, index: int, item: Filter) -> dict[str, Any]:  # noqa: ARG002
        """Parameters beyond the LIKE patterns that :meth:`_contains_clause` binds (an index lookup's query)."""
        return {}

    def _filter_values(self, query: ListQuery) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for index, item in enumerate(query.filters):
            is_pattern = item.op is FilterOp.CONTAINS_ANY
            for n, value in enumerate(item.values):
                values[f"filter_{index}_{n}"] = f"%{escape_like(str(value))}%" if is_pattern else value
            if is_pattern:
                values.update(self._contains_parameters(index, item))
        return values

    def _order_by(self, query: ListQuery) -> list[ColumnElement[Any]]:
        clauses: list[ColumnElement[Any]] = []
        for order in query.order:
            column = self.columns[order.field]
            clauses.append(column.desc() if order.descending else column.asc())
        if all(order.field != self.tie_breaker for order in query.order):
            # Equal sort keys would otherwise page nondeterministically; the primary key makes the order total.
            clauses.append(self.columns[self.tie_breaker].asc())
        return clauses

    def _list_statements(self, query: ListQuery, columns: tuple[Any, ...], *, anchored: bool = False) -> ListStatements:
        """The page and count statements of the query's shape (which filters with how many values, which order),
        every value a bound parameter. Built once per shape: building a statement costs more than SQLite running
        it. Shapes with many values are built each time, so the cache stays small."""
        shape = (
            self.table.name,
            columns,  # the columns themselves: held by the key, so never confused with others
            tuple(
                (
                    self._shape_field(item.field),
                    item.op,
                    len(item.values),
                    item.op is FilterOp.CONTAINS_ANY and self._contains_variant(item),
                )
                for item in query.filters
            ),
            tuple((order.field, order.descending) for order in query.order),
            anchored,
            query.per_page,
            query.offset == 0,
        )
        statements = _LIST_SHAPES.get(shape)
        if statements is not None:
            return statements
        order = self._order_by(query)
        primary_key = self.columns[self.tie_breaker]
        key_scan = self._key_scan(query)
        if key_scan is None:
            source: FromClause = self.table
            key = primary_key
            where = [self._list_scope(), *(self._filter_clause(i, item) for i, item in enumerate(query.filters))]
            key_order = order
        elif all(item.field == self.tie_breaker for item in query.order):  # the keys alone, in their own order
            source, key, where = key_scan.source, key_scan.key, list(key_scan.where)
            key_order = [key.desc() if any(item.descending for item in query.order) else key.asc()]
        else:
            # Another order: each key's row joined to it for the sort. No tenant clause on the table here (its rows
            # are the keys'; the page below holds them to the tenant), so no plan can walk the tenant's rows.
            source = key_scan.source.join(self.table, primary_key == key_scan.key)
            key, where, key_order = primary_key, list(key_scan.where), order
        # An anchored page starts at its anchor's row, so only the rest of the offset is walked; the count is not.
        page_where = [*where, key >= bindparam("anchor_key", type_=BigInteger())] if anchored else where
        # Deferred join: the offset is walked over the narrow (tenant, filter, sort, id) index alone, and only the
        # page's rows are read in full, so a deep page costs index steps, not row reads.
        page_ids = (
            select(key.label("page_id"))
            .select_from(source)
            .where(*page_where)
            .order_by(*key_order)
            # The page size in the SQL, not a parameter: PostgreSQL's generic plan (kit/db.py) assumes a LIMIT it
            # cannot see keeps 10% of the rows, and joined the page's ids to a scan of the whole table (S4 at 10M:
            # 5 s instead of 0.5 ms). A handful of page sizes is a handful of statements.
            .limit(literal_limit(query.per_page))
            # 64-bit: a deep page of 100 passes 2**31 rows' offset (PostgreSQL refused an int4 parameter: a 500).
            .offset(bindparam("page_offset", type_=BigInteger()))
            .subquery()
        )
        if key_scan is None and not anchored and query.offset == 0:
            # A first page walks no offset, so the deferred join would only read each row twice (its id from the
            # narrow index, then the row by its primary key): the rows are read as the index gives them.
            page = (
                select(*(columns or (self.table,))).where(*where).order_by(*order).limit(literal_limit(query.per_page))
            )
        else:
            page = (
                select(*(columns or (self.table,))).join(page_ids, primary_key == page_ids.c.page_id).order_by(*order)
            )
        if key_scan is not None:  # keys from elsewhere: the rows read are still held to the tenant
            page = page.where(self.table.c.tenant_id == bindparam("scope_tenant_id"))
        # The count needs no order: from the keys' source alone whenever there is one.
        count = select(func.count()).select_from(key_scan.source if key_scan else self.table).where(*where)
        counted_page = page.add_columns(self._fused_total(query, count).label(TOTAL_COLUMN))
        cacheable = len(_LIST_SHAPES) < MAX_SHAPES and all(
            len(item.values) <= MAX_CACHED_VALUES for item in query.filters
        )
        statements = ListStatements(page, count, counted_page)
        if cacheable:
            _LIST_SHAPES[shape] = statements
        return statements

    async def _page(self, query: ListQuery, columns: tuple[Any, ...] = ()) -> tuple[list[Any], int]:
        """A page of rows (``columns`` of them, or whole rows) and the exact total of the filtered list."""
        shape = anchored_pages.keyset_shape(self, query)
        if shape is not None:
            page = await anchored_pages.anchored_page(self, query, columns, shape)
            if page is not None:
                return page
        statements = self._list_statements(query, columns)
        parameters = {
            "scope_tenant_id": self.tenant_id,
            "page_offset": query.offset,
            **self._filter_values(query),
        }
        rows: list[Any]
        if self.connection.dialect_name == "postgresql":
            # A statement is a round trip there: the page brings its total (a page past the end has no row to bring
            # it: counted below). A first page that is not full is counted too, a few tens of µs of the server's
            # time where a full one saves a round trip (~60-90 µs). SQLite has no round trips to save.
            rows = await self.connection.fetch_all(statements.counted_page, parameters)
            if rows:
                return without_total(rows)
        else:
            rows = await self.connection.fetch_all(statements.page, parameters)
        if query.page == 1 and len(rows) < query.per_page:
            total = len(rows)  # the whole result fits on the first page: no need to count
        else:
            total = await self._count(query, statements, parameters)
        return rows, total

    def _fused_total(self, query: ListQuery, count: Select[Any]) -> ColumnElement[Any]:  # noqa: ARG002
        """The total a counted page reads (see :class:`ListStatements`): the count's, or where a repository keeps
        totals (see :meth:`_count`), the kept one. Decided by the query's filters alone (the statement is cached)."""
        return count.scalar_subquery()

    async def _count(self, query: ListQuery, statements: ListStatements, parameters: dict[str, Any]) -> int:  # noqa: ARG002
        """The exact total of a filtered list; repositories that maintain totals override the unfiltered case."""
        return int(await self.connection.scalar(statements.count, parameters))

    async def _count_and_generation(
        self, query: ListQuery, statements: ListStatements, parameters: dict[str, Any]
    ) -> tuple[int, int | None]:
        """The exact total and the tenant's generation, both read after the page (see kit/anchored_pages.py)."""
        total = await self._count(query, statements, parameters)
        assert self.offset_generation is not None
        generation = await self.connection.scalar(select(self.offset_generation), parameters)
        return total, generation
