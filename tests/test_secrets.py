"""Secrets: the signing key's life (generated, kept 0600, reused; refused when weak in production), and no secret (API
key, password, token) in any log line or error body."""

from __future__ import annotations

import logging
import os
import stat
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import jwt
import pydantic
import pytest
from litestar.testing import TestClient

from metadock.app import create_app
from metadock.kit.principal import Role
from metadock.settings import MIN_SECRET_KEY_LENGTH, Settings
from tests.factories import (
    LOGIN,
    LOGOUT,
    PAYLOADS,
    TenantKeys,
    bearer,
    create_user,
    login,
    metadata_body,
    sign_token,
)
from tests.live import METADOCK, printed_api_key, start_server

Client = TestClient[object]
SECRET_FILE = "secret_key"


@pytest.fixture(autouse=True)
def no_configured_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests decide the secret key and the environment themselves, whatever the machine has set."""
    monkeypatch.delenv("METADOCK_SECRET_KEY", raising=False)
    monkeypatch.delenv("METADOCK_ENV", raising=False)


def app_settings(database_url: str, data_dir: Path, **values: object) -> Settings:
    return Settings(database_url=database_url, store_url=f"file://{data_dir / 'payloads'}", data_dir=data_dir, **values)


def run_app(settings: Settings) -> Client:
    return TestClient(create_app(settings))  # type: ignore[arg-type]


# --- the signing key -------------------------------------------------------------------------------------------------


def test_without_a_configured_key_one_is_generated_kept_0600_and_reused_on_the_next_start(
    database_url: str, tenant: TenantKeys, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    user = create_user(database_url, tenant.uuid, "ada@example.com", role=Role.WRITER)

    with run_app(app_settings(database_url, data_dir)) as first_start:
        token = login(first_start, user.email)
    key_file = data_dir / SECRET_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    generated = key_file.read_text().strip()
    assert len(generated) >= MIN_SECRET_KEY_LENGTH
    assert jwt.decode(token, generated, algorithms=["HS256"])["sub"] == user.id

    with run_app(app_settings(database_url, data_dir)) as second_start:  # a restart: the same key, so the same tokens
        assert second_start.get("/metadatas", headers=bearer(token)).status_code == 200
        assert second_start.get(PAYLOADS, headers=bearer(token)).status_code == 200
    assert key_file.read_text().strip() == generated
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_each_data_directory_gets_its_own_key(database_url: str, tenant: TenantKeys, tmp_path: Path) -> None:
    """A token of one installation is worthless at another: the generated keys differ."""
    user = create_user(database_url, tenant.uuid, "ada@example.com")
    with run_app(app_settings(database_url, tmp_path / "one")) as one:
        token = login(one, user.email)

    with run_app(app_settings(database_url, tmp_path / "two")) as two:
        assert two.get("/metadatas", headers=bearer(token)).status_code == 401

    assert (tmp_path / "one" / SECRET_FILE).read_text() != (tmp_path / "two" / SECRET_FILE).read_text()


def test_a_configured_key_signs_the_tokens_and_no_key_file_is_written(
    database_url: str, tenant: TenantKeys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    configured = "a-configured-secret-key-of-enough-length-0123456789"
    monkeypatch.setenv("METADOCK_SECRET_KEY", configured)
    user = create_user(database_url, tenant.uuid, "ada@example.com")

    with run_app(app_settings(database_url, tmp_path)) as app:
        token = login(app, user.email)

    assert jwt.decode(token, configured, algorithms=["HS256"])["sub"] == user.id
    assert not (tmp_path / SECRET_FILE).exists()


@pytest.mark.parametrize("secret_key", [None, "", "x" * (MIN_SECRET_KEY_LENGTH - 1)])
def test_production_refuses_a_missing_or_short_key_without_echoing_it(secret_key: str | None, tmp_path: Path) -> None:
    with pytest.raises(pydantic.ValidationError) as raised:
        Settings(env="production", secret_key=secret_key, data_dir=tmp_path)

    assert "METADOCK_SECRET_KEY" in str(raised.value)
    if secret_key:
        assert secret_key not in str(raised.value)
    assert not (tmp_path / SECRET_FILE).exists()


def test_production_accepts_a_long_enough_key(tmp_path: Path) -> None:
    key = "k" * MIN_SECRET_KEY_LENGTH

    assert Settings(env="production", secret_key=key, data_dir=tmp_path).signing_key() == key
    assert not (tmp_path / SECRET_FILE).exists()


@pytest.mark.parametrize("secret_key", [None, "short-but-real-secret-42"])
def test_serve_in_production_without_a_strong_key_exits_non_zero_with_a_clear_message(
    tmp_path: Path, secret_key: str | None
) -> None:
    env = {
        **os.environ,
        "METADOCK_ENV": "production",
        # A password in the database URL: a refused start must not print it either.
        "METADOCK_DATABASE_URL": "postgresql://metadock:db-password-hunter2@127.0.0.1:1/metadock",
        "METADOCK_DATA_DIR": str(tmp_path),
    }
    if secret_key is not None:
        env["METADOCK_SECRET_KEY"] = secret_key

    result = subprocess.run(
        [METADOCK, "serve", "--port", "1"], env=env, capture_output=True, text=True, timeout=60, check=False
    )

    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "METADOCK_SECRET_KEY" in output
    assert "production" in output
    assert "Traceback" not in output
    assert "db-password-hunter2" not in output
    if secret_key:
        assert secret_key not in output
    assert not (tmp_path / SECRET_FILE).exists()


# --- no secret in logs or error bodies --------------------------------------------------------------------------------


@contextmanager
def everything_logged(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Every logger at DEBUG into ``caplog``: metadock, litestar, httpx, and SQLAlchemy's statements with their
    parameters. Entered once the app exists, because creating it reconfigures logging (Litestar replaces the root
    logger's handlers and its level, and its own logger does not propagate)."""
    handled = [logging.getLogger(), logging.getLogger("litestar")]
    leveled = [*handled, *(logging.getLogger(name) for name in ("metadock", "sqlalchemy", "httpx"))]
    saved = [(logger, logger.level) for logger in leveled]
    for logger in handled:
        logger.addHandler(caplog.handler)
    for logger in leveled:
        logger.setLevel(logging.DEBUG)
    caplog.handler.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        for logger in handled:
            logger.removeHandler(caplog.handler)
        for logger, level in saved:
            logger.setLevel(level)


