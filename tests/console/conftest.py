"""The console's HTTP tests: an app on a SQLite copy of the migrated template, a tenant, people of each role."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from litestar.testing import TestClient

from metadock.app import create_app
from metadock.settings import Settings
from tests.console.helpers import PASSWORD, People, create_people, csrf_of
from tests.factories import TenantKeys, create_tenant


@pytest.fixture
def sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    path = tmp_path / "console.db"
    path.write_bytes(sqlite_template.read_bytes())
    return f"sqlite:///{path}"


@pytest.fixture
def app_client(sqlite_url: str, tmp_path: Path) -> Iterator[TestClient[object]]:
    settings = Settings(database_url=sqlite_url, store_url=f"file://{tmp_path / 'payloads'}", data_dir=tmp_path)
    with TestClient(create_app(settings)) as client:  # type: ignore[arg-type]
        yield client


@pytest.fixture
def acme(sqlite_url: str) -> TenantKeys:
    return create_tenant(sqlite_url, "acme")


@pytest.fixture
def people(sqlite_url: str, acme: TenantKeys) -> People:
    return create_people(sqlite_url, acme.uuid)


def login(client: TestClient[object], email: str, password: str = PASSWORD) -> str:
    """Log in through the form; returns the CSRF token of the page the login lands on."""
    token = csrf_of(client.get("/console/login").text)
    response = client.post(
        "/console/login", data={"email": email, "password": password, "csrf_token": token, "next": "/console/metadatas"}
    )
    assert response.status_code == 200, response.text  # followed the 303 to the metadata list
    assert str(response.url).endswith("/console/metadatas")
    return csrf_of(response.text)
