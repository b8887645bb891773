"""Shared by the plan tests (test_tag_plans.py, test_title_index.py): the statements a repository runs, recorded, and
the database's plan for one of them with its values.

On PostgreSQL the generic plan of the prepared statement, as asyncpg prepares it, with the settings Metadock's
connections run (kit/postgres.py SERVER_SETTINGS: generic plans, an SSD's random page cost): the plan that serves
every value once PostgreSQL settles on it."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import asyncpg
from sqlalchemy import ClauseElement, Result, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.base import Executable

from metadock.kit import postgres
from metadock.kit.db import Connection
from tests.factories import run_in_transaction


class StatementRecorder(Connection):
    """Runs every statement as the connection it wraps and keeps it with its parameters."""

    __slots__ = ("inner", "statements")

    def __init__(self, inner: Connection) -> None:
        self.inner = inner
        self.statements: list[tuple[Executable, dict[str, Any]]] = []

    @property
    def dialect_name(self) -> str:
        return self.inner.dialect_name

    async def execute(self, statement: Executable, parameters: Any = None) -> Result[Any]:
        self.statements.append((statement, dict(parameters or {})))
        return await self.inner.execute(statement, parameters)


def plan_of(
    database_url: str,
    statement: Executable,
    parameters: dict[str, Any],
    *,
    pg_setup: Sequence[str] = (),
    pg_explain: str = "EXPLAIN",
) -> str:
    """The plan of ``statement`` with ``parameters``: SQLite's EXPLAIN QUERY PLAN (a step a line), or PostgreSQL's
    generic plan through ``pg_explain`` (e.g. ``EXPLAIN (FORMAT JSON)``) after the ``pg_setup`` statements, each run
    on its own (a VACUUM, a SET)."""
    assert isinstance(statement, ClauseElement)
    if database_url.startswith("sqlite"):
        bound: Any = statement.params(parameters)
        sql = str(bound.compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}))

        async def explain(connection: Connection) -> str:
            rows = await connection.execute(text("EXPLAIN QUERY PLAN " + sql))
            return "\n".join(str(row[-1]) for row in rows)

        return run_in_transaction(database_url, explain)
    compiled: Any = statement.compile(dialect=postgresql.asyncpg.dialect())  # type: ignore[no-untyped-call]
    values = compiled.construct_params(parameters)
    return asyncio.run(
        _generic_plan(
            database_url, str(compiled), [values[name] for name in compiled.positiontup], pg_setup, pg_explain
        )
    )


async def _generic_plan(database_url: str, sql: str, values: list[Any], setup: Sequence[str], explain: str) -> str:
    connection = await asyncpg.connect(database_url, server_settings=postgres.SERVER_SETTINGS)  # as the server's
    try:
        for statement in setup:
            await connection.execute(statement)
        await connection.execute(f"PREPARE planned AS {sql}")
        arguments = ", ".join(str(value) if isinstance(value, int) else _quoted(str(value)) for value in values)
        rows = await connection.fetch(f"{explain} EXECUTE planned({arguments})")
        return "\n".join(str(row[0]) for row in rows)
    finally:
        await connection.close()


def _quoted(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"
