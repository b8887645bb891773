"""PostgreSQL behind the connection seam: the statements a connection sees again run straight on asyncpg, and a
request's transaction begins at its first write.

Through SQLAlchemy's asyncio adapter every statement, ``BEGIN`` and ``COMMIT`` is a switch into a greenlet and back
plus SQLAlchemy's execution machinery, and its pre-ping added a ``BEGIN``, a ``;`` and a ``ROLLBACK`` to every pool
checkout: seven round trips for a read of one record. Here a statement with a plan (``kit/prepared.py``: compiled
once by SQLAlchemy for asyncpg, ``$n`` parameters, the same bind and result processors) runs on asyncpg's connection
with asyncpg's prepared statements, and its rows come back as the same mappings of the same Python values.

The transaction rule: at READ COMMITTED (the engine's isolation level, set explicitly) every statement sees what was
committed before it began, inside a transaction or not. Reads that come before a request's first write therefore
need no transaction; they run on their own, and the first write begins the transaction (``BEGIN`` on the driver),
which holds every write and every read after it, and which the request commits or rolls back. A read-only request
sends no ``BEGIN`` and no ``COMMIT``. A statement on SQLAlchemy's path (seen once, or one no plan can serve) begins
the transaction as SQLAlchemy's adapter always does, which is only stricter. ``SQLite``'s connection follows the same
rule from the other side (its first write after reads begins afresh).

Errors are those of SQLAlchemy's path: the adapter translates the driver's exception, SQLAlchemy wraps it, and a
lost connection is invalidated by SQLAlchemy itself (so ``kit.errors`` answers 503 whichever path met it).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import sqlalchemy.exc
from sqlalchemy import event
from sqlalchemy.engine import Result
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.base import Executable
from sqlalchemy.util import greenlet_spawn

from metadock.kit import prepared
from metadock.kit.connection import Connection, Params

T = TypeVar("T")

ISOLATION_LEVEL = "READ COMMITTED"  # the transaction rule above depends on it

# What every connection sets when it connects (kit/db.py); the benchmark's replays and the tests' plans set the same.
SERVER_SETTINGS = {
    # Every statement here is prepared and run many times. On the partitioned payload table PostgreSQL's default
    # (`auto`) never settles on a generic plan, its cost counting every partition, and so plans each lookup afresh:
    # ~90 µs of server time instead of ~15 µs (plpgsql loop of 20,000 id lookups, 4 or 16 partitions alike). Generic
    # plans still prune partitions as they run.
    "plan_cache_mode": "force_generic_plan",
    # An index probe's cost for data on SSD or in memory, not PostgreSQL's spinning-disk default of 4. At 4 a generic
    # plan priced a page's 100 reads by id (a nested loop, 0.3 ms) above a scan of an average tenant's rows hashed
    # against the page's ids (8 ms on an 18,000-record tenant: S12's page at 0.03x floor on a freshly seeded
    # database); at 1.1 the reads by id cost a third of the scan (tests/test_tag_plans.py).
    "random_page_cost": "1.1",
}


def drop_closed_connections(engine: AsyncEngine) -> None:
    """Hand out no pooled connection that the server has closed (a restart, an idle timeout): asyncpg notices the
    socket's end on the event loop, so the check costs no round trip, where SQLAlchemy's pre-ping cost three."""

    @event.listens_for(engine.sync_engine, "checkout")
    def _on_checkout(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        if dbapi_connection.driver_connection.is_closed():
            raise sqlalchemy.exc.DisconnectionError("the server closed this pooled connection")  # the pool retries


class KeptConnections:
    """Connections kept checked out of SQLAlchemy's pool between transactions (at most as many as the pool allows,
    since each was checked out once); one the server has closed is dropped, not handed out."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._idle: list[AsyncConnection] = []

    async def take(self) -> AsyncConnection:
        while self._idle:
            kept = self._idle.pop()
            if kept.sync_connection.connection.driver_connection.is_closed():  # type: ignore[union-attr]
                await kept.invalidate()
                await kept.close()
                continue
            return kept
        return await self._engine.connect()

    async def give_back(self, connection: PostgresConnection) -> None:
        if connection.reusable:
            self._idle.append(connection._connection)
        else:  # broken, or left in a transaction: back to the pool, which resets or replaces it
            await connection._connection.close()

    async def close(self) -> None:
        while self._idle:
            await self._idle.pop().close()


