"""Test databases are built by the real migrations: SQLite from a migrated template file copied per test, PostgreSQL
in a database of its own per run, emptied between tests. Under CI=true a missing PostgreSQL fails the run.

No process the run starts outlives it: each carries the run's mark, and whatever is still alive at the end fails the
run (and is killed)."""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from litestar.testing import TestClient
from sqlalchemy import make_url, text

from metadock import migrate
from metadock.app import create_app
from metadock.kit.db import Database
from metadock.kit.repository import ANCHORS
from metadock.payloads.repository import PayloadRepository
from metadock.settings import Settings
from metadock.tables import metadata
from tests.factories import ANCHOR_SPACING, TenantKeys, create_tenant
from tests.processes import no_process_outlives_the_run, pytest_configure  # noqa: F401 - see below
from tests.s3server import FOREIGN_AWS_VARIABLES, S3Server, running_s3_server

# The end-of-run check is a plugin of its own (light to load, so that tests/test_processes.py can run it in a run of
# its own); importing its hook and its autouse fixture here puts them in every run of the suite.

IN_CI = os.environ.get("CI") == "true"
POSTGRES_URL = os.environ.get("METADOCK_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def _migrate(url: str) -> None:
    async def run() -> None:
        database = Database(url, pool_size=1)
        try:
            await migrate.upgrade(database)
        finally:
            await database.dispose()

    asyncio.run(run())


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "metadock.db"
    _migrate(f"sqlite:///{path}")
    return path


def _admin_dsn(url: str, database: str) -> str:
    return make_url(url).set(drivername="postgresql", database=database).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    name = f"metadock_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    base = make_url(POSTGRES_URL).database or "test"

    async def admin(sql: str) -> None:
        connection = await asyncpg.connect(_admin_dsn(POSTGRES_URL, base), timeout=5)
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    try:
        asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as error:
        message = f"PostgreSQL at {POSTGRES_URL} is required: {error}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    url = _admin_dsn(POSTGRES_URL, name)
    _migrate(url)
    yield url
    asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _empty_postgres(url: str) -> None:
    async def run() -> None:
        database = Database(url, pool_size=1)
        try:
            async with database.transaction() as connection:
                names = ", ".join(table.name for table in metadata.sorted_tables)
                await connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        finally:
            await database.dispose()

    asyncio.run(run())


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:
    if request.param == "sqlite":
        path = tmp_path / "metadock.db"
        shutil.copyfile(sqlite_template, path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("postgres_url")
    _empty_postgres(url)
    return url


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(database_url=database_url, store_url=f"file://{tmp_path / 'payloads'}", data_dir=tmp_path)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient[object]]:
    with TestClient(create_app(settings)) as test_client:  # type: ignore[arg-type]
        yield test_client


@pytest.fixture
def tenant(database_url: str) -> TenantKeys:
    return create_tenant(database_url, "acme")


@pytest.fixture
def other_tenant(database_url: str) -> TenantKeys:
    return create_tenant(database_url, "globex")


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """One SeaweedFS server on 127.0.0.1 for the whole run (fails under CI=true if it cannot start, skips elsewhere)."""
    with running_s3_server(tmp_path_factory.mktemp("s3")) as server:
        yield server


@pytest.fixture
def s3_settings(database_url: str, s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings for the S3 store, under a prefix of this test's own; the AWS_* variables are set for the process (and
    so for a ``metadock`` subprocess started with ``os.environ``)."""
    for name in FOREIGN_AWS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in s3_server.aws_env().items():
        monkeypatch.setenv(name, value)
    return Settings(
        database_url=database_url,
        store_url=s3_server.store_url(f"app-{uuid.uuid4().hex}"),
        s3_endpoint_url=s3_server.endpoint,
    )


@pytest.fixture(params=["file", "s3"])
def store_settings(request: pytest.FixtureRequest, settings: Settings) -> Settings:
    """``settings`` on each store backend: for the tests that must hold on S3 as well as on a directory."""
    if request.param == "file":
        return settings
    s3: Settings = request.getfixturevalue("s3_settings")
    return s3


@pytest.fixture
def store_client(store_settings: Settings) -> Iterator[TestClient[object]]:
    """The app on SQLite and PostgreSQL, each with the file store and the S3 store."""
    with TestClient(create_app(store_settings)) as test_client:  # type: ignore[arg-type]
        yield test_client


@pytest.fixture
def spaced_anchors(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Offset anchors every ANCHOR_SPACING rows instead of every 1,000, and none left from another test."""
    monkeypatch.setattr(PayloadRepository, "anchor_spacing", ANCHOR_SPACING)
    ANCHORS.clear()
    yield
    ANCHORS.clear()
