"""Content search per tenant (``payloads/search.py``): the deployment's ``METADOCK_CONTENT_SEARCH`` is the master
switch and each tenant has its own (``tenants.content_search``, on unless switched off). A tenant switched off gets
no index entries and its ``filter[search]`` is refused as any filter not allowed; switching it off removes its
entries, in batches, without losing one written by a capture that was still running; its switch costs a capture
no statement (it comes with the credential)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from click.testing import CliRunner
from litestar.testing import TestClient
from sqlalchemy import text

from metadock import migrate
from metadock.cli import main
from metadock.kit.db import Connection, Database, _SqliteConnection
from metadock.kit.postgres import PostgresConnection
from metadock.kit.principal import Role
from metadock.payloads.search import forget_tenant
from metadock.payloads.search_repository import add_search_entry
from metadock.settings import Settings, get_settings
from metadock.tenants.service import TenantService
from tests.conftest import _empty_postgres
from tests.factories import (
    PAYLOADS,
    TenantKeys,
    bearer,
    create_tenant,
    create_user,
    laravel_error,
    login,
    run_in_transaction,
)
from tests.test_content_search import _capture, _found, _indexed, search_client, search_settings  # noqa: F401
from tests.test_payload_partitions import _migrate_to, fresh_postgres  # noqa: F401

Client = TestClient[object]
run_sync = asyncio.run


def _switch(database_url: str, tenant: TenantKeys, on: bool) -> None:
    run_in_transaction(database_url, lambda c: TenantService(c).set_content_search(tenant.uuid, on))


def _tenant_id(database_url: str, tenant: TenantKeys) -> int:
    async def work(connection: Connection) -> int:
        return (await TenantService(connection).get_tenant(tenant.uuid)).id

    return run_in_transaction(database_url, work)


def _entries_of(database_url: str, tenant: TenantKeys) -> int:
    tenant_id = _tenant_id(database_url, tenant)

    async def work(connection: Connection) -> int:
        sql = "SELECT count(*) FROM payload_search WHERE tenant_id = :t"
        return int(await connection.scalar(text(sql), {"t": tenant_id}))

    return run_in_transaction(database_url, work)


def test_a_tenant_switched_off_is_not_indexed_and_its_search_is_refused_as_an_unknown_filter(
    search_client: Client,  # noqa: F811
    client: Client,
    tenant: TenantKeys,
    other_tenant: TenantKeys,
    search_settings: Settings,  # noqa: F811
) -> None:
    url = search_settings.database_url
    _switch(url, tenant, on=False)
    mine = _capture(search_client, tenant, b'{"word": "hello"}')
    theirs = _capture(search_client, other_tenant, b'{"word": "hello"}')
    assert _indexed(url) == [theirs]  # the other tenant keeps today's behaviour: on
    assert _found(search_client, other_tenant, "hello") == ([theirs], 1)
    # The same answer as a deployment without content search (tests/test_content_search.py): 400, Laravel's shape.
    deployment_off = client.get(PAYLOADS, params={"filter[search]": "hello"}, headers=tenant.headers("reader"))
    expected = laravel_error(deployment_off, 400)
    for path in (PAYLOADS, f"{PAYLOADS}/export"):
        refused = search_client.get(path, params={"filter[search]": "hello"}, headers=tenant.headers("reader"))
        assert laravel_error(refused, 400) == expected
        assert expected["message"].startswith("Requested filter(s) `search` are not allowed.")
    # Captured as always: the record and its bytes are there.
    download = search_client.get(f"{PAYLOADS}/{mine}/download", headers=tenant.headers("reader"))
    assert download.status_code == 200
    assert download.content == b'{"word": "hello"}'
    # Switched on again: captures from now on are indexed (earlier ones are not), and the filter is allowed.
    _switch(url, tenant, on=True)
    later = _capture(search_client, tenant, b'{"word": "hello"}')
    assert _found(search_client, tenant, "hello") == ([later], 1)


def test_the_deployment_switch_is_the_master_one(client: Client, tenant: TenantKeys, settings: Settings) -> None:
    _switch(settings.database_url, tenant, on=True)  # on for the tenant, off for the deployment
    _capture(client, tenant, b'{"word": "hello"}')
    assert _indexed(settings.database_url) == []
    response = client.get(PAYLOADS, params={"filter[search]": "hello"}, headers=tenant.headers("reader"))
    laravel_error(response, 400)


def test_a_login_token_carries_the_tenants_switch_too(
    search_client: Client,  # noqa: F811
    tenant: TenantKeys,
    search_settings: Settings,  # noqa: F811
) -> None:
    create_user(search_settings.database_url, tenant.uuid, "ops@example.com", role=Role.READER)
    headers = bearer(login(search_client, "ops@example.com"))
    assert search_client.get(PAYLOADS, params={"filter[search]": "x"}, headers=headers).status_code == 200
    _switch(search_settings.database_url, tenant, on=False)
    laravel_error(search_client.get(PAYLOADS, params={"filter[search]": "x"}, headers=headers), 400)


def test_switching_off_removes_only_that_tenants_entries_in_batches(
    search_client: Client,  # noqa: F811
    tenant: TenantKeys,
    other_tenant: TenantKeys,
    search_settings: Settings,  # noqa: F811
) -> None:
    url = search_settings.database_url
    for n in range(7):
        _capture(search_client, tenant, json.dumps({"n": n, "w": "shared"}).encode())
    theirs = _capture(search_client, other_tenant, b'{"w": "shared"}')
    assert _entries_of(url, tenant) == 7
    _switch(url, tenant, on=False)
    tenant_id = _tenant_id(url, tenant)

    async def purge() -> tuple[int, bool]:
        database = Database(url, pool_size=1)
        try:
            return await forget_tenant(database, tenant_id, batch_size=3)
        finally:
            await database.dispose()

    assert asyncio.run(purge()) == (7, True)  # batches of 3, 3, 1
    assert _entries_of(url, tenant) == 0
    assert _indexed(url) == [theirs]
    assert _found(search_client, other_tenant, "shared") == ([theirs], 1)


def test_an_entry_is_not_written_once_the_tenant_is_switched_off(
    tenant: TenantKeys,
    search_settings: Settings,  # noqa: F811
) -> None:
    """A capture authenticated while its tenant had search on, its record written after the switch went off (a large
    body streaming meanwhile): the entry's insert reads the switch itself, so no entry outlives the purge."""
    url = search_settings.database_url
    tenant_id = _tenant_id(url, tenant)
    _switch(url, tenant, on=False)
    run_in_transaction(url, lambda connection: add_search_entry(connection, tenant_id, 42, "late words"))
    assert _indexed(url) == []
    _switch(url, tenant, on=True)
    run_in_transaction(url, lambda connection: add_search_entry(connection, tenant_id, 43, "words"))
    assert _indexed(url) == [43]


