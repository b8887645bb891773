"""Column types for timestamps: stored in UTC on both databases, read as aware datetimes or as the text a resource
prints."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import msgspec
from sqlalchemy import DateTime, String, TypeDecorator
from sqlalchemy.engine import Dialect

# How SQLAlchemy stores a datetime in SQLite: always with microseconds, a space for the ``T``, no offset (ours are UTC).
_SQLITE_STORED_LENGTH = 26

# msgspec's encoder writes an aware UTC datetime as RFC 3339 text, ``"YYYY-MM-DDTHH:MM:SS[.ffffff]Z"``, in C: ~0.4 µs
# here against ~1.4 µs for ``isoformat`` and the cuts around it, twice per row of every page read from PostgreSQL
# (asyncpg's datetimes; SQLite's stored text is cut directly). It leaves a zero fraction out, which both formats
# below handle.
_rfc3339 = msgspec.json.Encoder().encode


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


class UTCIsoText(TypeDecorator[str]):
    """A stored UTC timestamp read straight as text, ``YYYY-MM-DDTHH:MM:SS.ffffffZ``, for resources that only print
    it (every read of a payload record: a list, one record, the capture's answer, so all of them read one type).

    SQLite keeps a timestamp as that text with a space for the ``T``: rewriting the text skips building a datetime
    and formatting it again, twice per row of a 100-row page (a third of the page's time). Only for reading (use it
    with ``type_coerce`` on a :class:`UTCDateTime` column); filters and sorts use the column itself.
    """

    impl = String
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        return dialect.type_descriptor(String() if dialect.name == "sqlite" else DateTime(timezone=True))

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:  # noqa: ARG002
        return _laravel_text(value)

    def result_processor(self, dialect: Dialect, coltype: Any) -> Callable[[Any], str | None] | None:
        return _direct(self, dialect, coltype, _laravel_text) or super().result_processor(dialect, coltype)


def _direct(
    type_: TypeDecorator[Any], dialect: Dialect, coltype: Any, function: Callable[[Any], str | None]
) -> Callable[[Any], str | None] | None:
    """``function`` itself as the column's processor when the impl converts nothing (String on SQLite, asyncpg's
    own datetimes on PostgreSQL), rather than TypeDecorator's wrapper around ``process_result_value``: its extra
    calls per value were a tenth of a 100-row page. None when the impl's processor must run first."""
    return function if type_.impl_instance.result_processor(dialect, coltype) is None else None


def _utc(value: str | dt.datetime) -> dt.datetime:
    moment = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def _laravel_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str) and len(value) == _SQLITE_STORED_LENGTH and value[10] == " ":
        return f"{value[:10]}T{value[11:]}Z"
    if isinstance(value, dt.datetime) and value.tzinfo is dt.UTC:  # asyncpg's
        text = _rfc3339(value)[1:-1].decode()
        return text if value.microsecond else f"{text[:-1]}.000000Z"
    return f"{_utc(value).replace(tzinfo=None).isoformat(timespec='microseconds')}Z"


class UTCSecondsText(TypeDecorator[str]):
    """A stored UTC timestamp read straight as DigitalState prints it: ISO 8601 at second precision with its offset,
    ``YYYY-MM-DDTHH:MM:SS+00:00`` (what ``isoformat(timespec="seconds")`` gives for a UTC datetime, fractions
    dropped). On SQLite it is cut from the stored text, skipping a datetime parsed, re-zoned and formatted twice per
    row (a third of a 100-row ``/metadatas`` page). Only for reading, as :class:`UTCIsoText`.
    """

    impl = String
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        return dialect.type_descriptor(String() if dialect.name == "sqlite" else DateTime(timezone=True))

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:  # noqa: ARG002
        return _seconds_text(value)

    def result_processor(self, dialect: Dialect, coltype: Any) -> Callable[[Any], str | None] | None:
        return _direct(self, dialect, coltype, _seconds_text) or super().result_processor(dialect, coltype)


def _seconds_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str) and len(value) == _SQLITE_STORED_LENGTH and value[10] == " ":
        return f"{value[:10]}T{value[11:19]}+00:00"
    if isinstance(value, dt.datetime) and value.tzinfo is dt.UTC:  # asyncpg's
        return f"{_rfc3339(value)[1:20].decode()}+00:00"
    return _utc(value).isoformat(timespec="seconds")
