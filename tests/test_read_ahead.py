"""Reading ahead (kit/read_ahead.py): an item read with an API key is one statement, the credential's lookup and the
record together, and answers exactly what the two statements alone answer.

- The fused statement, run as authentication runs it, gives the credential's row and the record's row with the same
  keys, values and Python types as the lookup and the repository's read run alone (SQLAlchemy's path and the plan),
  on both databases: found, another tenant's (none), absent, a revoked key (its row, no record), an unknown key.
- Over HTTP, every item route that reads ahead answers the same status, body and headers with reading ahead on and
  off, on both databases: own items, another tenant's (404), malformed ids, revoked and unknown keys (401 with the
  dialect's body), a login token (which is not fused), a download's bytes.
- On PostgreSQL, counted on the wire: one round trip per item read (two without reading ahead), one for a revoked
  key's 401 and for another tenant's 404.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar.testing import TestClient
from sqlalchemy import update

from bench.pg_round_trips import counting_round_trips
from metadock.api_keys.keys import hash_key
from metadock.api_keys.repository import credential_query, find_credential_in_any_tenant
from metadock.app import create_app
from metadock.kit import db, postgres
from metadock.kit.connection import Connection
from metadock.kit.db import Database
from metadock.kit.principal import Role
from metadock.kit.read_ahead import Answer, ScopedRead, fused, fused_parameters
from metadock.metadatas.repository import MetadataRepository
from metadock.metadatas.table import metadatas
from metadock.payloads.repository import PayloadRepository
from metadock.settings import Settings
from metadock.tenants.service import TenantService
from tests.conftest import _empty_postgres
from tests.factories import (
    PAYLOADS,
    TenantKeys,
    add_metadatas,
    add_payload_records,
    capture_payload,
    create_tenant,
    issue_key,
    metadata_body,
    revoke_key,
)

Row = dict[str, Any]


def typed(row: Mapping[str, Any] | None) -> dict[str, tuple[type, Any]] | None:
    return None if row is None else {key: (type(value), value) for key, value in row.items()}


def test_the_fused_statement_answers_as_the_lookup_and_the_read_alone(database_url: str) -> None:
    keys, other = create_tenant(database_url, "ahead"), create_tenant(database_url, "other")
    revoked = issue_key(database_url, keys.uuid, Role.READER, "revoked")
    revoke_key(database_url, revoked.id)
    body = metadata_body(slug="s", title={"en": "Ünïcode"}, data={"n": 1, "nested": [1.5, None, True]})
    item = add_metadatas(database_url, keys.uuid, [body])[0]
    foreign_item = add_metadatas(database_url, other.uuid, [body])[0]
    own_record = add_payload_records(database_url, keys.uuid, [{"flow_run_id": 7}])[0]
    foreign_record = add_payload_records(database_url, other.uuid, [{"flow_run_id": 7}])[0]
    absent_uuid = "00000000-0000-4000-8000-000000000000"
    reads: list[tuple[str, ScopedRead]] = [
        ("metadata", MetadataRepository.read_of_get(item["uuid"])),
        ("metadata", MetadataRepository.read_of_get(foreign_item["uuid"])),
        ("metadata", MetadataRepository.read_of_get(absent_uuid)),
        ("payload", PayloadRepository.read_of_get(own_record["id"])),
        ("payload", PayloadRepository.read_of_get(foreign_record["id"])),
        ("payload", PayloadRepository.read_of_get(10**12)),
    ]
    tokens = [keys.reader, revoked.key, "mdk_" + "x" * 43]

    async def alone(connection: Connection, token: str, kind: str, read: ScopedRead) -> tuple[Row | None, Row | None]:
        credential = await find_credential_in_any_tenant(connection, hash_key(token))
        if credential is None or credential["revoked_at"] is not None:
            return (None if credential is None else dict(credential)), None
        repository_class = MetadataRepository if kind == "metadata" else PayloadRepository
        repository = repository_class(connection, credential["tenant_id"])
        found = await repository.get(read.parameters["key_value"])
        return dict(credential), (None if found is None else dict(found))

    async def main() -> list[tuple[Any, list[Any]]]:
        database = Database(database_url, pool_size=1)
        compared = []
        try:
            async with database.transaction() as connection:
                tenant_id = (await TenantService(connection).get_tenant(keys.uuid)).id
                for token in tokens:
                    for kind, read in reads:
                        expected = await alone(connection, token, kind, read)
                        query = credential_query(hash_key(token))
                        statement = fused(query, read)
                        runs = []
                        for _ in range(3):  # SQLAlchemy's path first, then the plan
                            row = await connection.fetch_one(statement.statement, fused_parameters(query, read))
                            runs.append(statement.split(row))
                        assert database.plans.plan(statement.statement, fused_parameters(query, read)) is not None
                        compared.append((expected, runs))
            assert tenant_id
        finally:
            await database.dispose()
        return compared

    compared = asyncio.run(main())
    assert len(compared) == len(tokens) * len(reads)
    for (credential, row), runs in compared:
        for fused_credential, fused_row in runs:
            assert typed(fused_credential) == typed(credential)
            assert typed(fused_row) == typed(row)
    found = [row for (_, row), _ in compared if row is not None]
    assert len(found) == 2  # the reader's own item and record; never another tenant's, never with a revoked key
    assert found[0]["uuid"] == item["uuid"]
    assert found[0]["data"] == {"n": 1, "nested": [1.5, None, True]}
    assert found[0]["created_at"].endswith("+00:00")  # DigitalState's text on both paths
    assert found[1]["id"] == own_record["id"]
    assert found[1]["created_at"].endswith("Z")  # Laravel's text
    revoked_rows = [credential for (credential, _), _ in compared[len(reads) : 2 * len(reads)]]
    assert all(row is not None and row["revoked_at"] is not None for row in revoked_rows)
    assert all(credential is None for (credential, _), _ in compared[2 * len(reads) :])


# --- over HTTP -------------------------------------------------------------------------------------------------------


def _reading_ahead(monkeypatch: pytest.MonkeyPatch, on: bool) -> None:
    monkeypatch.setattr(db._SqliteConnection, "reads_ahead", on)
    monkeypatch.setattr(postgres.PostgresConnection, "reads_ahead", on)


_COMPARED_HEADERS = (
    "content-type",
    "content-length",
    "etag",
    "content-disposition",
    "www-authenticate",
    "accept-ranges",
)


def _answer(response: httpx.Response) -> tuple[int, bytes, dict[str, str | None]]:
    return response.status_code, response.content, {name: response.headers.get(name) for name in _COMPARED_HEADERS}


def test_item_routes_answer_the_same_reading_ahead_or_not(
    settings: Settings, database_url: str, tenant: TenantKeys, other_tenant: TenantKeys, monkeypatch: pytest.MonkeyPatch
) -> None:
    revoked = issue_key(database_url, tenant.uuid, Role.ADMIN, "revoked")
    revoke_key(database_url, revoked.id)
    with TestClient(create_app(settings)) as client:
        item = client.post("/metadatas", json=metadata_body(slug="mine"), headers=tenant.headers()).json()
        foreign = client.post("/metadatas", json=metadata_body(slug="theirs"), headers=other_tenant.headers()).json()
        record = capture_payload(client, tenant.headers("writer"), b'{"order": "\xc3\xa9"}')
        foreign_record = capture_payload(client, other_tenant.headers("writer"))
        paths = [
            f"/metadatas/{item['uuid']}",
            f"/metadatas/{item['uuid'].upper()}",
            f"/metadatas/{foreign['uuid']}",
            "/metadatas/not-a-uuid",
            *(
                f"{PAYLOADS}/{record_id}{suffix}"
                for record_id in (record["id"], foreign_record["id"], "12abc", 10**12)
                for suffix in ("", "/meta", "/download")
            ),
        ]
        credentials: list[dict[str, str]] = [
            tenant.headers("reader"),
            tenant.headers("admin"),
            {"Authorization": f"Bearer {tenant.reader}"},
            {"Authorization": revoked.key},
            {"Authorization": "mdk_" + "y" * 43},
            {"Authorization": "Bearer eyJhbGciOiJIUzI1NiJ9.e30.x"},  # a login token's kind: never fused
            {},
        ]
        answers: dict[bool, list[Any]] = {}
        for on in (True, False, True):
            _reading_ahead(monkeypatch, on)
            answers[on] = [_answer(client.get(path, headers=headers)) for path in paths for headers in credentials]
    assert answers[True] == answers[False]
    statuses = {status for status, _, _ in answers[True]}
    assert statuses == {200, 401, 404}
    own = answers[True][0]
    assert own[0] == 200
    assert b'"slug":"mine"' in own[1].replace(b" ", b"")
    download = answers[True][paths.index(f"{PAYLOADS}/{record['id']}/download") * len(credentials)]
    assert download[:2] == (200, b'{"order": "\xc3\xa9"}')


# --- round trips on PostgreSQL ----------------------------------------------------------------------------------------


@pytest.fixture
def postgres_only(postgres_url: str) -> Iterator[str]:
    _empty_postgres(postgres_url)
    yield postgres_url
    _empty_postgres(postgres_url)


def test_an_item_read_is_one_round_trip_on_postgresql(
    postgres_only: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys, other = create_tenant(postgres_only, "trips"), create_tenant(postgres_only, "other")
    revoked = issue_key(postgres_only, keys.uuid, Role.READER, "revoked")
    revoke_key(postgres_only, revoked.id)
    item = add_metadatas(postgres_only, keys.uuid, [metadata_body(slug="one")])[0]
    foreign = add_metadatas(postgres_only, other.uuid, [metadata_body(slug="one")])[0]

    with counting_round_trips(postgres_only) as counter:
        settings = Settings(database_url=counter.url, store_url=f"file://{tmp_path / 'payloads'}", data_dir=tmp_path)
        with TestClient(create_app(settings)) as client:
            record = capture_payload(client, keys.headers("writer"))

            def round_trips(path: str, headers: dict[str, str], status: int) -> int:
                for _ in range(3):  # planned on the second run, prepared once per connection
                    assert client.get(path, headers=headers).status_code == status
                before = counter.round_trips
                for _ in range(10):
                    assert client.get(path, headers=headers).status_code == status
                return (counter.round_trips - before) // 10

            reader = keys.headers("reader")
            cases = [
                (f"/metadatas/{item['uuid']}", reader, 200),
                (f"{PAYLOADS}/{record['id']}", reader, 200),
                (f"{PAYLOADS}/{record['id']}/download", reader, 200),
                (f"/metadatas/{foreign['uuid']}", reader, 404),
                (f"/metadatas/{item['uuid']}", {"Authorization": revoked.key}, 401),
            ]
            ahead = [round_trips(*case) for case in cases]
            meta_ahead = round_trips(f"{PAYLOADS}/{record['id']}/meta", reader, 200)
            _reading_ahead(monkeypatch, False)
            alone = [round_trips(*case) for case in cases]
            meta_alone = round_trips(f"{PAYLOADS}/{record['id']}/meta", reader, 200)

    assert ahead == [1, 1, 1, 1, 1]
    assert alone == [2, 2, 2, 2, 1]  # a revoked key was one lookup, and still is
    assert (meta_ahead, meta_alone) == (2, 3)  # the record with the credential, then its tags


def test_a_written_row_is_never_answered_from_before_the_write(database_url: str) -> None:
    """The answer read ahead serves only the very next statement: after any other, the read runs again."""
    keys = create_tenant(database_url, "stale")
    item = add_metadatas(database_url, keys.uuid, [metadata_body(slug="s", owner="before")])[0]

    async def main() -> tuple[Any, Any]:
        database = Database(database_url, pool_size=1)
        try:
            async with database.transaction() as connection:
                tenant_id = (await TenantService(connection).get_tenant(keys.uuid)).id
                repository = MetadataRepository(connection, tenant_id)
                read = MetadataRepository.read_of_get(item["uuid"])
                stale = {**dict(await repository.get(item["uuid"]) or {}), "owner": "remembered"}
                parameters = {**read.parameters, "scope_tenant_id": tenant_id}
                connection.remember(Answer(read.statement, parameters, stale))
                served = await repository.get(item["uuid"])  # the very next statement: served
                connection.remember(Answer(read.statement, parameters, stale))
                await connection.write(update(metadatas).where(metadatas.c.uuid == item["uuid"]).values(owner="after"))
                after_write = await repository.get(item["uuid"])
            return served, after_write
        finally:
            await database.dispose()

    served, after_write = asyncio.run(main())
    assert served is not None
    assert served["owner"] == "remembered"
    assert after_write is not None
    assert after_write["owner"] == "after"


# --- a download's file, sent by the server ---------------------------------------------------------------------------


def _pathsend_download(client: TestClient[Any], path: str, headers: dict[str, str]) -> tuple[list[Any], list[int]]:
    """``path`` called as granian calls the app (its ``http.response.pathsend`` extension): the messages sent, and the
    pool's connections in use when each was sent."""
    app: Any = client.app
    database: Database = app.state["metadock"].database
    sent: list[Any] = []
    in_use: list[int] = []

    async def call() -> None:
        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)
            in_use.append(database.in_use)

        raw = [(name.lower().encode(), value.encode()) for name, value in headers.items()]
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [(b"host", b"testserver"), *raw],
            "client": ("127.0.0.1", 50000),
            "server": ("testserver", 80),
            "extensions": {"http.response.pathsend": {}},
            "state": {},
        }
        await app(scope, receive, send)

    client.blocking_portal.call(call)
    return sent, in_use


def test_a_download_read_ahead_is_still_sent_by_the_server_after_the_connection_is_back(
    settings: Settings, tenant: TenantKeys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reading ahead changes nothing of a file store's download: the server still sends the file itself (pathsend,
    no byte through the loop), with the same headers, and the request's connection is back in the pool before."""
    with TestClient(create_app(settings)) as client:
        record = capture_payload(client, tenant.headers("writer"), b"x" * 1024, content_type="text/plain")
        path = f"{PAYLOADS}/{record['id']}/download"
        answers = {}
        for on in (True, False):
            _reading_ahead(monkeypatch, on)
            answers[on] = _pathsend_download(client, path, tenant.headers("reader"))
    for sent, in_use in answers.values():
        assert [message["type"] for message in sent] == ["http.response.start", "http.response.pathsend"]
        assert sent[0]["status"] == 200
        assert Path(sent[1]["path"]).read_bytes() == b"x" * 1024
        assert in_use == [0, 0]  # the transaction ended before the response began
    headers = {on: {k: v for k, v in answers[on][0][0]["headers"] if k != b"x-request-id"} for on in answers}
    assert headers[True] == headers[False]
    assert headers[True][b"content-length"] == b"1024"
