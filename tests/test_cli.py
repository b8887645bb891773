"""The real ``metadock`` console script, run as a subprocess against a temporary SQLite file (SQLite only)."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import uuid as uuidlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from litestar import Litestar
from litestar.testing import TestClient

from metadock.app import create_app
from metadock.settings import Settings
from tests.factories import metadata_body
from tests.live import METADOCK, printed_api_key, start_server

Client = TestClient[Litestar]


class Cli:
    """``metadock`` with its configuration in the environment, as an operator runs it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.database = root / "metadock.db"
        self.env = {key: value for key, value in os.environ.items() if not key.startswith("METADOCK_")}
        self.env.update(
            {
                "METADOCK_DATABASE_URL": f"sqlite:///{self.database}",
                "METADOCK_STORE_URL": f"file://{root / 'payloads'}",
                "METADOCK_DATA_DIR": str(root / "var"),
            }
        )

    def run(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [METADOCK, *args], env=self.env, cwd=self.root, capture_output=True, text=True, timeout=120, check=False
        )
        if ok:
            assert done.returncode == 0, f"metadock {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
        return done

    def last_line(self, *args: str) -> str:
        return self.run(*args).stdout.strip().splitlines()[-1]

    def settings(self) -> Settings:
        return Settings(
            database_url=self.env["METADOCK_DATABASE_URL"],
            store_url=self.env["METADOCK_STORE_URL"],
            data_dir=self.root / "var",
        )


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One ``db upgrade`` per module (each run of the script costs seconds); tests start from copies."""
    cli = Cli(tmp_path_factory.mktemp("migrated"))
    cli.run("db", "upgrade")
    return cli.database


@pytest.fixture
def cli(tmp_path: Path, migrated: Path) -> Cli:
    cli = Cli(tmp_path)
    shutil.copyfile(migrated, cli.database)
    return cli


@pytest.fixture(scope="module")
def acme(tmp_path_factory: pytest.TempPathFactory, migrated: Path) -> tuple[Cli, str]:
    """A database holding the tenant acme, for tests that only read it or fail to change it."""
    cli = Cli(tmp_path_factory.mktemp("acme"))
    shutil.copyfile(migrated, cli.database)
    return cli, cli.last_line("tenants", "create", "acme")


@pytest.fixture
def app(cli: Cli) -> Iterator[Client]:
    with TestClient(create_app(cli.settings())) as client:
        yield client


def tables(database: Path) -> set[str]:
    with sqlite3.connect(database) as connection:
        return {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


# --- db ------------------------------------------------------------------------------------------------------------


def test_db_upgrade_builds_the_schema_and_can_run_again(tmp_path: Path) -> None:
    cli = Cli(tmp_path)

    first = cli.run("db", "upgrade")

    assert "up to date" in first.stdout
    assert {"alembic_version", "tenants", "api_keys", "metadatas"} <= tables(cli.database)
    cli.run("db", "upgrade")  # idempotent


# --- tenants -------------------------------------------------------------------------------------------------------


def test_tenants_create_prints_the_uuid_last_and_list_shows_every_tenant(cli: Cli) -> None:
    acme = cli.last_line("tenants", "create", "acme")
    globex = cli.last_line("tenants", "create", "globex")

    assert str(uuidlib.UUID(acme)) == acme
    assert acme != globex
    listing = cli.run("tenants", "list").stdout.splitlines()
    assert f"{acme}\tacme" in listing
    assert f"{globex}\tglobex" in listing


@pytest.mark.parametrize("name", ["acme", "  ", "x" * 256])
def test_tenants_create_refuses_a_duplicate_or_invalid_name(acme: tuple[Cli, str], name: str) -> None:
    cli, uuid = acme

    refused = cli.run("tenants", "create", name, ok=False)

    assert refused.returncode != 0
    assert "Error" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert cli.run("tenants", "list").stdout.splitlines() == [f"{uuid}\tacme"]


# --- keys ----------------------------------------------------------------------------------------------------------


def test_keys_create_prints_a_key_last_that_authenticates_with_its_role(cli: Cli, app: Client) -> None:
    tenant = cli.last_line("tenants", "create", "acme")

    for role, post_status in (("reader", 403), ("writer", 201), ("admin", 201)):
        key = cli.last_line("keys", "create", "--tenant", tenant, "--role", role)

        assert key.startswith("mdk_")
        for header in (key, f"Bearer {key}"):
            response = app.get("/metadatas", headers={"Authorization": header})
            assert response.status_code == 200, response.text
        body = metadata_body(slug=f"by-{role}")
        created = app.post("/metadatas", json=body, headers={"Authorization": key})
        assert created.status_code == post_status, (role, created.text)
        if post_status == 201:
            assert created.json()["tenant"] == tenant


def test_a_key_is_stored_only_as_a_hash(cli: Cli) -> None:
    tenant = cli.last_line("tenants", "create", "acme")
    key = cli.last_line("keys", "create", "--tenant", tenant, "--role", "admin")

    stored = b"".join(path.read_bytes() for path in cli.root.glob("metadock.db*"))
    assert key.encode() not in stored
    assert key[len("mdk_") :].encode() not in stored


def test_keys_list_shows_each_key_and_revoke_makes_it_401(cli: Cli, app: Client) -> None:
    tenant = cli.last_line("tenants", "create", "acme")
    kept = cli.last_line("keys", "create", "--tenant", tenant, "--role", "writer", "--name", "kept key")
    doomed = cli.last_line("keys", "create", "--tenant", tenant, "--role", "reader", "--name", "ci runner")

    rows = [line.split("\t") for line in cli.run("keys", "list", "--tenant", tenant).stdout.splitlines()]
    assert len(rows) == 2
    (doomed_row,) = [row for row in rows if "ci runner" in row]
    assert doomed_row[1] == "reader"
    assert doomed_row[2].startswith(doomed[:8])
    assert doomed not in "\t".join(doomed_row)  # never the whole key
    assert doomed_row[-1] == "active"
    key_id = doomed_row[0]

    assert app.get("/metadatas", headers={"Authorization": doomed}).status_code == 200
    cli.run("keys", "revoke", key_id)

    assert app.get("/metadatas", headers={"Authorization": doomed}).status_code == 401
    assert app.get("/metadatas", headers={"Authorization": f"Bearer {doomed}"}).status_code == 401
    assert app.get("/metadatas", headers={"Authorization": kept}).status_code == 200
    rows = [line.split("\t") for line in cli.run("keys", "list", "--tenant", tenant).stdout.splitlines()]
    (doomed_row,) = [row for row in rows if row[0] == key_id]
    assert doomed_row[-1].startswith("revoked")
    (kept_row,) = [row for row in rows if row[0] != key_id]
    assert kept_row[-1] == "active"


def test_keys_list_shows_only_the_tenants_own_keys(cli: Cli) -> None:
    acme = cli.last_line("tenants", "create", "acme")
    globex = cli.last_line("tenants", "create", "globex")
    cli.run("keys", "create", "--tenant", acme, "--role", "reader", "--name", "acme key")

    assert "acme key" in cli.run("keys", "list", "--tenant", acme).stdout
    assert cli.run("keys", "list", "--tenant", globex).stdout.strip() == ""


@pytest.mark.parametrize(
    "args",
    [
        ("keys", "create", "--tenant", "{unknown}", "--role", "reader"),
        ("keys", "create", "--tenant", "{tenant}", "--role", "superuser"),
        ("keys", "create", "--tenant", "{tenant}"),
        ("keys", "create", "--role", "reader"),
        ("keys", "list", "--tenant", "{unknown}"),
        ("keys", "revoke", "{unknown}"),
    ],
)
def test_key_commands_fail_cleanly_on_bad_input(acme: tuple[Cli, str], args: tuple[str, ...]) -> None:
    cli, tenant = acme
    filled = [arg.format(tenant=tenant, unknown=uuidlib.uuid4()) for arg in args]

    refused = cli.run(*filled, ok=False)

    assert refused.returncode != 0
    assert "Error" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert "mdk_" not in refused.stdout


def test_revoking_a_key_twice_fails_the_second_time(cli: Cli) -> None:
    tenant = cli.last_line("tenants", "create", "acme")
    cli.run("keys", "create", "--tenant", tenant, "--role", "reader")
    key_id = cli.run("keys", "list", "--tenant", tenant).stdout.split("\t", 1)[0]

    cli.run("keys", "revoke", key_id)
    again = cli.run("keys", "revoke", key_id, ok=False)

    assert again.returncode != 0
    assert "Traceback" not in again.stderr


# --- serve, end to end ---------------------------------------------------------------------------------------------


def test_serve_end_to_end_over_real_http(tmp_path: Path) -> None:
    """Issue 2's "Done when": a fresh start prints one key; GET gives []; the seed's POST and PUT examples work;
    a restart on the same database prints no new key and the first one still works."""
    env = Cli(tmp_path).env

    server = start_server(env)
    try:
        key = printed_api_key(server.output)
        assert key is not None, "\n".join(server.output)
        assert key.startswith("mdk_")
        assert sum("API key:" in line for line in server.output) == 1
        assert any("metadock keys create" in line for line in server.output)
        headers = {"Authorization": key, "Accept": "application/json"}

        listed = httpx.get(f"{server.base_url}/metadatas", headers=headers, timeout=10)
        assert listed.status_code == 200
        assert listed.json() == []

        created = httpx.post(f"{server.base_url}/metadatas", json=metadata_body(), headers=headers, timeout=10)
        assert created.status_code == 201, created.text
        resource = created.json()
        assert created.headers["location"] == f"/metadatas/{resource['uuid']}"
        assert resource["version"] == 1

        edit = {"data": ["Github", "Google", "Twitter", "Yahoo"], "version": 1}
        edited = httpx.put(
            f"{server.base_url}/metadatas/{resource['uuid']}",
            json=edit,
            headers={"Authorization": f"Bearer {key}"},
            timeout=10,
        )
        assert edited.status_code == 200, edited.text
        assert edited.json()["version"] == 2
        assert edited.json()["data"] == edit["data"]
    finally:
        server.stop()
    assert server.process.returncode is not None

    again = start_server(env)
    try:
        assert printed_api_key(again.output) is None, "\n".join(again.output)
        listed = httpx.get(f"{again.base_url}/metadatas", headers={"Authorization": key}, timeout=10)
        assert listed.status_code == 200
        assert [(item["uuid"], item["version"]) for item in listed.json()] == [(resource["uuid"], 2)]
    finally:
        again.stop()
