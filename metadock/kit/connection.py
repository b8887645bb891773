"""What a repository sees of the database: :class:`Connection`, the same on SQLite and PostgreSQL, and the seam
through which a dialect's connection runs the statements it has seen before faster than SQLAlchemy would
(``kit/prepared.py``; SQLite's connection in ``kit/db.py``, PostgreSQL's in ``kit/postgres.py``)."""

from __future__ import annotations

import abc
from collections.abc import Mapping
from typing import Any, cast

import sqlalchemy.exc
from sqlalchemy.engine import CursorResult, Result
from sqlalchemy.sql.base import Executable

from metadock.kit import prepared
from metadock.kit.read_ahead import Answer

Params = Mapping[str, Any] | None

# What "the database cannot be reached" looks like: refused or dropped sockets, and a pool with no free connection.
_UNREACHABLE = (OSError, TimeoutError, sqlalchemy.exc.TimeoutError)


# SQLSTATE classes of a database going away or not there yet: 08 connection exceptions, and 57P admin or crash
# shutdown and "cannot connect now" (starting up, shutting down); not 57014, a cancelled statement.
UNREACHABLE_STATES = ("08", "57P")


def connection_lost(error: BaseException) -> bool:
    """Whether the driver's ``error`` (as SQLAlchemy raised it) means the connection is gone: dropped, or ended by
    a server shutting down. Either may come after the server did what was last sent, before it answered."""
    if isinstance(error, _UNREACHABLE):
        return True
    if not isinstance(error, sqlalchemy.exc.DBAPIError):
        return False
    state = getattr(error.orig, "sqlstate", None)
    return error.connection_invalidated or (isinstance(state, str) and state.startswith(UNREACHABLE_STATES))


def commit_refused(error: BaseException) -> bool:
    """Whether ``error``, raised as a transaction's COMMIT was sent, is the database's answer refusing it (a deferred
    constraint, a serialization failure: nothing was committed). Anything else there (the connection lost, the
    caller cancelled, a failure returning the connection) may come after the commit was made."""
    return isinstance(error, sqlalchemy.exc.DBAPIError) and not connection_lost(error)


class DatabaseUnavailable(Exception):
    """The database could not be reached; the HTTP layer answers 503."""


class CommitOutcomeUnknown(DatabaseUnavailable):
    """The connection was lost while the COMMIT was on its way: the server may have committed and its answer been
    lost. A caller must not undo what only a rolled-back transaction would leave (a capture keeps its bytes: at worst
    bytes without a record, which fsck removes, never a record without its bytes). The HTTP layer answers 503."""


class Connection(abc.ABC):
    """What a repository may do: run a statement inside the request's transaction.

    Repositories run every statement, built once or per request, through :meth:`fetch_one`, :meth:`fetch_all`,
    :meth:`scalar`, :meth:`scalars` or :meth:`write`; how it runs is the dialect's connection's business (SQLite
    serves the statements it sees again from a compiled plan, ``kit/prepared.py``). Rows are read-only mappings of
    column name (or label) to value. :meth:`execute` hands back SQLAlchemy's own result, for migrations and tools.
    """

    __slots__ = ()
    # An answer read ahead with the credential (``kit/read_ahead.py``), served to the next statement if it is that
    # read, dropped by any other. Connections that keep one have a slot of this name; others keep none.
    _answer: Answer | None = None
    # Whether authentication should fuse a declared read with the credential's lookup on this connection.
    reads_ahead: bool = False

    @property
    @abc.abstractmethod
    def dialect_name(self) -> str: ...

    def remember(self, answer: Answer) -> None:
        """Keep ``answer`` for the next statement (see ``kit/read_ahead.py``)."""
        self._answer = answer  # type: ignore[misc]  # in the slot the connections that read ahead have

    def _take_answer(self) -> Answer:
        """The answer read ahead (there is one), dropped: it serves the next statement or none."""
        answer = self._answer
        assert answer is not None
        self._answer = None  # type: ignore[misc]  # only a connection with the slot holds one (remember)
        return answer

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
        if self._answer is not None:
            answer = self._take_answer()
            if answer.answers(statement, parameters):
                return answer.row
        if (plan := self._plan(statement, parameters)) is not None:
            rows, _ = await self._run_plan(plan, parameters, first_only=True)
            return plan.mapping(rows[0]) if rows else None
        result = await self.execute(statement, parameters)
        if isinstance(result, CursorResult) and not result.returns_rows:  # a write without RETURNING
            return None
        return cast("Mapping[str, Any] | None", result.mappings().first())

    async def fetch_all(self, statement: Executable, parameters: Params = None) -> list[Mapping[str, Any]]:
        if self._answer is not None:
            self._take_answer()
        if (plan := self._plan(statement, parameters)) is not None:
            rows, _ = await self._run_plan(plan, parameters, first_only=False)
            return [plan.mapping(row) for row in rows]
        result = await self.execute(statement, parameters)
        if isinstance(result, CursorResult) and not result.returns_rows:
            return []
        return [cast("Mapping[str, Any]", row) for row in result.mappings()]

    async def scalar(self, statement: Executable, parameters: Params = None) -> Any:
        """The first column of the first row, or None if there is no row."""
        if self._answer is not None:
            self._take_answer()
        if (plan := self._plan(statement, parameters)) is not None:
            rows, _ = await self._run_plan(plan, parameters, first_only=True)
            return plan.first_value(rows[0]) if rows else None
        return (await self.execute(statement, parameters)).scalar()

    async def scalars(self, statement: Executable, parameters: Params = None) -> list[Any]:
        """The first column of every row."""
        if self._answer is not None:
            self._take_answer()
        if (plan := self._plan(statement, parameters)) is not None:
            rows, _ = await self._run_plan(plan, parameters, first_only=False)
            return [plan.first_value(row) for row in rows]
        return list((await self.execute(statement, parameters)).scalars())

    async def write(self, statement: Executable, parameters: Params = None) -> int:
        """Run a write without RETURNING; the number of rows it matched."""
        if self._answer is not None:
            self._take_answer()
        if (plan := self._plan(statement, parameters)) is not None:
            return (await self._run_plan(plan, parameters, first_only=False))[1]
        return int(getattr(await self.execute(statement, parameters), "rowcount", 0))
