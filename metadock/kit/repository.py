"""The tenant-scoped repository base: every statement a repository builds starts here, so tenancy is written once.

A row of another tenant is invisible: it is never selected, updated or deleted, and callers see "not found".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from sqlalchemy import Delete, Select, Table, Update, and_, bindparam, delete, func, or_, select, update
from sqlalchemy.sql.elements import ColumnElement

from metadock.kit.db import Connection
from metadock.kit.query import Filter, FilterOp, ListQuery

_ONE_BY: dict[tuple[str, str], Select[Any]] = {}


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

    async def _one_by(self, key: str, value: object) -> Any | None:
        """The row of this tenant whose ``key`` column equals ``value``: the hot single-row read, built once per
        table and key (with the tenant as a bound parameter, still from the same scoping rule)."""
        cache_key = (self.table.name, key)
        statement = _ONE_BY.get(cache_key)
        if statement is None:
            statement = _ONE_BY[cache_key] = select(self.table).where(
                self.table.c.tenant_id == bindparam("scope_tenant_id"), self.table.c[key] == bindparam("key_value")
            )
        return await self.connection.fetch_one(statement, {"scope_tenant_id": self.tenant_id, "key_value": value})

    def _update(self) -> Update:
        return update(self.table).where(self._tenant_clause)

    def _delete(self) -> Delete:
        return delete(self.table).where(self._tenant_clause)

    def _where(self, query: ListQuery) -> list[ColumnElement[bool]]:
        return [self._filter_clause(item) for item in query.filters]

    def _filter_clause(self, item: Filter) -> ColumnElement[bool]:
        column = self.columns[item.field]
        match item.op:
            case FilterOp.ANY_OF:
                return column == item.values[0] if len(item.values) == 1 else column.in_(item.values)
            case FilterOp.CONTAINS_ANY:
                return or_(*(column.like(f"%{escape_like(str(value))}%", escape="\\") for value in item.values))
            case FilterOp.BEFORE:
                return and_(*(column <= value for value in item.values))
            case FilterOp.STRICTLY_BEFORE:
                return and_(*(column < value for value in item.values))
            case FilterOp.AFTER:
                return and_(*(column >= value for value in item.values))
            case FilterOp.STRICTLY_AFTER:
                return and_(*(column > value for value in item.values))

    def _order_by(self, query: ListQuery) -> list[ColumnElement[Any]]:
        clauses: list[ColumnElement[Any]] = []
        for order in query.order:
            column = self.columns[order.field]
            clauses.append(column.desc() if order.descending else column.asc())
        if all(order.field != self.tie_breaker for order in query.order):
            # Equal sort keys would otherwise page nondeterministically; the primary key makes the order total.
            clauses.append(self.columns[self.tie_breaker].asc())
        return clauses

    async def _page(self, query: ListQuery, columns: Sequence[Any] = ()) -> tuple[list[Any], int]:
        """A page of rows (``columns`` of them, or whole rows) and the exact total of the filtered list."""
        where = self._where(query)
        order = self._order_by(query)
        primary_key = self.columns[self.tie_breaker]
        # Deferred join: the offset is walked over the narrow (tenant, filter, sort, id) index alone, and only the
        # page's rows are read in full, so a deep page costs index steps, not row reads.
        page_ids = (
            self._select(primary_key.label("page_id"))
            .where(*where)
            .order_by(*order)
            .limit(query.per_page)
            .offset(query.offset)
            .subquery()
        )
        rows_statement = (
            select(*(columns or (self.table,))).join(page_ids, primary_key == page_ids.c.page_id).order_by(*order)
        )
        rows = list((await self.connection.execute(rows_statement)).mappings())
        if query.page == 1 and len(rows) < query.per_page:
            total = len(rows)  # the whole result fits on the first page: no need to count
        else:
            total = await self._count(query, where)
        return rows, total

    async def _count(self, query: ListQuery, where: list[ColumnElement[bool]]) -> int:  # noqa: ARG002
        """The exact total of a filtered list; repositories that maintain totals override the unfiltered case."""
        count_statement = self._select(func.count()).select_from(self.table).where(*where)
        return int((await self.connection.execute(count_statement)).scalar_one())
