"""The hot single-row reads: the driver-level path on SQLite returns exactly what SQLAlchemy's own path returns."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import sqlalchemy.exc
from sqlalchemy import Column, Integer, MetaData, Table, bindparam, select

from metadock.kit.db import Connection
from metadock.metadatas.table import metadatas
from tests.factories import add_metadatas, create_tenant, metadata_body, run_in_transaction

# Built once, as the repositories build theirs: the prepared path caches by statement.
BY_UUID = select(metadatas).where(metadatas.c.uuid == bindparam("uuid"))
WITH_A_BOUND_VALUE = select(metadatas.c.uuid, metadatas.c.created_at.label("made")).where(
    metadatas.c.version == 1, metadatas.c.uuid == bindparam("uuid")
)


def both_paths(database_url: str, statement: Any, parameters: dict[str, Any]) -> tuple[Any, Any]:
    async def work(connection: Connection) -> tuple[Any, Any]:
        fast = await connection.fetch_one(statement, parameters)
        ordinary = (await connection.execute(statement, parameters)).mappings().first()
        return fast, None if ordinary is None else dict(ordinary)

    return run_in_transaction(database_url, work)


def test_a_row_comes_back_with_the_same_keys_and_python_values(database_url: str) -> None:
    tenant = create_tenant(database_url, "prepared")
    body = metadata_body(title={"en": "Ünïcode", "fr": "titre"}, data={"nested": [1, {"x": None}], "n": 1.5})
    [created] = add_metadatas(database_url, tenant.uuid, [body])

    fast, ordinary = both_paths(database_url, BY_UUID, {"uuid": created["uuid"]})

    assert fast == ordinary
    assert fast is not None
    assert fast["data"] == {"nested": [1, {"x": None}], "n": 1.5}  # JSON decoded, not a string
    assert fast["title"] == {"en": "Ünïcode", "fr": "titre"}
    assert isinstance(fast["created_at"], dt.datetime)
    assert fast["created_at"].tzinfo == dt.UTC  # the UTC type's processing ran


def test_values_bound_inside_the_statement_and_labels_are_kept(database_url: str) -> None:
    tenant = create_tenant(database_url, "prepared-labels")
    [created] = add_metadatas(database_url, tenant.uuid, [metadata_body()])

    fast, ordinary = both_paths(database_url, WITH_A_BOUND_VALUE, {"uuid": created["uuid"]})

    assert fast == ordinary
    assert fast is not None
    assert set(fast) == {"uuid", "made"}


def test_no_row_is_none(database_url: str) -> None:
    fast, ordinary = both_paths(database_url, BY_UUID, {"uuid": "00000000-0000-4000-8000-000000000000"})
    assert fast is None
    assert ordinary is None


def test_a_driver_error_surfaces_as_sqlalchemys_error(database_url: str) -> None:
    missing = Table("no_such_table", MetaData(), Column("id", Integer))
    broken = select(missing).where(missing.c.id == bindparam("id"))

    async def work(connection: Connection) -> None:
        await connection.fetch_one(broken, {"id": 1})

    # What the error handling upstream (503s, integrity errors) expects, whichever path ran.
    with pytest.raises(sqlalchemy.exc.DBAPIError):
        run_in_transaction(database_url, work)