def test_the_purge_waits_for_a_capture_still_running_when_the_switch_went_off(
    postgres_url: str, tenant_on_postgres: tuple[str, TenantKeys]
) -> None:
    """PostgreSQL (SQLite has one writer: the switch itself waits for the capture): a capture wrote its entry before
    the switch, and commits after the purge began. The purge must still remove it."""
    url, tenant = tenant_on_postgres
    tenant_id = _tenant_id(url, tenant)

    async def scenario() -> tuple[int, bool]:
        database = Database(url, pool_size=3)
        try:
            entry_written = asyncio.Event()

            async def slow_capture() -> None:
                async with database.transaction() as connection:
                    await add_search_entry(connection, tenant_id, 7, "in flight")
                    entry_written.set()
                    await asyncio.sleep(0.5)  # the switch commits and the purge begins meanwhile

            capture = asyncio.create_task(slow_capture())
            await entry_written.wait()
            async with database.transaction() as connection:
                await TenantService(connection).set_content_search(tenant.uuid, False)
            result = await forget_tenant(database, tenant_id, batch_size=10)
            await capture
            return result
        finally:
            await database.dispose()

    assert asyncio.run(scenario()) == (1, True)
    assert _indexed(url) == []


@pytest.fixture
def tenant_on_postgres(postgres_url: str) -> tuple[str, TenantKeys]:
    _empty_postgres(postgres_url)
    return postgres_url, create_tenant(postgres_url, "acme")


