"""One database seam for two access paths.

SQLite is embedded: a query takes tens of microseconds, so a thread hop per call (aiosqlite, ~0.4 ms measured here)
would cost more than the query. SQLite statements therefore run synchronously on the event loop through SQLAlchemy's
pysqlite driver. PostgreSQL is remote, so it goes through asyncpg (``kit/postgres.py``). Repositories only see
:class:`Connection` (``kit/connection.py``), whose methods are awaitable in both cases, and which decides per dialect
how each statement runs (``kit/prepared.py``).

Because SQLite work runs on the loop, a write transaction must never span an ``await`` that yields to another
request (a second writer in the same process would wait on ``busy_timeout`` while blocking the loop that the first
writer needs to commit). Writes are therefore single statements issued just before the request commits.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
from sqlalchemy import JSON, MetaData, create_engine, event, make_url, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection as SyncConnection
from sqlalchemy.engine import Engine, Result
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.sql.base import Executable

from metadock.kit import postgres, prepared
from metadock.kit.connection import _UNREACHABLE, Params, connection_lost
from metadock.kit.connection import CommitOutcomeUnknown as CommitOutcomeUnknown
from metadock.kit.connection import Connection as Connection  # re-exported: repositories import it here
from metadock.kit.connection import DatabaseUnavailable as DatabaseUnavailable
from metadock.kit.connection import commit_refused as commit_refused
from metadock.kit.timestamps import UTCDateTime as UTCDateTime  # re-exported: tables and migrations import it here
from metadock.kit.tracing import TracedConnection

if TYPE_CHECKING:
    from opentelemetry.trace import Tracer

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


class _SqliteConnection(Connection):
    """SQLite's rule, kept here so that no service has to know it: a read snapshot cannot become a write once another
    connection has committed after it was taken (SQLITE_BUSY_SNAPSHOT, at once, whatever the busy timeout), and a
    transaction's reads may be separated from its first write by an ``await`` that let others commit (a login hashes
    its password in a thread). So the first write of a transaction that has only read begins a fresh one: the reads
    end (they wrote nothing) and the write sees the latest data, as every statement does at PostgreSQL's read
    committed. Decisions taken on the reads are guarded by the writes themselves (``WHERE version = ?``, unique
    constraints), on both databases."""

    __slots__ = ("_answer", "_connection", "_has_read", "_has_written", "_plans")

    def __init__(self, connection: SyncConnection, plans: prepared.PlanCache) -> None:
        self._answer = None
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
        self._answer = None
        self._before(statement)
        return self._connection.execute(statement, parameters)

    # Statements seen before run on the driver with their plan, inside the transaction SQLAlchemy's connection began.

    def _plan(self, statement: Executable, parameters: Params) -> prepared.Plan | None:
        return self._plans.plan(statement, parameters)

    async def _run_plan(self, plan: prepared.Plan, parameters: Params, *, first_only: bool) -> tuple[list[Any], int]:
        self._before(plan.statement)
        driver: Any = self._connection.connection.driver_connection
        return prepared.run_sqlite(driver, plan, parameters, first_only=first_only)


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
        # Before anything creates a table: a new database keeps a map of free pages, so that pruning can hand them
        # back to the file system (``reclaim_free_pages``). An existing database ignores it until ``vacuum``.
        cursor.execute("PRAGMA auto_vacuum=INCREMENTAL")
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


_INCREMENTAL = 2  # PRAGMA auto_vacuum's value for INCREMENTAL
RECLAIM_STEP_PAGES = 2048  # 8 MiB of 4 KiB pages per write transaction


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

    def __init__(
        self, url: str, *, pool_size: int = 10, plan_cache_size: int = 256, tracer: Tracer | None = None
    ) -> None:
        self.url = normalize_url(url)
        # With a tracer, connections are handed out wrapped so that every statement is a span; without, unwrapped:
        # tracing off costs one attribute test per transaction, nothing per statement.
        self.tracer = tracer
        # For /metrics: transactions holding a connection, waiting for one, and the most that can be held.
        self.in_use = 0
        self.waiting = 0
        self.max_connections = pool_size * 2  # pool_size + max_overflow
        self._sync: Engine | None = None
        self._async: AsyncEngine | None = None
        # Waiting for a connection is waiting for a slot, asynchronously: SQLite's pool hands out connections
        # synchronously (an exhausted one would block the loop its holders need), and PostgreSQL's connections are
        # kept between transactions, out of the pool's sight (a waiter inside the pool would never see one given
        # back, and would time out with idle connections at hand).
        self._slots = asyncio.Semaphore(self.max_connections)
        self.plans: prepared.PlanCache  # shared by the connections: a plan depends on the statement and dialect only
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
            self.plans = prepared.PlanCache(self._sync.dialect, plan_cache_size)
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
                isolation_level=postgres.ISOLATION_LEVEL,
                connect_args={"server_settings": postgres.SERVER_SETTINGS},
            )
            postgres.drop_closed_connections(self._async)
            self.plans = prepared.PlanCache(self._async.sync_engine.dialect, plan_cache_size)
            # Kept checked out between transactions, as SQLite's are: a checkout and a check-in through SQLAlchemy's
            # pool are two greenlet switches and more Python than a read's own statements (~0.1 ms measured).
            self._kept = postgres.KeptConnections(self._async)

    @property
    def dialect_name(self) -> str:
        return "sqlite" if self._sync is not None else "postgresql"

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        if self._sync is not None:
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
                        sqlite_connection = _SqliteConnection(sync_connection, self.plans)
                        yield (
                            sqlite_connection
                            if self.tracer is None
                            else TracedConnection(sqlite_connection, self.tracer)
                        )
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
        self.waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self.waiting -= 1
        try:
            async_connection = await self._kept.take()
        except BaseException as error:
            self._slots.release()
            if isinstance(error, _UNREACHABLE):
                raise DatabaseUnavailable("the database is unreachable") from error
            raise
        self.in_use += 1
        connection = postgres.PostgresConnection(async_connection, self.plans)
        try:
            try:
                yield connection if self.tracer is None else TracedConnection(connection, self.tracer)
            except BaseException:
                await connection.rollback()
                raise
            try:
                await connection.commit()
            except Exception as error:
                # The connection lost under the COMMIT, or ended by a shutting-down server (whose FATAL may come
                # after the commit was made durable, in place of its answer): whether it committed is unknown. An
                # ordinary error the server answered with (a deferred constraint) means it did not: raised as it came.
                if connection_lost(error):
                    raise CommitOutcomeUnknown("the connection was lost during the commit") from error
                raise
        finally:
            self.in_use -= 1
            try:
                await self._kept.give_back(connection)
            finally:
                self._slots.release()

    async def run_sync(self, function: Callable[[SyncConnection], object]) -> None:
        """Run ``function`` with a synchronous connection in a transaction (migrations use this)."""
        if self._sync is not None:
            with self._sync.begin() as connection:
                function(connection)
            return
        assert self._async is not None
        async with self._async.begin() as connection:
            await connection.run_sync(function)

    async def reclaim_free_pages(self, *, pages_per_step: int = RECLAIM_STEP_PAGES) -> int:
        """SQLite with ``auto_vacuum=INCREMENTAL``: give the file's free pages back to the file system, a few
        thousand per write transaction so that serving writers interleave; return how many were freed. A no-op on
        PostgreSQL (autovacuum makes deleted rows' space reusable) and on a database created without the setting
        (``vacuum`` converts it)."""
        if self._sync is None:
            return 0
        freed = 0
        while True:
            with self._sync.connect() as connection:
                driver: Any = connection.connection.driver_connection
                free = int(driver.execute("PRAGMA freelist_count").fetchone()[0])
                if not free or int(driver.execute("PRAGMA auto_vacuum").fetchone()[0]) != _INCREMENTAL:
                    # The file shrinks when the WAL's frames reach it. PASSIVE waits for no one (TRUNCATE would hold
                    # the write lock while waiting for readers); what it cannot copy now, the next checkpoint does.
                    driver.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    return freed
                # Each step is one statement: it takes the write lock (waiting behind others) and commits alone.
                # The rows must be fetched: the pragma frees one page per row it returns.
                driver.execute(f"PRAGMA incremental_vacuum({int(pages_per_step)})").fetchall()
                freed += min(free, pages_per_step)
            await asyncio.sleep(0)  # let the serving loop in between steps

    async def vacuum(self) -> None:
        """Rewrite the database compactly. SQLite: the whole file is rebuilt (and switched to
        ``auto_vacuum=INCREMENTAL``); it blocks writers for its duration and needs free disk space as large as the
        file. PostgreSQL: a plain ``VACUUM (ANALYZE)``, which runs alongside reads and writes."""
        if self._sync is not None:
            with self._sync.connect() as connection:
                driver: Any = connection.connection.driver_connection
                driver.execute("PRAGMA auto_vacuum=INCREMENTAL")
                driver.execute("VACUUM")
                driver.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
            return
        assert self._async is not None
        async with self._async.connect() as connection:
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            await autocommit.execute(text("VACUUM (ANALYZE)"))

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
            await self._kept.close()
            await self._async.dispose()
