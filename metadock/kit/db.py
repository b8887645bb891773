"""One database seam for two access paths.

SQLite is embedded: a query takes tens of microseconds, so a thread hop per call (aiosqlite, ~0.4 ms measured here)
would cost more than the query. SQLite statements therefore run synchronously on the event loop through SQLAlchemy's
pysqlite driver. PostgreSQL is remote, so it goes through asyncpg. Repositories only see :class:`Connection`, whose
methods are awaitable in both cases, and which decides per dialect how each statement runs (``kit/prepared.py``).

Because SQLite work runs on the loop, a write transaction must never span an ``await`` that yields to another
request (a second writer in the same process would wait on ``busy_timeout`` while blocking the loop that the first
writer needs to commit). Writes are therefore single statements issued just before the request commits.
"""

from __future__ import annotations

import abc
import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any, cast

import msgspec
import sqlalchemy.exc
from sqlalchemy import JSON, MetaData, create_engine, event, make_url, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection as SyncConnection
from sqlalchemy.engine import CursorResult, Engine, Result
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.sql.base import Executable

from metadock.kit import prepared
from metadock.kit.timestamps import UTCDateTime as UTCDateTime  # re-exported: tables and migrations import it here

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
    }
)

JsonValue = JSON().with_variant(JSONB(), "postgresql")


Params = Mapping[str, Any] | None

# What "the database cannot be reached" looks like: refused or dropped sockets, and a pool with no free connection.
_UNREACHABLE = (OSError, TimeoutError, sqlalchemy.exc.TimeoutError)


class DatabaseUnavailable(Exception):
    """The database could not be reached; the HTTP layer answers 503."""


class Connection(abc.ABC):
    """What a repository may do: run a statement inside the request's transaction.

    Repositories run every statement, built once or per request, through :meth:`fetch_one`, :meth:`fetch_all`,
    :meth:`scalar`, :meth:`scalars` or :meth:`write`; how it runs is the dialect's connection's business (SQLite
    serves the statements it sees again from a compiled plan, ``kit/prepared.py``). Rows are read-only mappings of
    column name (or label) to value. :meth:`execute` hands back SQLAlchemy's own result, for migrations and tools.
    """

    __slots__ = ()

    @property
    @abc.abstractmethod
    def dialect_name(self) -> str: ...

    @abc.abstractmethod
    async def execute(self, statement: Executable, parameters: Params = None) -> Result[Any]: ...

    # The seam: a dialect's connection that can run a statement faster than SQLAlchemy returns a plan for it from
    # _plan and runs it in _run_plan; every other statement takes SQLAlchemy's path.

    def _plan(self, statement: Executable, parameters: Params) -> prepared.Plan | None:  # noqa: ARG002
        return None

    async def _run_plan(self, plan: prepared.Plan, parameters: Params, *, first_only: bool) -> tuple[list[Any], int]:
        """The plan's rows as tuples (only the first of a SELECT if ``first_only``) and the rowcount."""
        raise NotImplementedError

    async def fetch_one(self, statement: Executable, parameters: Params = None) -> Mapping[str, Any] | None:
        """The first row, or None; a write with RETURNING runs to its end all the same."""
        if (plan := self._plan(statement, parameters)) is not None:
            rows, _ = await self._run_plan(plan, parameters, first_only=True)
            return plan.mapping(rows[0]) if rows else None
        result = await self.execute(statement, parameters)
        if isinstance(result, CursorResult) and not result.returns_rows:  # a write without RETURNING
            return None
        return cast("Mapping[str, Any] | None", result.mappings().first())

    async def fetch_all(self, statement: Executable, parameters: Params = None) -> list[Mapping[str, Any]]:
        if (plan := self._plan(statement, parameters)) is not None:
            rows, _ = await self._run_plan(plan, parameters, first_only=False)
            return [plan.mapping(row) for row in rows]
        result = await self.execute(statement, parameters)
        if isinstance(result, CursorResult) and not result.returns_rows:
            return []
        return [cast("Mapping[str, Any]", row) for row in result.mappings()]

    async def scalar(self, statement: Executable, parameters: Params = None) -> Any:
        """The first column of the first row, or None if there is no row."""
        if (plan := self._plan(statement, parameters)) is not None:
            rows, _ = await self._run_plan(plan, parameters, first_only=True)
            return plan.first_value(rows[0]) if rows else None
        return (await self.execute(statement, parameters)).scalar()

    async def scalars(self, statement: Executable, parameters: Params = None) -> list[Any]:
        """The first column of every row."""
        if (plan := self._plan(statement, parameters)) is not None:
            rows, _ = await self._run_plan(plan, parameters, first_only=False)
            return [plan.first_value(row) for row in rows]
        return list((await self.execute(statement, parameters)).scalars())

    async def write(self, statement: Executable, parameters: Params = None) -> int:
        """Run a write without RETURNING; the number of rows it matched."""
        if (plan := self._plan(statement, parameters)) is not None:
            return (await self._run_plan(plan, parameters, first_only=False))[1]
        return int(getattr(await self.execute(statement, parameters), "rowcount", 0))


