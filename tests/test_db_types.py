"""Timestamps read as text for list pages: the same Laravel text whatever form the database hands back."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy.dialects import postgresql, sqlite

from metadock.kit.db import UTCIsoText

EXPECTED = "2024-05-01T12:00:00.250000Z"


@pytest.mark.parametrize(
    ("stored", "dialect"),
    [
        ("2024-05-01 12:00:00.250000", sqlite.dialect()),  # SQLAlchemy's SQLite storage format
        ("2024-05-01 12:00:00.25", sqlite.dialect()),  # written by hand, shorter fraction
        ("2024-05-01T14:00:00.250000+02:00", sqlite.dialect()),  # with an offset
        (dt.datetime(2024, 5, 1, 12, 0, 0, 250000, tzinfo=dt.UTC), postgresql.dialect()),
        (dt.datetime(2024, 5, 1, 8, 0, 0, 250000, tzinfo=dt.timezone(dt.timedelta(hours=-4))), postgresql.dialect()),
    ],
)
def test_every_stored_form_reads_as_the_same_utc_text(stored: object, dialect: object) -> None:
    assert UTCIsoText().process_result_value(stored, dialect) == EXPECTED  # type: ignore[arg-type]


def test_whole_seconds_keep_six_fraction_digits() -> None:
    assert UTCIsoText().process_result_value("2024-05-01 12:00:00", sqlite.dialect()) == "2024-05-01T12:00:00.000000Z"


def test_null_stays_null() -> None:
    assert UTCIsoText().process_result_value(None, sqlite.dialect()) is None
