"""Login: POST /fabric/api/login and /api/v1/login as Patchworks has them, the JWT they return, and throttling."""

from __future__ import annotations

import os
import statistics
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from litestar.testing import TestClient

from metadock.app import create_app
from metadock.kit.principal import Role
from metadock.settings import Settings
from tests.factories import (
    LOGIN,
    LOGIN_PATHS,
    PAYLOADS,
    TenantKeys,
    UserAccount,
    age_login_failures,
    bearer,
    create_user,
    laravel_error,
    login,
    metadata_body,
    problem,
    user_emails,
)
from tests.live import METADOCK, start_server

Client = TestClient[object]
LOGGED_IN = "You have successfully logged in."
# The claims the issue names, plus "gen": the token generation that disabling a user bumps.
CLAIMS = {"sub", "tenant", "role", "iat", "exp", "jti", "gen"}


@pytest.fixture
def user(database_url: str, tenant: TenantKeys) -> UserAccount:
    return create_user(database_url, tenant.uuid, "ada@example.com", role=Role.WRITER)


def client_with(settings: Settings, **changes: Any) -> Client:
    return TestClient(create_app(settings.model_copy(update=changes)))  # type: ignore[arg-type]


@pytest.fixture
def lenient_client(settings: Settings) -> Iterator[Client]:
    """Throttling out of the way, for tests that fail many logins on purpose."""
    with client_with(settings, login_max_failures=1000) as test_client:
        yield test_client


@pytest.fixture
def throttled_client(settings: Settings) -> Iterator[Client]:
    """Three failures block an account, five an address, for a minute."""
    limits = {"login_max_failures": 3, "login_max_failures_per_address": 5}
    with client_with(settings, **limits, login_failure_window_seconds=900, login_block_seconds=60) as c:
        yield c


def attempt(client: httpx.Client, email: str, password: str, path: str = LOGIN) -> httpx.Response:
    return client.post(path, json={"username": email, "password": password})


# --- success ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["username", "email"])
@pytest.mark.parametrize("path", LOGIN_PATHS)
def test_login_answers_patchworks_shape_and_the_token_reads_both_apis(
    client: Client, settings: Settings, tenant: TenantKeys, user: UserAccount, path: str, field: str
) -> None:
    before = int(time.time())
    response = client.post(path, json={field: user.email, "password": user.password})

    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"message", "token", "expires_in"}
    assert body["message"] == LOGGED_IN
    assert body["expires_in"] == 86400
    claims = jwt.decode(body["token"], settings.signing_key(), algorithms=["HS256"])
    assert set(claims) == CLAIMS
    assert claims["sub"] == user.id
    assert claims["tenant"] == tenant.uuid
    assert claims["role"] == "writer"
    assert claims["exp"] - claims["iat"] == settings.token_ttl_seconds == 86400
    assert before - 1 <= claims["iat"] <= int(time.time()) + 1
    assert jwt.get_unverified_header(body["token"])["alg"] == "HS256"

    metadatas = client.get("/metadatas", headers=bearer(body["token"]))
    assert metadatas.status_code == 200, metadatas.text
    assert metadatas.json() == []
    payloads = client.get(PAYLOADS, headers=bearer(body["token"]))
    assert payloads.status_code == 200, payloads.text
    assert payloads.json()["data"] == []


def test_the_token_sees_its_own_tenants_data_only(
    client: Client, tenant: TenantKeys, other_tenant: TenantKeys, user: UserAccount
) -> None:
    token = login(client, user.email)
    mine = client.post("/metadatas", json=metadata_body(slug="mine"), headers=bearer(token))
    assert mine.status_code == 201, mine.text
    theirs = client.post("/metadatas", json=metadata_body(slug="theirs"), headers=other_tenant.headers())
    assert theirs.status_code == 201, theirs.text

    listed = client.get("/metadatas", headers=bearer(token))

    assert [item["uuid"] for item in listed.json()] == [mine.json()["uuid"]]
    problem(client.get(f"/metadatas/{theirs.json()['uuid']}", headers=bearer(token)), 404)


def test_the_email_is_matched_whatever_its_case_and_surrounding_spaces(client: Client, user: UserAccount) -> None:
    response = attempt(client, "  ADA@Example.COM ", user.password)

    assert response.status_code == 200, response.text


def test_each_login_issues_a_distinct_token(client: Client, settings: Settings, user: UserAccount) -> None:
    first, second = login(client, user.email), login(client, user.email)

    key = settings.signing_key()
    jtis = {jwt.decode(token, key, algorithms=["HS256"])["jti"] for token in (first, second)}
    assert len(jtis) == 2


