"""A live ``metadock serve`` per module, on SQLite and PostgreSQL, for replaying public clients.

Each client module drives real HTTP with httpx, sending what the client sends and reading what it reads. The server
starts on an empty database, so it creates the ``default`` tenant and prints its admin key and the admin password.
Its signing key is fixed here so that a test can forge the expired token a long-running client ends up holding.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from tests.conftest import _empty_postgres
from tests.live import LiveServer, printed_api_key, start_server

SECRET_KEY = "client-replay-signing-key-0123456789-abcdefghij"
ADMIN_EMAIL = "admin@localhost"
_CREATED_TENANT = re.compile(r"^Created tenant 'default' \((?P<uuid>[0-9a-f-]{36})\)")


@dataclass(frozen=True)
class Metadock:
    """A running server and the credentials its first start printed."""

    server: LiveServer
    database_url: str
    tenant_uuid: str
    api_key: str
    password: str

    @property
    def base_url(self) -> str:
        return self.server.base_url

    def login_token(self) -> str:
        response = httpx.post(
            f"{self.base_url}/fabric/api/login", json={"username": ADMIN_EMAIL, "password": self.password}, timeout=10
        )
        assert response.status_code == 200, response.text
        token: str = response.json()["token"]
        return token


def _printed(output: list[str], prefix: str) -> str:
    return next(line.split(": ", 1)[1].strip() for line in output if line.startswith(prefix))


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def metadock(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path
) -> Iterator[Metadock]:
    """One server per module and database (a start costs seconds: granian, migrations, the admin's Argon2 hash), so
    each test keeps to its own flow runs or its own tenant. The databases are made as ``database_url`` makes them:
    a copy of the migrated SQLite template, or the run's PostgreSQL database emptied."""
    root = tmp_path_factory.mktemp("clients")
    if request.param == "sqlite":
        shutil.copyfile(sqlite_template, root / "metadock.db")
        database_url = f"sqlite:///{root / 'metadock.db'}"
    else:
        database_url = request.getfixturevalue("postgres_url")
        _empty_postgres(database_url)  # an empty database: the first start creates the tenant and prints its key
    server = start_server(
        {
            "METADOCK_DATABASE_URL": database_url,
            "METADOCK_STORE_URL": f"file://{root / 'payloads'}",
            "METADOCK_DATA_DIR": str(root),
            "METADOCK_SECRET_KEY": SECRET_KEY,
        }
    )
    try:
        key = printed_api_key(server.output)
        tenant = next((m["uuid"] for line in server.output if (m := _CREATED_TENANT.match(line))), None)
        assert key is not None, server.output
        assert tenant is not None, server.output
        yield Metadock(server, database_url, tenant, key, _printed(server.output, "Password: "))
    finally:
        server.stop()


def expired(token: str) -> str:
    """The same token, signed by the same key, as it is an hour after it expired: every claim valid but ``exp``."""
    claims: dict[str, Any] = jwt.decode(token, SECRET_KEY, algorithms=["HS256"])
    lifetime = int(claims["exp"]) - int(claims["iat"])
    issued = int((dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).timestamp()) - lifetime
    return jwt.encode({**claims, "iat": issued, "exp": issued + lifetime}, SECRET_KEY, algorithm="HS256")