class _SqliteConnection(Connection):
    """SQLite's rule, kept here so that no service has to know it: a read snapshot cannot become a write once another
    connection has committed after it was taken (SQLITE_BUSY_SNAPSHOT, at once, whatever the busy timeout), and a
    transaction's reads may be separated from its first write by an ``await`` that let others commit (a login hashes
    its password in a thread). So the first write of a transaction that has only read begins a fresh one: the reads
    end (they wrote nothing) and the write sees the latest data, as every statement does at PostgreSQL's read
    committed. Decisions taken on the reads are guarded by the writes themselves (``WHERE version = ?``, unique
    constraints), on both databases."""

    __slots__ = ("_connection", "_has_read", "_has_written", "_plans")

    def __init__(self, connection: SyncConnection, plans: prepared.PlanCache) -> None:
        self._connection = connection
        self._plans = plans
        self._has_read = False
        self._has_written = False

    @property
    def dialect_name(self) -> str:
        return "sqlite"

    def _before(self, statement: Executable) -> None:
        if self._has_written:
            return
        if not getattr(statement, "is_dml", False):
            self._has_read = True
            return
        if self._has_read:
            # Behind SQLAlchemy's back on purpose: its transaction stays open and commits what follows at the end.
            driver: Any = self._connection.connection.driver_connection
            driver.execute("COMMIT")
            driver.execute("BEGIN")
        self._has_written = True

    async def execute(self, statement: Executable, parameters: Params = None) -> Result[Any]:
        self._before(statement)
        return self._connection.execute(statement, parameters)

    # Statements seen before run on the driver with their plan, inside the transaction SQLAlchemy's connection began.

    def _plan(self, statement: Executable, parameters: Params) -> prepared.Plan | None:
        return self._plans.plan(statement, parameters)

    async def _run_plan(self, plan: prepared.Plan, parameters: Params, *, first_only: bool) -> tuple[list[Any], int]:
        self._before(plan.statement)
        driver: Any = self._connection.connection.driver_connection
        return prepared.run_sqlite(driver, plan, parameters, first_only=first_only)


class _PostgresConnection(Connection):
    """The ordinary path for every statement, for now. PostgreSQL's fast path goes here, as SQLite's does above:
    ``_plan`` from a :class:`prepared.PlanCache` of the asyncpg dialect, ``_run_plan`` with asyncpg's prepared
    statements on the driver connection."""

    __slots__ = ("_connection",)

    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    @property
    def dialect_name(self) -> str:
        return "postgresql"

    async def execute(self, statement: Executable, parameters: Params = None) -> Result[Any]:
        return await self._connection.execute(statement, parameters)


def _json_serializer(value: object) -> str:
    return msgspec.json.encode(value).decode()


def normalize_url(url: str) -> str:
    """Map the user-facing URL schemes onto the drivers Metadock uses."""
    if url.startswith("sqlite://") and not url.startswith("sqlite+"):
        return "sqlite+pysqlite://" + url.removeprefix("sqlite://")
    for scheme in ("postgresql://", "postgres://", "postgresql+psycopg://", "postgresql+asyncpg://"):
        if url.startswith(scheme):
            return "postgresql+asyncpg://" + url.removeprefix(scheme)
    raise ValueError("database URL must start with sqlite:/// or postgresql://")


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # isolation_level=None hands transaction control to us (the "begin" hook below) instead of pysqlite's
        # implicit, statement-sniffing BEGIN.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: SyncConnection) -> None:
        # Straight to the driver: through exec_driver_sql, BEGIN alone cost ~60 µs of execution-context set-up.
        driver = connection.connection.driver_connection
        assert driver is not None  # a connection that is beginning a transaction is open
        driver.execute("BEGIN")


class _RolledBack(Exception):
    """Thrown into a transaction to end it with a rollback."""