class PostgresConnection(Connection):
    """A pooled connection for one transaction: plans on the driver, everything else on SQLAlchemy's path."""

    __slots__ = ("_adapter", "_answer", "_connection", "_driver", "_plans")
    reads_ahead = True  # a statement is a round trip: the credential and a first read are fused (kit/read_ahead.py)

    def __init__(self, connection: AsyncConnection, plans: prepared.PlanCache) -> None:
        self._answer = None
        self._connection = connection
        self._plans = plans
        pooled: Any = connection.sync_connection.connection  # type: ignore[union-attr]  # just checked out: no I/O
        self._adapter: Any = pooled.dbapi_connection  # SQLAlchemy's asyncpg adapter: it tracks the transaction
        self._driver: Any = pooled.driver_connection  # asyncpg's connection

    @property
    def dialect_name(self) -> str:
        return "postgresql"

    @property
    def reusable(self) -> bool:
        """Whether the next transaction may have this connection: alive, and its transaction finished."""
        connection = self._connection
        return not (
            connection.invalidated
            or connection.in_transaction()
            or self._adapter._transaction is not None
            or self._driver.is_closed()
        )

    async def execute(self, statement: Executable, parameters: Params = None) -> Result[Any]:
        self._answer = None
        return await self._connection.execute(statement, parameters)

    def _plan(self, statement: Executable, parameters: Params) -> prepared.Plan | None:
        return self._plans.plan(statement, parameters)

    async def _run_plan(self, plan: prepared.Plan, parameters: Params, *, first_only: bool) -> tuple[list[Any], int]:
        arguments = plan.arguments(parameters)
        if not plan.reads_only and self._adapter._transaction is None:
            # The adapter's own BEGIN (at the engine's isolation level), so that SQLAlchemy's path, should a later
            # statement take it, sees the transaction and goes on in it.
            await self._on_driver(self._adapter._start_transaction, "BEGIN")
        return await self._on_driver(
            lambda: prepared.run_postgres(self._driver, plan, arguments, first_only=first_only), plan.sql, arguments
        )

    async def commit(self) -> None:
        if self._connection.in_transaction():  # SQLAlchemy's path ran a statement: its bookkeeping commits
            await self._connection.commit()
        elif (transaction := self._adapter._transaction) is not None:
            await self._on_driver(lambda: self._adapter._call_and_discard(transaction.commit), "COMMIT")

    async def rollback(self) -> None:
        if self._connection.in_transaction():
            await self._connection.rollback()
        elif (transaction := self._adapter._transaction) is not None:
            await self._on_driver(lambda: self._adapter._call_and_discard(transaction.rollback), "ROLLBACK")

    async def _on_driver(self, call: Callable[[], Awaitable[T]], sql: str, arguments: tuple[Any, ...] = ()) -> T:
        """``call`` on the driver, its errors raised as SQLAlchemy's path raises them."""
        try:
            return await call()
        except Exception as error:
            raise await self._as_sqlalchemy_would(error, sql, arguments) from error
        except BaseException:
            # Cancelled mid-call: what the driver has in flight is unknown, so the connection is not reused.
            await self._connection.invalidate()
            raise

    async def _as_sqlalchemy_would(self, error: Exception, sql: str, arguments: tuple[Any, ...]) -> Exception:
        """The exception SQLAlchemy's path raises for the driver's ``error``."""
        dialect = self._connection.dialect
        dbapi_error: type[Exception] = dialect.loaded_dbapi.Error
        try:
            self._adapter._handle_exception(error)  # raises the DB-API error that SQLAlchemy's adapter makes of it
        except Exception as translated:  # noqa: BLE001 - returned, for the caller to raise
            if not isinstance(translated, dbapi_error):
                return translated  # not the database's: SQLAlchemy lets it through
            if not dialect.is_disconnect(translated, self._adapter, None):  # type: ignore[arg-type]
                return sqlalchemy.exc.DBAPIError.instance(sql, arguments, translated, dbapi_error, dialect=dialect)
            # Lost: SQLAlchemy's own handling invalidates this connection and the pool's older ones, and its error
            # says so (kit.errors answers 503).
            sync_connection: Any = self._connection.sync_connection
            try:
                await greenlet_spawn(sync_connection._handle_dbapi_exception, translated, sql, arguments, None, None)
            except sqlalchemy.exc.DBAPIError as raised:
                return raised
            return translated  # pragma: no cover - SQLAlchemy's handler always raises
        return error  # pragma: no cover - the adapter raises for every error