class Recorder:
    """Calls the API, remembering every secret that crossed the wire, and checks no error body echoes one."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client
        self.secrets: set[str] = set()

    def call(
        self, method: str, path: str, credential: str | None = None, secret_in_body: str | None = None, **kwargs: Any
    ) -> httpx.Response:
        headers = {"Authorization": credential} if credential else {}
        response = self.client.request(method, path, headers=headers, **kwargs)
        presented = {value for value in (credential, secret_in_body) if value}
        self.secrets |= presented
        if response.status_code >= 400:
            for value in presented:
                assert value not in response.text, (method, path, response.text)
                assert value.removeprefix("Bearer ") not in response.text, (method, path, response.text)
        return response

    def login(self, email: str, password: str, status: int) -> str | None:
        response = self.call("POST", LOGIN, json={"username": email, "password": password}, secret_in_body=password)
        assert response.status_code == status, response.text
        if status != 200:
            return None
        token: str = response.json()["token"]
        self.secrets.add(token)
        return token


def exercise_every_credential_path(api: Recorder, admin_key: str, reader_key: str, secret: str | None) -> None:
    """Log in (right, wrong, unknown, throttled), use and misuse keys and tokens, revoke, log out, disable."""
    password = "the user's own long password"
    created = api.call(
        "POST",
        "/api/v1/users",
        admin_key,
        secret_in_body=password,
        json={"email": "ada@example.com", "password": password, "role": "writer"},
    )
    assert created.status_code == 201, created.text
    too_short = "short-pw-1"
    assert (
        api.call(
            "POST",
            "/api/v1/users",
            admin_key,
            secret_in_body=too_short,
            json={"email": "bob@example.com", "password": too_short, "role": "reader"},
        ).status_code
        == 422
    )
    token = api.login("ada@example.com", password, 200)
    assert token is not None
    api.login("ada@example.com", "a mistyped real password!", 401)
    api.login("nobody@example.com", "somebody else's password", 401)
    for path in ("/metadatas", PAYLOADS):
        assert api.call("GET", path, f"Bearer {token}").status_code == 200
        assert api.call("GET", path, f"Bearer {token[:-3]}AAA").status_code == 401
        assert api.call("GET", path, f"Bearer {token[:-12]}").status_code == 401
        assert api.call("GET", path, reader_key[:-1] + "Z").status_code == 401
    assert api.call("POST", "/metadatas", f"Bearer {token}", json=metadata_body()).status_code == 201
    if secret is not None:
        forged = sign_token("not-the-servers-key-but-long-enough-000000", {"sub": "x", "role": "admin"})
        expired = sign_token(secret, {"sub": "x", "tenant": "t", "role": "admin", "iat": 1, "exp": 2, "jti": "j"})
        for bad in (forged, expired, sign_token(None, {"sub": "x"}, algorithm="none")):
            assert api.call("GET", "/metadatas", f"Bearer {bad}").status_code == 401

    key = api.call("POST", "/api/v1/api-keys", admin_key, json={"role": "writer", "name": "ci"})
    assert key.status_code == 201, key.text
    new_key, key_id = key.json()["data"]["key"], key.json()["data"]["id"]
    api.secrets.add(new_key)
    assert api.call("GET", PAYLOADS, new_key).status_code == 200
    assert api.call("DELETE", f"/api/v1/api-keys/{key_id}", admin_key).status_code == 204
    assert api.call("GET", PAYLOADS, new_key).status_code == 401
    assert api.call("GET", "/metadatas", f"Bearer {new_key}").status_code == 401
    assert api.call("GET", "/api/v1/users", reader_key).status_code == 403
    assert api.call("POST", LOGOUT, reader_key).status_code == 400

    assert api.call("POST", LOGOUT, f"Bearer {token}").status_code == 200
    assert api.call("GET", PAYLOADS, f"Bearer {token}").status_code == 401
    second = api.login("ada@example.com", password, 200)
    user_id = created.json()["data"]["id"]
    assert api.call("PATCH", f"/api/v1/users/{user_id}", admin_key, json={"disabled": True}).status_code == 200
    assert api.call("GET", "/metadatas", f"Bearer {second}").status_code == 401
    for attempt in range(6):  # past the default limit of 5: throttled
        api.login("ada@example.com", "guessing the password", 401 if attempt < 5 else 429)
    api.login("ada@example.com", password, 429)


def assert_no_secret_in(text: str, secrets: set[str]) -> None:
    leaked = sorted(secret for secret in secrets if secret in text)
    assert not leaked, f"secrets in the logs: {leaked}"


def test_no_secret_appears_in_the_logs_or_error_bodies(
    caplog: pytest.LogCaptureFixture, settings: Settings, tenant: TenantKeys
) -> None:
    with run_app(settings) as client, everything_logged(caplog):
        api = Recorder(client)
        exercise_every_credential_path(api, tenant.admin, tenant.reader, settings.signing_key())
    api.secrets |= {tenant.admin, tenant.writer, tenant.reader, settings.signing_key()}

    names = {record.name for record in caplog.records}
    assert "httpx" in names, names  # the capture did capture, down to SQL parameters
    assert any(name.startswith("sqlalchemy.engine") for name in names), names
    logged = caplog.text + "\n".join(
        f"{record.getMessage()} {record.exc_text or ''} {record.args!r}" for record in caplog.records
    )
    assert_no_secret_in(logged, api.secrets)


def test_a_live_server_logs_no_secret_after_its_first_start_banner(database_url: str, tmp_path: Path) -> None:
    """The real process (granian, its workers, every logger as configured): its output after the banner, which
    shows the admin key and password once by design, never shows a secret."""
    server = start_server(
        {
            "METADOCK_DATABASE_URL": database_url,
            "METADOCK_STORE_URL": f"file://{tmp_path / 'payloads'}",
            "METADOCK_DATA_DIR": str(tmp_path),
        }
    )
    try:
        admin_key = printed_api_key(server.output)
        assert admin_key is not None
        admin_password = next(line.split(": ", 1)[1] for line in server.output if line.startswith("Password: "))
        banner_end = next(i for i, line in enumerate(server.output) if line.rstrip().endswith("/fabric/api/login"))
        with httpx.Client(base_url=server.base_url, timeout=30) as http:
            api = Recorder(http)
            admin_token = api.login("admin@localhost", admin_password, 200)
            assert admin_token is not None
            reader = api.call("POST", "/api/v1/api-keys", admin_key, json={"role": "reader"}).json()["data"]["key"]
            api.secrets |= {admin_key, admin_password, reader}
            signing_key = (tmp_path / SECRET_FILE).read_text().strip()
            exercise_every_credential_path(api, f"Bearer {admin_token}", reader, signing_key)
    finally:
        server.stop()
    assert server.process.stdout is not None
    rest = server.process.stdout.read() or ""
    after_banner = "\n".join(server.output[banner_end + 1 :]) + "\n" + rest

    assert "Listening at" in after_banner  # the capture did capture the server's own lines
    assert_no_secret_in(after_banner, api.secrets | {signing_key})
    assert stat.S_IMODE((tmp_path / SECRET_FILE).stat().st_mode) == 0o600


def test_the_first_start_banner_shows_the_admin_credentials_once_and_they_work(
    database_url: str, tmp_path: Path
) -> None:
    env = {
        "METADOCK_DATABASE_URL": database_url,
        "METADOCK_STORE_URL": f"file://{tmp_path / 'payloads'}",
        "METADOCK_DATA_DIR": str(tmp_path),
    }
    first = start_server(env)
    try:
        key = printed_api_key(first.output)
        password = next(line.split(": ", 1)[1] for line in first.output if line.startswith("Password: "))
        assert key is not None
        assert "Admin user: admin@localhost" in first.output
        with httpx.Client(base_url=first.base_url) as http:
            assert login(http, "admin@localhost", password)
            assert http.get("/api/v1/users", headers={"Authorization": key}).status_code == 200
    finally:
        first.stop()

    second = start_server(env)  # not an empty database any more: nothing is created or shown
    try:
        assert printed_api_key(second.output) is None
        assert not any(line.startswith("Password: ") for line in second.output)
        assert password not in "\n".join(second.output)
    finally:
        second.stop()
