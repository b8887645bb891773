"""Plans: statements compiled once and run on the bare driver, and the bounded cache a dialect's connection keeps.

Every authenticated request looks up its credential and most reads fetch one row by key. On SQLite such a query
takes a few microseconds, while SQLAlchemy's per-execution machinery around it (cache key, execution context,
events, result set-up) measured ~40 µs: the largest single cost of ``GET /metadatas/{uuid}``. For a statement that is
run again and again, the SQL text, the order of its parameters and the type processors of its binds and columns
never change, so they are taken from SQLAlchemy's own compilation once (a :class:`Plan`) and reused. Rows come back
as plain dicts with the same keys and the same Python values as SQLAlchemy's ``result.mappings()``.

Only a connection (``kit/db.py``, ``kit/postgres.py``) uses this module; repositories never know whether a plan
ran. The plans are dialect-neutral (SQL, binds, processors); :func:`run_sqlite` is SQLite's runner and
:func:`run_postgres` PostgreSQL's (asyncpg's prepared statements, which asyncpg caches per connection by SQL text, so
a plan is prepared once per pooled connection and then only bound and executed).
"""

from __future__ import annotations

import sqlite3
import weakref
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy.exc
from sqlalchemy import Select
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.dml import UpdateBase, ValuesBase

Processor = Callable[[Any], Any] | None
# An identity for a statement and, for an INSERT or UPDATE, the names of its parameters (its SQL depends on them).
_Key = int | tuple[Any, ...]
_PLANNABLE = (Select, UpdateBase)  # SELECT, INSERT, UPDATE, DELETE: what SQLAlchemy compiles with result columns


@dataclass(frozen=True, slots=True)
class Plan:
    statement: Executable  # held, so that the id in this plan's key cannot be reused while the plan is cached
    sql: str
    compiled: Any
    reads_only: bool  # a SELECT (without FOR UPDATE) may stop at its first row and needs no write transaction
    bind_names: tuple[str, ...]
    bind_processors: tuple[Processor, ...]
    keys: tuple[str, ...]
    result_processors: tuple[tuple[int, Callable[[Any], Any]], ...]  # (column index, processor), only where needed
    first_processor: Processor  # the first column's, for statements read as scalars
    mapping: Callable[[Sequence[Any]], dict[str, Any]]  # a row (tuple or driver record) as a dict: see _row_mapper

    def arguments(self, parameters: Mapping[str, Any] | None) -> tuple[Any, ...]:
        values = self.compiled.construct_params(parameters)  # the caller's values plus any bound in the statement
        return tuple(
            value if process is None else process(value)
            for value, process in zip((values[name] for name in self.bind_names), self.bind_processors, strict=True)
        )

    def first_value(self, row: tuple[Any, ...]) -> Any:
        return row[0] if self.first_processor is None else self.first_processor(row[0])


def _row_mapper(
    keys: tuple[str, ...], processors: tuple[tuple[int, Callable[[Any], Any]], ...]
) -> Callable[[Sequence[Any]], dict[str, Any]]:
    """A function turning one row into its dict, written for this plan's columns: one dict display, each value
    indexed and, where the column has one, passed through its processor. Zipping the keys and looping over the
    processors per row was a quarter of a 100-row page's CPU; this does the same work without the per-row loops.
    Only the column positions and the keys as string literals reach the source (a repeated key keeps its last value, as
    ``dict(zip(...))`` does), the processors are names in its namespace."""
    namespace: dict[str, Any] = {f"process_{index}": process for index, process in processors}
    processed = {index for index, _ in processors}
    literals = [str.__repr__(key) for key in keys]  # str's own: a str subclass may print itself otherwise
    items = ", ".join(
        f"{literal}: process_{index}(row[{index}])" if index in processed else f"{literal}: row[{index}]"
        for index, literal in enumerate(literals)
    )
    exec(f"def mapping(row):\n    return {{{items}}}\n", namespace)  # noqa: S102 - source built above, no input
    mapping: Callable[[Sequence[Any]], dict[str, Any]] = namespace["mapping"]
    return mapping


def build_plan(statement: Executable, dialect: Dialect, column_keys: tuple[str, ...]) -> Plan:
    """Compile ``statement`` as SQLAlchemy would for these parameter names; ValueError if no plan can serve it."""
    compiled: Any = statement.compile(dialect=dialect, column_keys=list(column_keys))  # type: ignore[attr-defined]
    positions = compiled.positiontup
    if positions is None or "POSTCOMPILE" in compiled.string:  # IN lists expanded per execution, for instance
        raise ValueError("only statements with plain positional parameters can be planned")
    if compiled.insert_prefetch or compiled.update_prefetch:  # values SQLAlchemy computes before each execution
        raise ValueError("statements whose columns have Python-side defaults cannot be planned")
    # The columns a row has, in cursor order, named as SQLAlchemy names them in result mappings (labels included).
    columns = compiled._result_columns  # the same list SQLAlchemy builds its own results from
    result_processors = tuple(
        (index, process)
        for index, column in enumerate(columns)
        if (process := column.type.dialect_impl(dialect).result_processor(dialect, None)) is not None
    )
    keys = tuple(column.keyname for column in columns)
    return Plan(
        statement=statement,
        sql=compiled.string,
        compiled=compiled,
        reads_only=isinstance(statement, Select) and statement._for_update_arg is None,
        bind_names=tuple(positions),
        bind_processors=tuple(
            compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect) for name in positions
        ),
        keys=keys,
        result_processors=result_processors,
        first_processor=next((process for index, process in result_processors if index == 0), None),
        mapping=_row_mapper(keys, result_processors),
    )


