"""The tenant-scoped repository base: every statement a repository builds starts here, so tenancy is written once.

A row of another tenant is invisible: it is never selected, updated or deleted, and callers see "not found".
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from sqlalchemy import (
    BigInteger,
    Delete,
    Integer,
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

from metadock.kit.db import Connection
from metadock.kit.query import Filter, FilterOp, ListQuery

_ONE_BY: dict[tuple[str, str, tuple[Any, ...]], Select[Any]] = {}


@dataclass(frozen=True, slots=True)
class ListStatements:
    page: Select[Any]
    count: Select[Any]


_LIST_SHAPES: dict[tuple[Any, ...], ListStatements] = {}
_MAX_LIST_SHAPES = 1_000
_MAX_CACHED_VALUES = 8


def escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class TenantScopedRepository:
    table: ClassVar[Table]
    # The SQL-side allow-list: internal query field name -> column. A field not here cannot reach SQL.
    columns: ClassVar[Mapping[str, ColumnElement[Any]]]
    tie_breaker: ClassVar[str] = "id"

    def __init__(self, connection: Connection, tenant_id: int) -> None:
        self.connection = connection
        self.tenant_id = tenant_id

    @property
    def _tenant_clause(self) -> ColumnElement[bool]:
        return self.table.c.tenant_id == self.tenant_id

    def _select(self, *columns: Any) -> Select[Any]:
        return select(*(columns or (self.table,))).where(self._tenant_clause)

    async def _one_by(self, key: str, value: object, columns: tuple[Any, ...] = ()) -> Any | None:
        """The row (``columns`` of it, or all) of this tenant whose ``key`` column equals ``value``: the hot
        single-row read, built once per table, key and columns (with the tenant as a bound parameter, still from
        the same scoping rule). Building a statement costs more than SQLite running it."""
        cache_key = (self.table.name, key, columns)  # the columns themselves: held, so never confused with others
        statement = _ONE_BY.get(cache_key)
        if statement is None:
            statement = _ONE_BY[cache_key] = select(*(columns or (self.table,))).where(
                self.table.c.tenant_id == bindparam("scope_tenant_id"), self.table.c[key] == bindparam("key_value")
            )
        return await self.connection.fetch_one(statement, {"scope_tenant_id": self.tenant_id, "key_value": value})

    def _update(self) -> Update:
        return update(self.table).where(self._tenant_clause)

    def _delete(self) -> Delete:
        return delete(self.table).where(self._tenant_clause)

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

    def _list_statements(self, query: ListQuery, columns: tuple[Any, ...]) -> ListStatements:
        """The page and count statements of the query's shape (which filters with how many values, which order),
        every value a bound parameter. Built once per shape: building a statement costs more than SQLite running
        it. Shapes with many values are built each time, so the cache stays small."""
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
        )
        statements = _LIST_SHAPES.get(shape)
        if statements is not None:
            return statements
        where = [self._list_scope(), *(self._filter_clause(index, item) for index, item in enumerate(query.filters))]
        order = self._order_by(query)
        primary_key = self.columns[self.tie_breaker]
        # Deferred join: the offset is walked over the narrow (tenant, filter, sort, id) index alone, and only the
        # page's rows are read in full, so a deep page costs index steps, not row reads.
        page_ids = (
            select(primary_key.label("page_id"))
            .where(*where)
            .order_by(*order)
            .limit(bindparam("page_limit", type_=Integer()))
            # 64-bit: a deep page of 100 passes 2**31 rows' offset (PostgreSQL refused an int4 parameter: a 500).
            .offset(bindparam("page_offset", type_=BigInteger()))
            .subquery()
        )
        page = select(*(columns or (self.table,))).join(page_ids, primary_key == page_ids.c.page_id).order_by(*order)
        count = select(func.count()).select_from(self.table).where(*where)
        cacheable = len(_LIST_SHAPES) < _MAX_LIST_SHAPES and all(
            len(item.values) <= _MAX_CACHED_VALUES for item in query.filters
        )
        statements = ListStatements(page, count)
        if cacheable:
            _LIST_SHAPES[shape] = statements
        return statements

    async def _page(self, query: ListQuery, columns: tuple[Any, ...] = ()) -> tuple[list[Any], int]:
        """A page of rows (``columns`` of them, or whole rows) and the exact total of the filtered list."""
        statements = self._list_statements(query, columns)
        parameters = {
            "scope_tenant_id": self.tenant_id,
            "page_limit": query.per_page,
            "page_offset": query.offset,
            **self._filter_values(query),
        }
        rows: list[Any] = await self.connection.fetch_all(statements.page, parameters)
        if query.page == 1 and len(rows) < query.per_page:
            total = len(rows)  # the whole result fits on the first page: no need to count
        else:
            total = await self._count(query, statements, parameters)
        return rows, total

    async def _count(self, query: ListQuery, statements: ListStatements, parameters: dict[str, Any]) -> int:  # noqa: ARG002
        """The exact total of a filtered list; repositories that maintain totals override the unfiltered case."""
        return int(await self.connection.scalar(statements.count, parameters))