def test_the_token_lifetime_is_configurable(settings: Settings, user: UserAccount) -> None:
    with client_with(settings, token_ttl_seconds=600) as custom:
        response = attempt(custom, user.email, user.password)

    assert response.status_code == 200, response.text
    assert response.json()["expires_in"] == 600
    claims = jwt.decode(response.json()["token"], settings.signing_key(), algorithms=["HS256"])
    assert claims["exp"] - claims["iat"] == 600


# --- wrong credentials ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", LOGIN_PATHS)
def test_wrong_password_unknown_user_and_disabled_user_get_the_same_401(
    lenient_client: Client, database_url: str, tenant: TenantKeys, user: UserAccount, path: str
) -> None:
    disabled = create_user(database_url, tenant.uuid, "gone@example.com")
    response = lenient_client.patch(f"/api/v1/users/{disabled.id}", json={"disabled": True}, headers=tenant.headers())
    assert response.status_code == 200, response.text

    wrong_password = attempt(lenient_client, user.email, "not the password at all", path)
    unknown_user = attempt(lenient_client, "nobody@example.com", user.password, path)
    disabled_user = attempt(lenient_client, disabled.email, disabled.password, path)

    bodies = [laravel_error(answer, 401) for answer in (wrong_password, unknown_user, disabled_user)]
    assert bodies[0] == bodies[1] == bodies[2]
    assert set(bodies[0]) == {"message"}
    assert wrong_password.headers.get("www-authenticate") == unknown_user.headers.get("www-authenticate")


def test_an_unknown_user_costs_about_what_a_wrong_password_costs(lenient_client: Client, user: UserAccount) -> None:
    """Without the dummy hash an unknown user answers ~50x faster; the bound is loose enough never to flake."""
    attempt(lenient_client, user.email, "warm up the hasher and the pool")
    wrong_password: list[float] = []
    unknown_user: list[float] = []
    for round_ in range(5):
        for email, samples in ((user.email, wrong_password), (f"nobody{round_}@example.com", unknown_user)):
            started = time.perf_counter()
            response = attempt(lenient_client, email, "not the password at all")
            samples.append(time.perf_counter() - started)
            assert response.status_code == 401, response.text

    assert statistics.median(unknown_user) >= statistics.median(wrong_password) / 3, (unknown_user, wrong_password)


# --- invalid requests ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"password": "whatever it is"}, "username"),
        ({"username": "", "password": "whatever it is"}, "username"),
        ({"email": "", "password": "whatever it is"}, "username"),
        ({"username": "ada@example.com"}, "password"),
        ({"email": "ada@example.com"}, "password"),
        ({}, "password"),
    ],
)
@pytest.mark.parametrize("path", LOGIN_PATHS)
def test_a_missing_username_or_password_is_422_in_laravel_shape(
    client: Client, user: UserAccount, path: str, body: dict[str, str], field: str
) -> None:
    response = client.post(path, json=body)

    error = laravel_error(response, 422)
    assert field in error["errors"], error
    assert all(isinstance(message, str) and message for message in error["errors"][field])


@pytest.mark.parametrize("path", LOGIN_PATHS)
def test_a_nul_in_the_username_is_422_and_counts_nothing(client: Client, user: UserAccount, path: str) -> None:
    """Found by schemathesis: PostgreSQL refuses NUL in text, which made this a 500 there."""
    response = client.post(path, json={"username": f"{user.email}\x00", "password": user.password})

    error = laravel_error(response, 422)
    assert "username" in error["errors"]
    assert client.post(path, json={"username": user.email, "password": user.password}).status_code == 200


def test_a_user_whose_email_holds_a_nul_is_refused_with_422(client: Client, tenant: TenantKeys) -> None:
    body = {"email": "ada\x00@example.com", "password": "a long enough password", "role": "reader"}
    response = client.post("/api/v1/users", json=body, headers=tenant.headers("admin"))

    assert "email" in laravel_error(response, 422)["errors"]


@pytest.mark.parametrize("path", LOGIN_PATHS)
def test_a_body_that_is_not_json_is_a_client_error(client: Client, path: str) -> None:
    response = client.post(path, content=b"username=ada&password=x", headers={"Content-Type": "text/plain"})

    assert 400 <= response.status_code < 500
    laravel_error(response, response.status_code)


# --- throttling ----------------------------------------------------------------------------------------------------


def assert_throttled(response: httpx.Response, block_seconds: int = 60) -> None:
    body = laravel_error(response, 429)
    assert body == {"message": "Too Many Attempts."}
    assert 1 <= int(response.headers["retry-after"]) <= block_seconds + 1


