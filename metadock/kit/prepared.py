"""Hot statements on SQLite, run on the driver with the plan SQLAlchemy compiled once.

Every authenticated request looks up its credential and most reads fetch one row by key. On SQLite such a query
takes a few microseconds, while SQLAlchemy's per-execution machinery around it (execution context, events, result
set-up) measured ~40 µs: the largest single cost of ``GET /metadatas/{uuid}``. For a statement built once at import,
the SQL text, the order of its parameters and the type processors of its binds and columns never change, so they
are taken from SQLAlchemy's own compilation once and reused. The rows come back as plain dicts with the same keys
and the same Python values as ``result.mappings().first()``; PostgreSQL keeps the ordinary path.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy.exc
from sqlalchemy import Insert, Select
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.base import Executable

Processor = Callable[[Any], Any] | None


@dataclass(frozen=True, slots=True)
class _Plan:
    statement: Executable  # held so that the id used as the cache key is never reused by another object
    sql: str
    compiled: Any
    bind_names: tuple[str, ...]
    bind_processors: tuple[Processor, ...]
    keys: tuple[str, ...]
    result_processors: tuple[tuple[int, Callable[[Any], Any]], ...]  # (column index, processor), only where needed


_PLANS: dict[tuple[int, tuple[str, ...]], _Plan] = {}


def _plan(statement: Executable, dialect: Dialect, column_keys: tuple[str, ...]) -> _Plan:
    # column_keys: an INSERT's columns are the keys of its parameters, so its SQL depends on them.
    compiled: Any = statement.compile(dialect=dialect, column_keys=list(column_keys))  # type: ignore[attr-defined]
    positions = compiled.positiontup
    if positions is None or "POSTCOMPILE" in compiled.string:
        raise ValueError("only statements with plain positional parameters can be prepared")
    if compiled.insert_prefetch or compiled.update_prefetch:
        raise ValueError("statements whose columns have Python-side defaults cannot be prepared")
    columns = list(getattr(statement, "exported_columns", ()))
    return _Plan(
        statement=statement,
        sql=compiled.string,
        compiled=compiled,
        bind_names=tuple(positions),
        bind_processors=tuple(
            compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect) for name in positions
        ),
        keys=tuple(str(column.key) for column in columns),
        result_processors=tuple(
            (index, process)
            for index, column in enumerate(columns)
            if (process := column.type.dialect_impl(dialect).result_processor(dialect, None)) is not None
        ),
    )


def _run(
    driver: sqlite3.Connection, dialect: Dialect, statement: Executable, parameters: dict[str, Any]
) -> tuple[_Plan, sqlite3.Cursor]:
    cache_key = (id(statement), tuple(parameters) if isinstance(statement, Insert) else ())
    plan = _PLANS.get(cache_key)
    if plan is None:
        plan = _PLANS[cache_key] = _plan(statement, dialect, cache_key[1])
    values = plan.compiled.construct_params(parameters)  # the caller's values plus any bound in the statement
    arguments = tuple(
        value if process is None else process(value)
        for value, process in zip((values[name] for name in plan.bind_names), plan.bind_processors, strict=True)
    )
    try:
        return plan, driver.execute(plan.sql, arguments)
    except sqlite3.Error as error:
        # The same exception types as the ordinary path, so error handling upstream does not care which ran.
        raise sqlalchemy.exc.DBAPIError.instance(plan.sql, arguments, error, sqlite3.Error) from error


def _as_dict(plan: _Plan, row: tuple[Any, ...]) -> dict[str, Any]:
    if not plan.result_processors:
        return dict(zip(plan.keys, row, strict=True))
    values = list(row)
    for index, process in plan.result_processors:
        values[index] = process(values[index])
    return dict(zip(plan.keys, values, strict=True))


def fetch_one(
    driver: sqlite3.Connection, dialect: Dialect, statement: Executable, parameters: dict[str, Any]
) -> dict[str, Any] | None:
    """The first row of ``statement`` (built once and kept) as a dict, or None."""
    plan, cursor = _run(driver, dialect, statement, parameters)
    if isinstance(statement, Select):
        row = cursor.fetchone()
    else:  # a write runs to its end before the transaction goes on, whatever it returns
        rows = cursor.fetchall()
        row = rows[0] if rows else None
    return None if row is None else _as_dict(plan, row)


def fetch_all(
    driver: sqlite3.Connection, dialect: Dialect, statement: Executable, parameters: dict[str, Any]
) -> list[dict[str, Any]]:
    """Every row of ``statement`` (built once and kept) as dicts."""
    plan, cursor = _run(driver, dialect, statement, parameters)
    return [_as_dict(plan, row) for row in cursor.fetchall()]
