"""Column types for timestamps: stored in UTC on both databases, read as aware datetimes or as the text a resource
prints."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import DateTime, String, TypeDecorator
from sqlalchemy.engine import Dialect


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
        if value is None:
            return None
        if isinstance(value, str):
            if len(value) == 26 and value[10] == " ":  # SQLAlchemy's SQLite storage format, always microseconds
                return f"{value[:10]}T{value[11:]}Z"
            value = dt.datetime.fromisoformat(value)
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return f"{value.isoformat(timespec='microseconds')}Z"
