"""One error base class carrying its HTTP status; each API dialect renders it in its own shape.

Services raise these; they never know how an error is rendered. Framework exceptions (unknown route, body too large,
unparseable input) are translated into the same classes by :func:`as_app_error` so that one renderer per dialect
covers everything a client can see.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

import sqlalchemy.exc
from litestar.exceptions import HTTPException, ValidationException

from metadock.kit.connection import UNREACHABLE_STATES
from metadock.kit.db import CommitOutcomeUnknown, DatabaseUnavailable

logger = logging.getLogger("metadock.errors")


@dataclass(frozen=True, slots=True)
class Violation:
    """One invalid input: where it is (a property path such as ``title`` or ``order[foo]``) and what is wrong."""

    path: str
    message: str


@dataclass(eq=False)
class AppError(Exception):
    status: int = 500
    detail: str = "An internal error occurred."
    violations: list[Violation] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.detail)


class Unavailable(Exception):
    """A backing service (named by ``service``) cannot serve right now: 503 with Retry-After. Raised by the code that
    talks to that service; :func:`as_app_error` words it, once for every place it can happen."""

    service = "A backing service"


class OutOfSpace(Unavailable):
    """A backing service has no room for what was sent: 507."""


def bad_request(detail: str) -> AppError:
    return AppError(400, detail)


def validation_failed(violations: list[Violation], status: int = 400) -> AppError:
    detail = "\n".join(f"{v.path}: {v.message}" if v.path else v.message for v in violations)
    return AppError(status, detail, violations)


def unauthenticated(detail: str = "Authentication is required.") -> AppError:
    return AppError(401, detail, headers={"WWW-Authenticate": "Bearer"})


def forbidden(detail: str = "This action is not allowed for your role.") -> AppError:
    return AppError(403, detail)


def not_found(detail: str = "Not Found") -> AppError:
    return AppError(404, detail)


def conflict(detail: str) -> AppError:
    return AppError(409, detail)


def service_unavailable(detail: str) -> AppError:
    return AppError(503, detail, headers={"Retry-After": "5"})


def _framework_detail(status: int, exc: HTTPException) -> str:
    if status == 413:
        return "The request body is too large."
    if status == 404:
        return "Not Found"
    if status == 405:
        return "Method Not Allowed"
    # Litestar's own details for client errors describe the client's input, never our internals.
    return str(exc.detail) if exc.detail else "The request could not be processed."


_SQLITE_BUSY_CODES = (5, 6)  # SQLITE_BUSY, SQLITE_LOCKED


def database_unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` means the database is gone for now: refused at connect (DatabaseUnavailable), a server that
    dropped the connection under a statement, is shutting down or still starting up, or a SQLite database locked by
    another writer past the busy timeout (the drivers' errors, as raised)."""
    if isinstance(exc, DatabaseUnavailable):
        return True
    if isinstance(exc, sqlalchemy.exc.DBAPIError):
        state = getattr(exc.orig, "sqlstate", None)
        # SQLite's BUSY and LOCKED (the low byte of an extended code): another writer held the database past the
        # busy timeout. As temporary as a PostgreSQL restart.
        sqlite_code = getattr(exc.orig, "sqlite_errorcode", None)
        return (
            exc.connection_invalidated
            or (isinstance(state, str) and state.startswith(UNREACHABLE_STATES))
            or (isinstance(sqlite_code, int) and sqlite_code & 0xFF in _SQLITE_BUSY_CODES)
        )
    if isinstance(exc, BaseExceptionGroup):
        # Litestar groups what a dependency raised while cleaning up: a transaction whose rollback met a dead server.
        return all(database_unreachable(inner) for inner in exc.exceptions)
    return False


def as_app_error(exc: Exception) -> AppError:
    """Translate anything raised while serving into an :class:`AppError`, logging what a client must not see."""
    if isinstance(exc, AppError):
        return exc
    if database_unreachable(exc):
        cause = exc.__cause__ if isinstance(exc, DatabaseUnavailable) else exc
        logger.warning("database unavailable: %s", cause.__class__.__name__ if cause else "unknown")
        if isinstance(exc, CommitOutcomeUnknown):
            return service_unavailable(
                "The database became unavailable during the commit: the write may or may not have been recorded."
            )
        return service_unavailable("The database is unavailable; retry shortly.")
    if isinstance(exc, OutOfSpace):
        logger.warning("out of space: %s", exc.service)
        return AppError(507, f"{exc.service} is out of space; nothing was recorded.")
    if isinstance(exc, Unavailable):
        logger.warning("unavailable: %s", exc.service)
        return service_unavailable(f"{exc.service} is unavailable; nothing was recorded. Retry shortly.")
    if isinstance(exc, ValidationException):
        return validation_failed(
            [_violation_from_framework(item) for item in _extra_items(exc)]
            or [Violation("", "The request is malformed.")]
        )
    if isinstance(exc, HTTPException) and exc.status_code < 500:
        status = exc.status_code
        headers = dict(exc.headers or {})
        return AppError(status, _framework_detail(status, exc), headers=headers)
    logger.exception("unhandled error while serving a request", exc_info=exc)
    return AppError()


_MISSING_FIELD = re.compile(r"Object missing required field `(?P<field>[^`]+)`")


def _violation_from_framework(item: dict[str, object]) -> Violation:
    """Litestar reports body errors against the ``data`` argument; clients want the property they sent."""
    key, message = str(item.get("key", "")), str(item.get("message", ""))
    if missing := _MISSING_FIELD.search(message):
        return Violation(missing["field"], "This value should not be blank.")
    if key == "data" and message == repr(key):
        # Litestar's report of an absent argument is the KeyError's text; for ``data`` that means an empty body.
        return Violation("", "The request body should be a JSON object.")
    return Violation("" if key == "data" else key, message)


def _extra_items(exc: ValidationException) -> list[dict[str, object]]:
    extra = exc.extra
    if isinstance(extra, list):
        return [item for item in extra if isinstance(item, dict)]
    return []
