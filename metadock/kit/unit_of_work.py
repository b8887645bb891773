"""The request's unit of work: one transaction per request, handed to every handler by one dependency.

The transaction begins with the request's first database read (for an API request, authentication's credential
lookup; for a console page, its session lookup) or on first use, and it ends once: committed when the handler
returns, rolled back when it raises, and rolled back by :class:`UnitOfWorkMiddleware` if nobody got to it.

Where the handler's transaction begins is the route's declaration (:data:`TRANSACTION`), not something read off the
handler's signature:

- ``Begins.WITH_AUTHENTICATION`` (the default for GET, HEAD and OPTIONS): the handler continues the transaction its
  authentication began, which saves a pool checkout, a BEGIN and a COMMIT per read.
- ``Begins.AT_FIRST_USE`` (the default for every other method): authentication's transaction is committed at once,
  and the handler's first :meth:`UnitOfWork.connection` begins a fresh one (after the body: Litestar reads a
  declared body before it resolves dependencies; a streamed one is read by the handler first). No connection is
  held while a body streams in (a capture may take minutes), and a write never starts from a snapshot older than
  its body.
  A capture does not continue authentication's transaction however small its body: its handler awaits the store
  write, and a transaction left open across that await is one more pooled connection per capture in flight. On
  SQLite each of those connections then finds its page cache stale (another one wrote since it last read) and
  re-reads the pages it touches (~18 reads per capture at 16 in flight, against ~0.5), and the open read snapshots
  hold back the WAL's checkpoints (twice the fsyncs): ~15% of S7's captures/s. On PostgreSQL it saved nothing since
  a read-only transaction sends no ``BEGIN`` (``kit/postgres.py``): the same round trips either way.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, Final, TypeAlias

from litestar import Request
from litestar.di import Dependency, Provide
from litestar.handlers.base import BaseRouteHandler
from litestar.params import SkipValidationMarker
from litestar.types import ASGIApp, Receive, Scope, Send

from metadock.kit.context import runtime_of
from metadock.kit.db import Connection, Database, OpenTransaction

TRANSACTION: Final = "transaction"  # route opt: a Begins value
_STATE_KEY: Final = "metadock_unit_of_work"
_READ_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})


class Begins(enum.StrEnum):
    WITH_AUTHENTICATION = "with_authentication"
    AT_FIRST_USE = "at_first_use"


def continues_authentication(handler: BaseRouteHandler, method: str) -> bool:
    """Whether the handler goes on in the transaction its authentication began (see the module's docstring)."""
    declared = handler.opt.get(TRANSACTION)
    if declared is not None:
        return Begins(declared) is Begins.WITH_AUTHENTICATION
    return method in _READ_METHODS


class UnitOfWork:
    """The request's transaction, begun on first use and finished exactly once.

    :meth:`commit` may be called early, when what was written must stand whatever the handler does next (a failed
    login is counted even though the request answers 401); the next :meth:`connection` then begins a new one.
    """

    __slots__ = ("_database", "_transaction")

    def __init__(self, database: Database) -> None:
        self._database = database
        self._transaction: OpenTransaction | None = None

    @classmethod
    def of(cls, scope: Scope, database: Database) -> UnitOfWork:
        """The request's unit of work, created on first use."""
        state = scope["state"]
        unit: UnitOfWork | None = state.get(_STATE_KEY)
        if unit is None:
            unit = state[_STATE_KEY] = cls(database)
        return unit

    async def connection(self) -> Connection:
        if self._transaction is None:
            self._transaction = await OpenTransaction.begin(self._database)
        return self._transaction.connection

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        """A block whose writes are committed when it ends, before the handler goes on: for work whose next step
        depends on the commit (a capture removes its bytes if its record's commit fails; a failed login is counted
        although the request then fails)."""
        connection = await self.connection()
        try:
            yield connection
        except BaseException:
            await self.rollback()
            raise
        await self.commit()

    async def commit(self) -> None:
        transaction, self._transaction = self._transaction, None
        if transaction is not None:
            await transaction.commit()

    async def rollback(self) -> None:
        transaction, self._transaction = self._transaction, None
        if transaction is not None:
            await transaction.rollback()


async def provide_unit_of_work(request: Request[Any, Any, Any]) -> AsyncGenerator[UnitOfWork, None]:
    """The request owns the transaction: committed when the handler returns, rolled back when it raises."""
    unit = UnitOfWork.of(request.scope, runtime_of(request).database)
    try:
        yield unit
    except BaseException:
        await unit.rollback()
        raise
    await unit.commit()


class UnitOfWorkMiddleware:
    """Rolls back a transaction begun for a request whose handler never ran (authentication or a guard failed)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        finally:
            state = scope.get("state")
            leftover: UnitOfWork | None = state.pop(_STATE_KEY, None) if state is not None else None
            if leftover is not None:
                await leftover.rollback()


# The handler parameter: ``unit: RequestUnitOfWork``. Our own object needs no validation by the framework.
RequestUnitOfWork: TypeAlias = Annotated[UnitOfWork, Dependency(kind="named"), SkipValidationMarker()]
unit_of_work_dependency = {"unit": Provide(provide_unit_of_work)}