class OpenTransaction:
    """A transaction begun in one place and finished in another, exactly once.

    Authentication begins the request's transaction (the credential lookup is its first read) and the request's
    connection dependency finishes it; whoever began it rolls back what nobody finished.
    """

    __slots__ = ("_manager", "_open", "connection")

    def __init__(self, manager: AbstractAsyncContextManager[Connection], connection: Connection) -> None:
        self._manager = manager
        self._open = True
        self.connection = connection

    @classmethod
    async def begin(cls, database: Database) -> OpenTransaction:
        manager = database.transaction()
        return cls(manager, await manager.__aenter__())

    async def commit(self) -> None:
        if self._open:
            self._open = False
            await self._manager.__aexit__(None, None, None)

    async def rollback(self) -> None:
        if self._open:
            self._open = False
            error = _RolledBack()
            await self._manager.__aexit__(_RolledBack, error, None)


class Database:
    """Owns the engine; hands out connections wrapped in a transaction (commit on success, roll back on error)."""

    def __init__(self, url: str, *, pool_size: int = 10, plan_cache_size: int = 256) -> None:
        self.url = normalize_url(url)
        # For /metrics: transactions holding a connection, waiting for one, and the most that can be held.
        self.in_use = 0
        self.waiting = 0
        self.max_connections = pool_size * 2  # pool_size + max_overflow
        self._sync: Engine | None = None
        self._async: AsyncEngine | None = None
        self.plans: prepared.PlanCache | None = None  # PostgreSQL runs every statement on the ordinary path for now
        if self.url.startswith("sqlite"):
            database_file = make_url(self.url).database
            if database_file and database_file != ":memory:":
                Path(database_file).parent.mkdir(parents=True, exist_ok=True)
            self._sync = create_engine(
                self.url,
                connect_args={"check_same_thread": False},
                json_serializer=_json_serializer,
                json_deserializer=msgspec.json.decode,
                pool_size=pool_size,
                max_overflow=pool_size,
            )
            _configure_sqlite(self._sync)
            # Shared by this database's connections: a plan depends on the statement and the dialect only.
            self.plans = prepared.PlanCache(self._sync.dialect, plan_cache_size)
            self._slots = asyncio.Semaphore(pool_size * 2)  # pool_size + max_overflow
            # Connections kept checked out between transactions: a pool checkout and check-in cost more than the
            # whole SQLite read they would wrap. The semaphore bounds how many exist.
            self._idle: list[SyncConnection] = []
        else:
            self._async = create_async_engine(
                self.url,
                json_serializer=_json_serializer,
                json_deserializer=msgspec.json.decode,
                pool_size=pool_size,
                max_overflow=pool_size,
                pool_pre_ping=True,
            )

    @property
    def dialect_name(self) -> str:
        return "sqlite" if self._sync is not None else "postgresql"

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        if self._sync is not None:
            assert self.plans is not None  # SQLite's connections always have their plans
            # The pool hands out connections synchronously; were it exhausted it would block the event loop that
            # the holders need to finish. Waiting for a slot here is asynchronous, so the pool never waits.
            self.waiting += 1
            try:
                await self._slots.acquire()
            finally:
                self.waiting -= 1
            self.in_use += 1
            try:
                sync_connection = self._idle.pop() if self._idle else self._sync.connect()
                try:
                    with sync_connection.begin():
                        yield _SqliteConnection(sync_connection, self.plans)
                finally:
                    if sync_connection.invalidated or sync_connection.in_transaction():
                        sync_connection.close()  # broken or left mid-transaction: back to the pool, which resets it
                    else:
                        self._idle.append(sync_connection)
            finally:
                self.in_use -= 1
                self._slots.release()
            return
        assert self._async is not None
        context = self._async.begin()
        self.waiting += 1
        try:
            async_connection = await context.__aenter__()
        except _UNREACHABLE as error:
            raise DatabaseUnavailable("the database is unreachable") from error
        finally:
            self.waiting -= 1
        self.in_use += 1
        try:
            try:
                yield _PostgresConnection(async_connection)
            except BaseException as error:
                await context.__aexit__(type(error), error, error.__traceback__)
                raise
            try:
                await context.__aexit__(None, None, None)
            except _UNREACHABLE as error:
                raise DatabaseUnavailable("the database became unreachable before the commit") from error
        finally:
            self.in_use -= 1

    async def run_sync(self, function: Callable[[SyncConnection], object]) -> None:
        """Run ``function`` with a synchronous connection in a transaction (migrations use this)."""
        if self._sync is not None:
            with self._sync.begin() as connection:
                function(connection)
            return
        assert self._async is not None
        async with self._async.begin() as connection:
            await connection.run_sync(function)

    async def ping(self) -> bool:
        try:
            async with self.transaction() as connection:
                await connection.execute(text("SELECT 1"))
        except Exception:  # noqa: BLE001 - readiness reports any failure as "not ready"
            return False
        return True

    async def dispose(self) -> None:
        if self._sync is not None:
            while self._idle:
                self._idle.pop().close()
            self._sync.dispose()
        if self._async is not None:
            await self._async.dispose()