def test_after_max_failures_the_user_is_blocked_even_with_the_right_password(
    throttled_client: Client, user: UserAccount
) -> None:
    for _ in range(3):
        laravel_error(attempt(throttled_client, user.email, "not the password at all"), 401)

    for path in LOGIN_PATHS:
        assert_throttled(attempt(throttled_client, user.email, user.password, path))
        assert_throttled(throttled_client.post(path, json={"email": user.email.upper(), "password": user.password}))


def test_failures_for_many_users_from_one_address_block_that_address(
    throttled_client: Client, user: UserAccount
) -> None:
    """Password spraying: one failure each for five users still makes five failures from the address."""
    for index in range(5):
        laravel_error(attempt(throttled_client, f"victim{index}@example.com", "a guessed password"), 401)

    assert_throttled(attempt(throttled_client, user.email, user.password))


def test_a_successful_login_does_not_clear_the_addresss_failures(throttled_client: Client, user: UserAccount) -> None:
    """An attacker with an account of their own cannot reset their address's count by logging in between guesses."""
    for index in range(4):
        laravel_error(attempt(throttled_client, f"victim{index}@example.com", "a guessed password"), 401)
    assert attempt(throttled_client, user.email, user.password).status_code == 200
    laravel_error(attempt(throttled_client, "victim9@example.com", "a guessed password"), 401)

    assert_throttled(attempt(throttled_client, user.email, user.password))


def test_a_blocked_attempt_does_not_extend_the_block(throttled_client: Client, user: UserAccount) -> None:
    for _ in range(3):
        attempt(throttled_client, user.email, "not the password at all")
    first = attempt(throttled_client, user.email, user.password)
    for _ in range(5):
        attempt(throttled_client, user.email, "not the password at all")

    last = attempt(throttled_client, user.email, user.password)

    assert_throttled(first)
    assert_throttled(last)
    assert int(last.headers["retry-after"]) <= int(first.headers["retry-after"])


def test_a_successful_login_clears_the_users_failures(throttled_client: Client, user: UserAccount) -> None:
    for _ in range(2):
        laravel_error(attempt(throttled_client, user.email, "not the password at all"), 401)
    assert attempt(throttled_client, user.email, user.password).status_code == 200

    for _ in range(2):
        laravel_error(attempt(throttled_client, user.email, "not the password at all"), 401)

    assert attempt(throttled_client, user.email, user.password).status_code == 200


def test_the_block_ends_after_its_time(throttled_client: Client, database_url: str, user: UserAccount) -> None:
    for _ in range(3):
        attempt(throttled_client, user.email, "not the password at all")
    assert_throttled(attempt(throttled_client, user.email, user.password))

    age_login_failures(database_url, 61)

    assert attempt(throttled_client, user.email, user.password).status_code == 200


def test_failures_older_than_the_window_are_forgotten(
    throttled_client: Client, database_url: str, user: UserAccount
) -> None:
    for _ in range(2):
        attempt(throttled_client, user.email, "not the password at all")
    age_login_failures(database_url, 901)

    for _ in range(2):
        laravel_error(attempt(throttled_client, user.email, "not the password at all"), 401)

    assert attempt(throttled_client, user.email, user.password).status_code == 200


def test_with_one_allowed_failure_every_failure_blocks_including_after_a_block_ended(
    settings: Settings, database_url: str, user: UserAccount
) -> None:
    """login_max_failures=1: a failure in a fresh window must block as the very first one did."""
    with client_with(settings, login_max_failures=1, login_failure_window_seconds=60, login_block_seconds=60) as c:
        laravel_error(attempt(c, user.email, "not the password at all"), 401)
        assert_throttled(attempt(c, user.email, user.password))
        age_login_failures(database_url, 3600)  # the block and the window are long over

        laravel_error(attempt(c, user.email, "not the password at all"), 401)

        assert_throttled(attempt(c, user.email, user.password))


def test_the_user_and_the_address_are_throttled_separately_over_real_http(
    database_url: str, tenant: TenantKeys, tmp_path: Path
) -> None:
    """A live server sees two loopback addresses: an attacker at 127.0.0.2 blocks the victim's account and its own
    address, but not another user logging in from 127.0.0.1."""
    victim = create_user(database_url, tenant.uuid, "victim@example.com")
    bystander = create_user(database_url, tenant.uuid, "bystander@example.com")
    server = start_server(
        {
            "METADOCK_DATABASE_URL": database_url,
            "METADOCK_STORE_URL": f"file://{tmp_path / 'payloads'}",
            "METADOCK_DATA_DIR": str(tmp_path),
            "METADOCK_LOGIN_MAX_FAILURES": "3",
            "METADOCK_LOGIN_MAX_FAILURES_PER_ADDRESS": "3",
            "METADOCK_LOGIN_BLOCK_SECONDS": "60",
        }
    )
    try:
        attacker = httpx.Client(base_url=server.base_url, transport=httpx.HTTPTransport(local_address="127.0.0.2"))
        local = httpx.Client(base_url=server.base_url, transport=httpx.HTTPTransport(local_address="127.0.0.1"))
        with attacker, local:
            for _ in range(3):
                laravel_error(attempt(attacker, victim.email, "a guessed password"), 401)

            assert_throttled(attempt(local, victim.email, victim.password))  # the account, from anywhere
            assert attempt(local, bystander.email, bystander.password).status_code == 200  # another user elsewhere
            assert_throttled(attempt(attacker, bystander.email, bystander.password))  # the attacker's address
    finally:
        server.stop()