class PlanCache:
    """The plans of one dialect, for the statements that are run more than once; at most ``capacity`` of them.

    Keyed by statement identity, which the cache owns: a cached plan holds its statement, so no other statement can
    take its ``id()`` while the plan is cached, and the least recently used plan goes first when the cache is full.
    A statement is planned on its second run: compiling costs more than SQLAlchemy's own cached path, so a statement
    built for one request (its values inlined) would pay for a plan it never reuses and push out plans that are
    reused. Statements seen once are remembered weakly (a dead statement's reused ``id()`` is not mistaken for it),
    also at most ``capacity`` of them. Statements no plan can serve are remembered too, and take the ordinary path.
    """

    def __init__(self, dialect: Dialect, capacity: int = 256) -> None:
        self.dialect = dialect
        self.capacity = capacity
        self._plans: OrderedDict[_Key, tuple[Executable, Plan | None]] = OrderedDict()
        self._seen: OrderedDict[_Key, weakref.ref[Executable]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._plans)

    def plan(self, statement: Executable, parameters: Mapping[str, Any] | None) -> Plan | None:
        """The plan to run ``statement`` with, or None for SQLAlchemy's ordinary path."""
        if not isinstance(statement, _PLANNABLE):  # text(), unions, DDL: the ordinary path
            return None
        key: _Key = (id(statement), *parameters) if parameters and isinstance(statement, ValuesBase) else id(statement)
        entry = self._plans.get(key)
        if entry is not None and entry[0] is statement:
            self._plans.move_to_end(key)
            return entry[1]
        seen = self._seen.pop(key, None)
        if seen is None or seen() is not statement:
            self._seen[key] = weakref.ref(statement)
            if len(self._seen) > self.capacity:
                self._seen.popitem(last=False)
            return None
        try:
            plan: Plan | None = build_plan(statement, self.dialect, key[1:] if isinstance(key, tuple) else ())
        except (ValueError, sqlalchemy.exc.SQLAlchemyError):
            plan = None  # the ordinary path runs it (and raises whatever SQLAlchemy raises for it)
        self._plans[key] = (statement, plan)
        if len(self._plans) > self.capacity:
            self._plans.popitem(last=False)
        return plan


def run_sqlite(
    driver: sqlite3.Connection, plan: Plan, parameters: Mapping[str, Any] | None, *, first_only: bool
) -> tuple[list[tuple[Any, ...]], int]:
    """The rows of ``plan`` run on SQLite's driver (only the first of a SELECT if ``first_only``), and the rowcount."""
    arguments = plan.arguments(parameters)
    try:
        cursor = driver.execute(plan.sql, arguments)
        if first_only and plan.reads_only:
            row = cursor.fetchone()
            return ([] if row is None else [row]), -1
        rows = cursor.fetchall()  # a write runs to its end before the transaction goes on, whatever it returns
        return rows, cursor.rowcount
    except sqlite3.Error as error:
        # The same exception types as the ordinary path, so error handling upstream does not care which ran.
        raise sqlalchemy.exc.DBAPIError.instance(plan.sql, arguments, error, sqlite3.Error) from error


async def run_postgres(
    driver: Any, plan: Plan, arguments: tuple[Any, ...], *, first_only: bool
) -> tuple[list[Any], int]:
    """The rows of ``plan`` run on asyncpg's connection ``driver`` with ``arguments`` (:meth:`Plan.arguments`), only
    the first of a SELECT if ``first_only``, and the rowcount. The driver's own exceptions propagate: translating
    them needs SQLAlchemy's adapter, which the connection holds."""
    if plan.reads_only:
        if first_only:
            row = await driver.fetchrow(plan.sql, *arguments)
            return ([] if row is None else [row]), -1
        return await driver.fetch(plan.sql, *arguments), -1
    if plan.keys:  # a write with RETURNING: one row per row written
        rows = await driver.fetch(plan.sql, *arguments)
        return rows, len(rows)
    status: str = await driver.execute(plan.sql, *arguments)  # "UPDATE 3", "DELETE 0", "INSERT 0 1"
    return [], int(status.rpartition(" ")[2])
