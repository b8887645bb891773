"""What a transaction's caller is told when its COMMIT fails: a connection lost under the COMMIT is
``CommitOutcomeUnknown`` (the server may have committed, its answer lost), so that nothing is undone that may be
recorded; an error the server answered the COMMIT with is raised as it came (nothing was committed)."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
import sqlalchemy.exc
from sqlalchemy import make_url, text

from metadock.kit.db import CommitOutcomeUnknown, Database


def _dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _lose_the_connection_before_the_commit(database: Database, url: str) -> None:
    async with database.transaction() as connection:
        pid = await connection.scalar(text("SELECT pg_backend_pid()"))
        other = await asyncpg.connect(_dsn(url), timeout=5)
        try:
            assert await other.fetchval("SELECT pg_terminate_backend($1, 5000)", pid)
        finally:
            await other.close()


async def _commit_what_the_server_refuses(database: Database) -> None:
    async with database.transaction() as connection:
        # A deferred constraint is checked by the COMMIT itself, which the server refuses.
        await connection.execute(text("CREATE TEMP TABLE deferred_once (n int UNIQUE DEFERRABLE INITIALLY DEFERRED)"))
        await connection.execute(text("INSERT INTO deferred_once VALUES (1), (1)"))


def test_a_connection_lost_under_the_commit_is_an_unknown_outcome_and_the_pool_recovers(postgres_url: str) -> None:
    async def scenario() -> None:
        database = Database(postgres_url, pool_size=1)
        try:
            with pytest.raises(CommitOutcomeUnknown):
                await _lose_the_connection_before_the_commit(database, postgres_url)
            async with database.transaction() as connection:  # a fresh connection: no restart needed
                assert await connection.scalar(text("SELECT 1")) == 1
        finally:
            await database.dispose()

    asyncio.run(scenario())


def test_an_error_the_server_answers_the_commit_with_is_raised_as_it_came(postgres_url: str) -> None:
    async def scenario() -> None:
        database = Database(postgres_url, pool_size=1)
        try:
            with pytest.raises(sqlalchemy.exc.IntegrityError) as raised:
                await _commit_what_the_server_refuses(database)
            assert not isinstance(raised.value, CommitOutcomeUnknown)
        finally:
            await database.dispose()

    asyncio.run(scenario())
