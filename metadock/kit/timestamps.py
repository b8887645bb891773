"""Column types for timestamps: stored in UTC on both databases, read as aware datetimes or as the text a resource
prints."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from sqlalchemy import DateTime, String, TypeDecorator
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

# How SQLAlchemy stores a datetime in SQLite: always with microseconds, a space for the ``T``, no offset (ours are UTC).
_SQLITE_STORED_LENGTH = 26


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC datetimes on both databases (SQLite stores them naive; we re-attach UTC on the way out)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:  # noqa: ARG002
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class _TextOnPostgres(FunctionElement[str]):
    """A timestamp column as it is printed: on PostgreSQL formatted by the server (``to_char`` in UTC, ``PATTERN``),
    so asyncpg hands back text instead of building a datetime for Python to format (a 100-row page's client CPU:
    ~100 us of datetimes decoded, then ~80 us formatting them, against nothing); the column itself elsewhere."""

    inherit_cache = True
    PATTERN = ""

    def __init__(self, column: ColumnElement[Any], printed_as: TypeDecorator[str]) -> None:
        super().__init__(column)
        self.type = printed_as  # the rows are processed by the text type itself (SQLite's cut, nothing on PostgreSQL)


class _LaravelTextOnPostgres(_TextOnPostgres):
    inherit_cache = True
    name = "laravel_text"
    PATTERN = 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'


class _SecondsTextOnPostgres(_TextOnPostgres):
    inherit_cache = True
    name = "seconds_text"
    PATTERN = 'YYYY-MM-DD"T"HH24:MI:SS"+00:00"'


@compiles(_TextOnPostgres, "postgresql")
def _to_char(element: _TextOnPostgres, compiler: SQLCompiler, **kw: Any) -> str:
    # AT TIME ZONE 'UTC' whatever the session's time zone; the pattern is a class constant, never a client's text.
    return f"to_char({compiler.process(element.clauses, **kw)} AT TIME ZONE 'UTC', '{element.PATTERN}')"


@compiles(_TextOnPostgres)
def _column_itself(element: _TextOnPostgres, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.clauses, **kw)


class UTCIsoText(TypeDecorator[str]):
    """A stored UTC timestamp read straight as text, ``YYYY-MM-DDTHH:MM:SS.ffffffZ``, for resources that only print
    it (every read of a payload record: a list, one record, the capture's answer, so all of them read one type).

    SQLite keeps a timestamp as that text with a space for the ``T``: rewriting the text skips building a datetime
    and formatting it again, twice per row of a 100-row page (a third of the page's time). PostgreSQL formats it
    itself (:class:`_TextOnPostgres`). Only for reading (use it with ``type_coerce`` on a :class:`UTCDateTime`
    column); filters and sorts use the column itself.
    """

    impl = String
    cache_ok = True

    def column_expression(self, colexpr: ColumnElement[Any]) -> ColumnElement[str]:
        return _LaravelTextOnPostgres(colexpr, self)

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:  # noqa: ARG002
        return _laravel_text(value)

    def result_processor(self, dialect: Dialect, coltype: Any) -> Callable[[Any], str | None] | None:
        if dialect.name == "postgresql":  # the server's text, final (column_expression)
            return None
        return _direct(self, dialect, coltype, _laravel_text) or super().result_processor(dialect, coltype)


def _direct(
    type_: TypeDecorator[Any], dialect: Dialect, coltype: Any, function: Callable[[Any], str | None]
) -> Callable[[Any], str | None] | None:
    """``function`` itself as the column's processor when the impl converts nothing (String on SQLite), rather than
    TypeDecorator's wrapper around ``process_result_value``: its extra calls per value were a tenth of a 100-row
    page. None when the impl's processor must run first."""
    return function if type_.impl_instance.result_processor(dialect, coltype) is None else None


def _utc(value: str | dt.datetime) -> dt.datetime:
    moment = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def _laravel_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str) and len(value) == _SQLITE_STORED_LENGTH and value[10] == " ":
        return f"{value[:10]}T{value[11:]}Z"
    return f"{_utc(value).replace(tzinfo=None).isoformat(timespec='microseconds')}Z"


class UTCSecondsText(TypeDecorator[str]):
    """A stored UTC timestamp read straight as DigitalState prints it: ISO 8601 at second precision with its offset,
    ``YYYY-MM-DDTHH:MM:SS+00:00`` (what ``isoformat(timespec="seconds")`` gives for a UTC datetime, fractions
    dropped). On SQLite it is cut from the stored text, skipping a datetime parsed, re-zoned and formatted twice per
    row (a third of a 100-row ``/metadatas`` page); PostgreSQL formats it itself. Only for reading, as
    :class:`UTCIsoText`.
    """

    impl = String
    cache_ok = True

    def column_expression(self, colexpr: ColumnElement[Any]) -> ColumnElement[str]:
        return _SecondsTextOnPostgres(colexpr, self)

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:  # noqa: ARG002
        return _seconds_text(value)

    def result_processor(self, dialect: Dialect, coltype: Any) -> Callable[[Any], str | None] | None:
        if dialect.name == "postgresql":  # the server's text, final (column_expression)
            return None
        return _direct(self, dialect, coltype, _seconds_text) or super().result_processor(dialect, coltype)


def _seconds_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str) and len(value) == _SQLITE_STORED_LENGTH and value[10] == " ":
        return f"{value[:10]}T{value[11:19]}+00:00"
    return _utc(value).isoformat(timespec="seconds")
