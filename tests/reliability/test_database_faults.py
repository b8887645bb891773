"""A PostgreSQL outage under a live server (two workers): every request answers 503 in its API's dialect,
``/readyz`` says so, a capture caught by the outage leaves no bytes behind, and service resumes by itself once the
database is back, without restarting Metadock. SQLite's equivalent, a database locked by another writer for longer
than the busy timeout, is a 503 too."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
from litestar.testing import TestClient

from metadock.app import create_app
from metadock.settings import Settings
from tests.factories import PAYLOADS, create_tenant, laravel_error, metadata_body, payload_rows, problem
from tests.reliability.audit import assert_records_match_bytes, assert_totals_match_rows, walk_file_store
from tests.reliability.servers import PrivatePostgres, ServerGroup, private_postgres, server_env, serving

CAPTURE = {"flow_run_id": 1, "flow_step_id": 1}
# Enough tries to meet both workers and their pooled connections (which went stale when the database went away).
TRIES = 6


async def _slow_body(stopped: asyncio.Event, database: PrivatePostgres) -> AsyncIterator[bytes]:
    """A capture whose bytes are still arriving when the database goes away."""
    yield b'{"part": 1, '
    await asyncio.to_thread(database.stop)
    stopped.set()
    yield b'"part": 2}'


async def _during_outage(client: httpx.AsyncClient, uuid: str) -> None:
    for _ in range(TRIES):
        problem(await client.get("/readyz"), 503)
        problem(await client.get("/metadatas"), 503)
        problem(await client.get(f"/metadatas/{uuid}"), 503)
        problem(await client.put(f"/metadatas/{uuid}", json={"data": ["lost"], "version": 1}), 503)
        laravel_error(await client.get(PAYLOADS), 503)
        laravel_error(await client.get(f"{PAYLOADS}/1"), 503)
        captured = await client.post(PAYLOADS, params={"flow_run_id": 1, "flow_step_id": 1}, content=b"{}")
        assert "unavailable" in laravel_error(captured, 503)["message"]


async def _hammer(client: httpx.AsyncClient, statuses: Counter[int], until: asyncio.Event) -> None:
    """Reads, lists and captures, back to back, until told to stop."""
    turn = 0
    while not until.is_set():
        turn += 1
        if turn % 3 == 0:
            response = await client.post(PAYLOADS, params={"flow_run_id": 2, "flow_step_id": 1}, content=b"x" * turn)
        else:
            response = await client.get(PAYLOADS if turn % 3 == 1 else "/metadatas")
        statuses[response.status_code] += 1


def test_a_database_outage_is_503_everywhere_and_service_resumes_without_a_restart(tmp_path: Path) -> None:
    store_root = tmp_path / "payloads"
    with private_postgres() as database:
        server: ServerGroup
        with serving(server_env(database.url, tmp_path), tmp_path / "server.log", "--workers", "2") as server:

            async def scenario() -> None:
                async with server.client() as client:
                    created = await client.post("/metadatas", json=metadata_body())
                    assert created.status_code == 201, created.text
                    uuid = created.json()["uuid"]
                    first = await client.post(PAYLOADS, params={"flow_run_id": 1, "flow_step_id": 1}, content=b"1")
                    assert first.status_code == 201, first.text
                    before = walk_file_store(store_root).objects

                    # The database goes away while a capture's body is still streaming in.
                    stopped = asyncio.Event()
                    caught = await client.post(
                        PAYLOADS, params={"flow_run_id": 1, "flow_step_id": 1}, content=_slow_body(stopped, database)
                    )
                    assert stopped.is_set()
                    assert "unavailable" in laravel_error(caught, 503)["message"]

                    await _during_outage(client, uuid)
                    after = walk_file_store(store_root)
                    assert after.objects == before, "a capture refused in the outage left bytes behind"
                    assert not after.staging

                    await asyncio.to_thread(database.start)
                    assert (await client.get("/readyz")).status_code == 200
                    for _ in range(TRIES):  # both workers, on fresh connections
                        resource = await client.get(f"/metadatas/{uuid}")
                        assert resource.status_code == 200, resource.text
                        assert (resource.json()["version"], resource.json()["data"]) == (1, metadata_body()["data"])
                    listed = await client.get(PAYLOADS)
                    assert listed.status_code == 200, listed.text
                    assert [record["id"] for record in listed.json()["data"]] == [first.json()["data"]["id"]]
                    assert listed.json()["meta"]["total"] == 1
                    again = await client.post(PAYLOADS, params={"flow_run_id": 1, "flow_step_id": 1}, content=b"2")
                    assert again.status_code == 201, again.text
                    updated = await client.put(f"/metadatas/{uuid}", json={"data": ["kept"], "version": 1})
                    assert updated.status_code == 200, updated.text

            asyncio.run(scenario())

            async def crash_under_load() -> Counter[int]:
                """The server crashes and recovers while requests are in flight on every pooled connection."""
                statuses: Counter[int] = Counter()
                until = asyncio.Event()
                async with server.client() as client:
                    hammers = [asyncio.ensure_future(_hammer(client, statuses, until)) for _ in range(12)]
                    await asyncio.sleep(0.5)
                    await asyncio.to_thread(database.stop, "immediate")
                    await asyncio.sleep(0.3)
                    await asyncio.to_thread(database.start)
                    await asyncio.sleep(0.5)
                    until.set()
                    await asyncio.gather(*hammers)
                    assert (await client.get("/readyz")).status_code == 200
                    await assert_totals_match_rows(client)
                return statuses

            statuses = asyncio.run(crash_under_load())
            assert set(statuses) <= {200, 201, 503}, statuses  # never a 500
            assert statuses[503] > 0, statuses  # the outage was met
            assert statuses[200] + statuses[201] > 0, statuses
            # No record without bytes, no bytes without a record.
            assert_records_match_bytes(payload_rows(database.url), walk_file_store(store_root))


def test_a_sqlite_database_locked_past_the_busy_timeout_is_503_and_keeps_no_bytes(
    tmp_path: Path, sqlite_template: Path
) -> None:
    database_file = tmp_path / "metadock.db"
    shutil.copyfile(sqlite_template, database_file)
    url = f"sqlite:///{database_file}"
    tenant = create_tenant(url, "acme")
    settings = Settings(database_url=url, store_url=f"file://{tmp_path / 'payloads'}", data_dir=tmp_path)
    with TestClient(create_app(settings)) as client:  # type: ignore[arg-type]
        other_writer = sqlite3.connect(database_file, isolation_level=None)
        other_writer.execute("BEGIN IMMEDIATE")  # e.g. an operator's sqlite3 shell in the middle of an UPDATE
        try:
            response = client.post(PAYLOADS, params=CAPTURE, content=b"{}", headers=tenant.headers())
        finally:
            other_writer.close()
        assert "unavailable" in laravel_error(response, 503)["message"]
        assert response.headers["retry-after"]
        assert walk_file_store(tmp_path / "payloads").objects == {}
        assert client.get(PAYLOADS, headers=tenant.headers()).json()["meta"]["total"] == 0
        again = client.post(PAYLOADS, params=CAPTURE, content=b"{}", headers=tenant.headers())
        assert again.status_code == 201, again.text
