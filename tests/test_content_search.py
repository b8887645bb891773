"""Content search (``METADOCK_CONTENT_SEARCH=1``, ``payloads/search.py``): text payloads indexed at capture and found
by ``filter[search]`` on the list and the export, tenant-scoped; off by default; binary and too-large payloads
captured but not indexed; FTS syntax in a query inert; entries removed with the record, its bytes, by retention."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import text

from metadock.app import create_app
from metadock.kit.db import Connection, Database
from metadock.payloads import maintenance
from metadock.settings import Settings
from tests.factories import PAYLOADS, TenantKeys, backdate_payload, laravel_error, payload_store, run_in_transaction
from tests.test_record_retention import _prune_records

Client = TestClient[object]


@pytest.fixture
def search_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"content_search": True, "content_search_max_bytes": 4096})


@pytest.fixture
def search_client(search_settings: Settings) -> Iterator[Client]:
    with TestClient(create_app(search_settings)) as test_client:  # type: ignore[arg-type]
        yield test_client


def _capture(client: Client, tenant: TenantKeys, body: bytes, content_type: str = "application/json") -> int:
    headers = {**tenant.headers("writer"), "Content-Type": content_type}
    response = client.post(PAYLOADS, params={"flow_run_id": 1, "flow_step_id": 1}, content=body, headers=headers)
    assert response.status_code == 201, response.text
    return int(response.json()["data"]["id"])


def _found(client: Client, tenant: TenantKeys, words: str, **params: str) -> tuple[list[int], int]:
    response = client.get(PAYLOADS, params={"filter[search]": words, **params}, headers=tenant.headers("reader"))
    assert response.status_code == 200, response.text
    body = response.json()
    return [record["id"] for record in body["data"]], body["meta"]["total"]


def _indexed(database_url: str) -> list[int]:
    key = "rowid" if database_url.startswith("sqlite") else "payload_id"

    async def work(connection: Connection) -> list[int]:
        return sorted(int(v) for v in await connection.scalars(text(f"SELECT {key} FROM payload_search")))

    return run_in_transaction(database_url, work)


def test_search_finds_the_payloads_containing_every_word(search_client: Client, tenant: TenantKeys) -> None:
    order = _capture(search_client, tenant, json.dumps({"order": {"id": 1234, "customer": "ACME Ltd"}}).encode())
    other = _capture(search_client, tenant, json.dumps({"order": {"id": 999, "customer": "Acme Corp"}}).encode())
    xml = _capture(search_client, tenant, b"<invoice><customer>Globex</customer><n>1234</n></invoice>", "text/xml")
    csv = _capture(search_client, tenant, b"sku,qty\nWIDGET-7,3\n", "text/csv; charset=utf-8")
    assert _found(search_client, tenant, "1234") == ([order, xml], 2)
    assert _found(search_client, tenant, "acme") == ([order, other], 2)  # case-insensitive
    assert _found(search_client, tenant, "ACME 1234") == ([order], 1)  # every word, any order
    assert _found(search_client, tenant, "1234 acme") == ([order], 1)
    assert _found(search_client, tenant, "globex") == ([xml], 1)
    assert _found(search_client, tenant, "widget-7") == ([csv], 1)  # punctuation separates words
    assert _found(search_client, tenant, "nowhere") == ([], 0)
    # Combines with the other filters, sorts and pages; totals exact.
    assert _found(search_client, tenant, "1234", sort="-id") == ([xml, order], 2)
    assert _found(search_client, tenant, "1234", per_page="1", page="2") == ([xml], 2)
    assert _found(search_client, tenant, "1234", **{"filter[id]": str(xml)}) == ([xml], 1)
    # An empty search is no filter, as any empty filter.
    assert _found(search_client, tenant, " ")[1] == 4


def test_the_export_takes_the_search_filter(search_client: Client, tenant: TenantKeys) -> None:
    found = _capture(search_client, tenant, b'{"ref": "needle"}')
    _capture(search_client, tenant, b'{"ref": "hay"}')
    response = search_client.get(
        f"{PAYLOADS}/export", params={"format": "ndjson", "filter[search]": "needle"}, headers=tenant.headers("reader")
    )
    assert response.status_code == 200, response.text
    assert [json.loads(line)["id"] for line in response.text.splitlines()] == [found]


def test_search_never_crosses_tenants(search_client: Client, tenant: TenantKeys, other_tenant: TenantKeys) -> None:
    mine = _capture(search_client, tenant, b'{"secret": "zanzibar"}')
    _capture(search_client, other_tenant, b'{"secret": "zanzibar"}')
    assert _found(search_client, tenant, "zanzibar") == ([mine], 1)
    theirs = _found(search_client, other_tenant, "zanzibar")
    assert theirs[1] == 1
    assert theirs[0] != [mine]


def test_search_is_off_by_default_a_400_in_laravels_shape_and_nothing_is_indexed(
    client: Client, tenant: TenantKeys, settings: Settings
) -> None:
    _capture(client, tenant, b'{"word": "hello"}')
    response = client.get(PAYLOADS, params={"filter[search]": "hello"}, headers=tenant.headers("reader"))
    message = laravel_error(response, 400)["message"]
    assert message.startswith("Requested filter(s) `search` are not allowed.")
    export = client.get(f"{PAYLOADS}/export", params={"filter[search]": "hello"}, headers=tenant.headers("reader"))
    assert laravel_error(export, 400)["message"] == message
    assert _indexed(settings.database_url) == []


def test_binary_and_too_large_payloads_are_captured_but_not_indexed(
    search_client: Client, tenant: TenantKeys, search_settings: Settings
) -> None:
    binary = _capture(search_client, tenant, b"findme \x00\x01\x02", "application/octet-stream")
    large = _capture(search_client, tenant, b'{"w": "findme", "pad": "' + b"x" * 5000 + b'"}')
    small = _capture(search_client, tenant, b'{"w": "findme"}')
    assert _found(search_client, tenant, "findme") == ([small], 1)
    assert _indexed(search_settings.database_url) == [small]
    for record_id in (binary, large):  # captured, bytes kept
        download = search_client.get(f"{PAYLOADS}/{record_id}/download", headers=tenant.headers("reader"))
        assert download.status_code == 200


@pytest.mark.parametrize(
    ("query", "finds"),
    [
        ('"', ""),
        ("*", ""),
        ("(", ""),
        ("'; --", ""),
        ("a OR b", ""),  # OR is a word here, which neither payload has
        ("NEAR(a b)", ""),
        ("needle AND", ""),
        ("body:needle", ""),  # not FTS5's column filter: "body" is a word too
        ("needl*", ""),  # no prefix search
        ("-needle", "needle"),  # no NOT
        ("^needle", "needle"),
        ('"needle"', "needle"),
        ("b a", "hay"),
    ],
)
def test_fts_syntax_in_a_query_is_only_words(search_client: Client, tenant: TenantKeys, query: str, finds: str) -> None:
    ids = {
        "needle": _capture(search_client, tenant, b'{"text": "needle"}'),
        "hay": _capture(search_client, tenant, b'{"text": "a b haystack"}'),
    }
    assert _found(search_client, tenant, query) == (([ids[finds]], 1) if finds else ([], 0))


def test_a_too_long_search_or_one_with_nul_is_a_400(search_client: Client, tenant: TenantKeys) -> None:
    response = search_client.get(PAYLOADS, params={"filter[search]": "a" * 1001}, headers=tenant.headers("reader"))
    assert "longer than 1000 characters" in laravel_error(response, 400)["message"]
    response = search_client.get(PAYLOADS, params={"filter[search]": "a\x00b"}, headers=tenant.headers("reader"))
    assert "NUL" in laravel_error(response, 400)["message"]
    assert _found(search_client, tenant, "a" * 1000) == ([], 0)


def test_deleting_a_record_removes_its_entry(
    search_client: Client, tenant: TenantKeys, search_settings: Settings
) -> None:
    gone = _capture(search_client, tenant, b'{"k": "shared"}')
    kept = _capture(search_client, tenant, b'{"k": "shared"}')
    assert search_client.delete(f"{PAYLOADS}/{gone}", headers=tenant.headers("writer")).status_code == 204
    assert _indexed(search_settings.database_url) == [kept]
    assert _found(search_client, tenant, "shared") == ([kept], 1)


def test_expired_bytes_and_record_retention_remove_entries(
    search_client: Client, tenant: TenantKeys, search_settings: Settings
) -> None:
    old = _capture(search_client, tenant, b'{"k": "shared"}')
    young = _capture(search_client, tenant, b'{"k": "shared"}')
    url = search_settings.database_url
    backdate_payload(url, old, dt.datetime.now(dt.UTC) - dt.timedelta(days=40))

    async def expire(database: Database) -> int:
        return await maintenance.prune(database, payload_store(search_settings), older_than_days=30)

    async def run() -> int:
        database = Database(url, pool_size=1)
        try:
            return await expire(database)
        finally:
            await database.dispose()

    assert asyncio.run(run()) == 1
    # The bytes are gone, and their text with them: the record stays (dropped), found no more by its words.
    assert _indexed(url) == [young]
    assert _found(search_client, tenant, "shared") == ([young], 1)
    assert _prune_records(search_settings, older_than_days=5) == 1
    assert _indexed(url) == [young]


def test_a_failure_to_index_never_fails_the_capture(
    search_client: Client, tenant: TenantKeys, settings: Settings
) -> None:
    # An entry already there for the next id makes the insert fail (a primary key / rowid conflict).
    url = settings.database_url
    first = _capture(search_client, tenant, b'{"k": "one"}')
    key = "rowid" if url.startswith("sqlite") else "payload_id"
    columns = "rowid, tenant_id, body" if url.startswith("sqlite") else "payload_id, tenant_id, document"
    value = "'stale'" if url.startswith("sqlite") else "to_tsvector('simple', 'stale')"

    async def plant(connection: Connection) -> Any:
        tenant_id = await connection.scalar(text(f"SELECT tenant_id FROM payload_search WHERE {key} = {first}"))
        await connection.execute(
            text(f"INSERT INTO payload_search ({columns}) VALUES ({first + 1}, {tenant_id}, {value})")
        )

    run_in_transaction(url, plant)
    second = _capture(search_client, tenant, b'{"k": "two"}')
    assert second == first + 1
    meta = search_client.get(f"{PAYLOADS}/{second}/meta", headers=tenant.headers("reader"))
    assert meta.status_code == 200
    assert _found(search_client, tenant, "two") == ([], 0)  # not indexed, but captured and committed
    assert _found(search_client, tenant, "one") == ([first], 1)


def test_the_openapi_document_lists_filter_search_only_when_search_is_on(client: Client, search_client: Client) -> None:
    def names(test_client: Client, path: str) -> set[str]:
        document = test_client.get("/openapi.json").json()
        return {parameter["name"] for parameter in document["paths"][path]["get"].get("parameters", [])}

    for path in (PAYLOADS, f"{PAYLOADS}/export"):
        assert "filter[search]" in names(search_client, path)
        assert "filter[search]" not in names(client, path)
        assert "filter[flow_run_id]" in names(client, path)