def test_failures_are_committed_and_shared_by_every_process(
    throttled_client: Client, settings: Settings, user: UserAccount
) -> None:
    """The 401 is raised after the failures are committed, and they live in the database: another app (another
    worker) on the same database sees the block."""
    for _ in range(3):
        attempt(throttled_client, user.email, "not the password at all")

    with client_with(settings, login_max_failures=3, login_block_seconds=60) as other_worker:
        assert_throttled(attempt(other_worker, user.email, user.password))


# --- users created with the CLI ------------------------------------------------------------------------------------


def cli_env(database_url: str, data_dir: Path) -> dict[str, str]:
    inherited = {name: value for name, value in os.environ.items() if not name.startswith("METADOCK_")}
    return {
        **inherited,
        "METADOCK_DATABASE_URL": database_url,
        "METADOCK_STORE_URL": f"file://{data_dir / 'payloads'}",
        "METADOCK_DATA_DIR": str(data_dir),
    }


def users_create(env: dict[str, str], *args: str, password: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [METADOCK, "users", "create", *args],
        input=password + "\n",
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_user_created_with_the_cli_logs_in_over_http_and_the_token_lists_both_apis(
    database_url: str, tenant: TenantKeys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("METADOCK_SECRET_KEY", "METADOCK_ENV"):
        monkeypatch.delenv(name, raising=False)
    env = cli_env(database_url, tmp_path)
    password = "typed on stdin, never argv"

    created = users_create(
        env, "--tenant", tenant.uuid, "--email", "Ops@Example.com", "--role", "writer", password=password
    )

    assert created.returncode == 0, created.stderr
    assert password not in created.stdout + created.stderr
    assert user_emails(database_url, tenant.uuid) == ["ops@example.com"]
    uuid.UUID(created.stdout.strip().splitlines()[-1])  # the new user's id, last, for scripts
    server = start_server({name: env[name] for name in env if name.startswith("METADOCK_")})
    try:
        with httpx.Client(base_url=server.base_url, timeout=30) as curl:
            for field in ("username", "email"):
                response = curl.post(LOGIN, json={field: "ops@example.com", "password": password})
                assert response.status_code == 200, response.text
                assert response.json()["message"] == LOGGED_IN
                token = response.json()["token"]
                metadatas = curl.get("/metadatas", headers=bearer(token))
                assert metadatas.status_code == 200, metadatas.text
                payloads = curl.get(PAYLOADS, headers=bearer(token))
                assert payloads.status_code == 200, payloads.text
                assert payloads.json()["data"] == []
    finally:
        server.stop()


@pytest.mark.parametrize("password", ["", "elevenchars"])
def test_users_create_refuses_a_short_password_with_a_clear_message(
    database_url: str, tenant: TenantKeys, tmp_path: Path, password: str
) -> None:
    result = users_create(
        cli_env(database_url, tmp_path),
        *("--tenant", tenant.uuid, "--email", "ops@example.com", "--role", "reader"),
        password=password,
    )

    assert result.returncode != 0
    assert "at least 12 characters" in result.stderr
    assert "Traceback" not in result.stderr
    assert user_emails(database_url, tenant.uuid) == []


def test_users_create_takes_no_password_on_the_command_line(
    database_url: str, tenant: TenantKeys, tmp_path: Path
) -> None:
    result = users_create(
        cli_env(database_url, tmp_path),
        *("--tenant", tenant.uuid, "--email", "ops@example.com", "--role", "reader", "--password", "on the argv!"),
        password="a fine long password",
    )

    assert result.returncode == 2
    assert "No such option" in result.stderr
    assert user_emails(database_url, tenant.uuid) == []


def test_users_create_for_an_unknown_tenant_fails_cleanly(database_url: str, tmp_path: Path) -> None:
    result = users_create(
        cli_env(database_url, tmp_path),
        *("--tenant", "00000000-0000-4000-8000-000000000000", "--email", "ops@example.com", "--role", "reader"),
        password="a fine long password",
    )

    assert result.returncode != 0
    assert "No tenant" in result.stderr
    assert "Traceback" not in result.stderr