class _Statements:
    """Counts the statements every connection sends (both access paths: prepared plans and SQLAlchemy's)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        for cls in (_SqliteConnection, PostgresConnection):
            for name in ("execute", "_run_plan"):
                monkeypatch.setattr(cls, name, self._counted(getattr(cls, name)))

    def _counted(self, method: Any) -> Any:
        async def counted(*args: Any, **kwargs: Any) -> Any:
            self.count += 1
            return await method(*args, **kwargs)

        return counted

    def of(self, action: Any) -> int:
        before = self.count
        action()
        return self.count - before


def test_the_tenants_switch_costs_a_capture_no_statement(
    monkeypatch: pytest.MonkeyPatch,
    client: Client,
    search_client: Client,  # noqa: F811
    tenant: TenantKeys,
    other_tenant: TenantKeys,
    search_settings: Settings,  # noqa: F811
) -> None:
    _switch(search_settings.database_url, other_tenant, on=False)
    statements = _Statements(monkeypatch)
    body = b'{"order": 1234}'
    for test_client, keys in ((client, tenant), (search_client, tenant), (search_client, other_tenant)):
        _capture(test_client, keys, body)  # warm: plans, caches
    deployment_off = statements.of(lambda: _capture(client, tenant, body))
    tenant_off = statements.of(lambda: _capture(search_client, other_tenant, body))
    tenant_on = statements.of(lambda: _capture(search_client, tenant, body))
    assert tenant_off == deployment_off  # the switch came with the credential lookup
    # On: the entry's insert (PostgreSQL: inside a savepoint), nothing else.
    assert tenant_on == deployment_off + (1 if search_settings.database_url.startswith("sqlite") else 3)


def test_the_cli_shows_and_switches_a_tenants_content_search(
    monkeypatch: pytest.MonkeyPatch,
    search_client: Client,  # noqa: F811
    tenant: TenantKeys,
    search_settings: Settings,  # noqa: F811
) -> None:
    url = search_settings.database_url
    monkeypatch.setenv("METADOCK_DATABASE_URL", url)
    monkeypatch.setenv("METADOCK_CONTENT_SEARCH", "1")
    get_settings.cache_clear()
    try:
        _capture(search_client, tenant, b'{"w": "one"}')
        _capture(search_client, tenant, b'{"w": "two"}')
        runner = CliRunner()
        shown = runner.invoke(main, ["tenants", "content-search", tenant.uuid])
        assert shown.exit_code == 0, shown.output
        assert shown.output == "Content search of tenant 'acme': on.\n"
        off = runner.invoke(main, ["tenants", "content-search", tenant.uuid, "off"])
        assert off.exit_code == 0, off.output
        assert off.output.splitlines() == ["Content search of tenant 'acme': off.", "Removed 2 index entries."]
        assert _indexed(url) == []
        laravel_error(search_client.get(PAYLOADS, params={"filter[search]": "one"}, headers=tenant.headers()), 400)
        on = runner.invoke(main, ["tenants", "content-search", tenant.uuid, "on"])
        assert on.output == "Content search of tenant 'acme': on.\n"
        assert _found(search_client, tenant, "one") == ([], 0)  # earlier captures are not indexed again
        unknown = runner.invoke(main, ["tenants", "content-search", "00000000-0000-0000-0000-000000000000", "off"])
        assert unknown.exit_code != 0
        assert "No tenant" in unknown.output
    finally:
        get_settings.cache_clear()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_migration_switches_existing_tenants_on_and_its_downgrade_keeps_their_rows(
    backend: str, tmp_path: Any, request: pytest.FixtureRequest
) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}" if backend == "sqlite" else request.getfixturevalue("fresh_postgres")
    key = (
        "INSERT INTO api_keys (id, tenant_id, name, role, key_hash, display_prefix, created_at) "
        "SELECT 'k-1', id, 'k', 'admin', 'h', 'p', CURRENT_TIMESTAMP FROM tenants"
    )

    async def run(statements: list[str], revision: str, query: str) -> list[Any]:
        database = Database(url, pool_size=1)
        try:
            await migrate.upgrade(database, revision)
            async with database.transaction() as connection:
                for statement in statements:
                    await connection.execute(text(statement))
                return [dict(row) for row in await connection.fetch_all(text(query))]
        finally:
            await database.dispose()

    tenant = "INSERT INTO tenants (uuid, name, created_at) VALUES ('u-1', 'old', CURRENT_TIMESTAMP)"
    assert run_sync(run([tenant, key], "0012", "SELECT name FROM tenants")) == [{"name": "old"}]
    rows = run_sync(run([], "head", "SELECT name, content_search FROM tenants"))
    assert [(row["name"], bool(row["content_search"])) for row in rows] == [("old", True)]
    # Down again: the column goes, and nothing that refers to the tenant with it (SQLite: no table copy cascading).
    _migrate_to(url, "downgrade", "0012")
    assert run_sync(run([], "0012", "SELECT id FROM api_keys")) == [{"id": "k-1"}]
