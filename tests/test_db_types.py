"""Timestamps read as text for payload records: the same Laravel text whatever form the database hands back, and
whichever read (a list, one record, the capture's answer) asked."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import pytest
from sqlalchemy import select, type_coerce
from sqlalchemy.dialects import postgresql, sqlite

from metadock.kit.db import Connection
from metadock.kit.query import ListQuery
from metadock.kit.timestamps import UTCIsoText, UTCSecondsText
from metadock.payloads.repository import PayloadRepository
from metadock.payloads.table import payload_metadata
from metadock.tenants.service import TenantService
from tests.factories import create_tenant, run_in_transaction

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


def test_both_databases_print_any_moment_as_python_formats_it(database_url: str) -> None:
    """Stored, then read through the database (PostgreSQL formats the text itself, SQLite's stored text is cut):
    whole seconds, fractions with trailing zeros, a microsecond, the first and last years, and random moments, for
    Laravel's text (six fraction digits, ``Z``) and DigitalState's (seconds, ``+00:00``)."""
    edges = [
        dt.datetime(2024, 5, 1, 12, 0, 0, tzinfo=dt.UTC),
        dt.datetime(2024, 5, 1, 12, 0, 0, 100000, tzinfo=dt.UTC),
        dt.datetime(2024, 12, 31, 23, 59, 59, 1, tzinfo=dt.UTC),
        dt.datetime(2024, 2, 29, 8, 0, 0, 999999, tzinfo=dt.timezone(dt.timedelta(hours=-5))),
        dt.datetime(1000, 1, 1, tzinfo=dt.UTC),
        dt.datetime(9999, 12, 31, 23, 59, 59, 999998, tzinfo=dt.UTC),  # (datetime.max is asyncpg's 'infinity')
    ]
    randomly = random.Random(13)
    start = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    span = (dt.datetime(9999, 12, 31, tzinfo=dt.UTC) - start) // dt.timedelta(microseconds=1)
    moments = edges + [start + dt.timedelta(microseconds=randomly.randrange(span)) for _ in range(200)]

    tenant_uuid = create_tenant(database_url, "moments").uuid

    async def work(connection: Connection) -> list[tuple[str, str]]:
        tenant = await TenantService(connection).get_tenant(tenant_uuid)
        repository = PayloadRepository(connection, tenant.id)
        values = {"flow_run_id": 1, "flow_step_id": 1, "store_key": "k", "size": 1, "content_type": "text/plain"}
        for moment in moments:
            times = {"created_at": moment, "updated_at": moment, "stored_at": moment, "expires_at": None}
            await repository.insert({**values, "dropped": False, **times})
        c = payload_metadata.c
        statement = (
            select(type_coerce(c.created_at, UTCIsoText()), type_coerce(c.created_at, UTCSecondsText()))
            .where(c.tenant_id == tenant.id)
            .order_by(c.id)
        )
        return [(row[0], row[1]) for row in await connection.execute(statement)]

    printed = run_in_transaction(database_url, work)
    for moment, (laravel, seconds) in zip(moments, printed, strict=True):
        utc = moment.astimezone(dt.UTC).replace(tzinfo=None)
        assert laravel == f"{utc.isoformat(timespec='microseconds')}Z", moment
        assert seconds == f"{utc.isoformat(timespec='seconds')}+00:00", moment


def test_null_stays_null() -> None:
    assert UTCIsoText().process_result_value(None, sqlite.dialect()) is None


def test_every_read_of_a_payload_record_gives_the_same_timestamp_text(database_url: str) -> None:
    tenant_uuid = create_tenant(database_url, "timestamps").uuid
    moment = dt.datetime(2024, 5, 1, 14, 0, 0, 250000, tzinfo=dt.timezone(dt.timedelta(hours=2)))

    async def work(connection: Connection) -> list[Any]:
        tenant = await TenantService(connection).get_tenant(tenant_uuid)
        repository = PayloadRepository(connection, tenant.id)
        values = {"flow_run_id": 1, "flow_step_id": 1, "store_key": "k", "size": 1, "content_type": "text/plain"}
        times = {"created_at": moment, "updated_at": moment, "stored_at": moment, "expires_at": None}
        captured = await repository.insert({**values, "dropped": False, **times})
        rows = [captured]
        for _ in range(3):  # again and again: whichever way the connection runs a statement it has seen before
            rows.append(await repository.get(captured["id"]))
            rows.append((await repository.list_page(ListQuery()))[0][0])
        return [{key: row[key] for key in row if key.endswith("_at")} for row in rows]

    reads = run_in_transaction(database_url, work)

    assert reads[0] == {"created_at": EXPECTED, "updated_at": EXPECTED}
    for read in reads[1:]:
        assert {key: read[key] for key in reads[0]} == reads[0]
    assert reads[1] == {"created_at": EXPECTED, "updated_at": EXPECTED, "stored_at": EXPECTED, "expires_at": None}
