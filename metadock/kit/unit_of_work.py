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
- ``Begins.WITH_AUTHENTICATION_IF_SMALL`` (a capture): a body whose ``Content-Length`` announces at most
  :data:`SMALL_BODY_BYTES` continues authentication's transaction, any other (larger or chunked) begins at first
  use. A small body is in hand within a packet or two, so continuing holds the connection no longer than the
  handler's own work, and saves a pool checkout (with its liveness check), a BEGIN and a COMMIT per request.
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
SMALL_BODY_BYTES: Final = 64 * 1024
_STATE_KEY: Final = "metadock_unit_of_work"
_READ_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})


class Begins(enum.StrEnum):
    WITH_AUTHENTICATION = "with_authentication"
    AT_FIRST_USE = "at_first_use"
    WITH_AUTHENTICATION_IF_SMALL = "with_authentication_if_small"


def continues_authentication(handler: BaseRouteHandler, method: str, content_length: str | None = None) -> bool:
    """Whether the handler goes on in the transaction its authentication began (see the module's docstring)."""
    declared = handler.opt.get(TRANSACTION)
    if declared is None:
        return method in _READ_METHODS
    begins = Begins(declared)
    if begins is Begins.WITH_AUTHENTICATION_IF_SMALL:
        return content_length is not None and content_length.isdigit() and int(content_length) <= SMALL_BODY_BYTES
    return begins is Begins.WITH_AUTHENTICATION


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
