"""Plain functions that put things in a test database through the project's own services."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import msgspec
from sqlalchemy import select, update

from metadock.api_keys.service import ApiKeyService, IssuedKey, revoke_key_in_any_tenant
from metadock.kit.db import Connection, Database
from metadock.kit.principal import Principal, Role
from metadock.metadatas.schemas import MetadataCreate
from metadock.metadatas.service import MetadataService
from metadock.metadatas.table import metadatas
from metadock.payloads.service import PayloadService
from metadock.payloads.store import ObjectNotFound, PayloadStore, open_store
from metadock.payloads.table import payload_metadata
from metadock.settings import Settings
from metadock.tenants.service import TenantService

T = TypeVar("T")


def run_in_transaction(database_url: str, work: Callable[[Connection], Awaitable[T]]) -> T:
    async def run() -> T:
        database = Database(database_url, pool_size=1)
        try:
            async with database.transaction() as connection:
                return await work(connection)
        finally:
            await database.dispose()

    return asyncio.run(run())


@dataclass(frozen=True)
class TenantKeys:
    uuid: str
    admin: str
    writer: str
    reader: str

    def headers(self, role: str = "admin") -> dict[str, str]:
        return {"Authorization": getattr(self, role)}


def create_tenant(database_url: str, name: str) -> TenantKeys:
    async def work(connection: Connection) -> TenantKeys:
        tenant = await TenantService(connection).create_tenant(name)
        keys = ApiKeyService(connection, tenant.id)
        issued = {role: (await keys.create(role)).key for role in Role}
        return TenantKeys(tenant.uuid, issued[Role.ADMIN], issued[Role.WRITER], issued[Role.READER])

    return run_in_transaction(database_url, work)


def issue_key(database_url: str, tenant_uuid: str, role: Role, name: str | None = None) -> IssuedKey:
    """A further key for a tenant; unlike :class:`TenantKeys` it carries the key's id, which revoking needs."""

    async def work(connection: Connection) -> IssuedKey:
        tenant = await TenantService(connection).get_tenant(tenant_uuid)
        return await ApiKeyService(connection, tenant.id).create(role, name)

    return run_in_transaction(database_url, work)


def revoke_key(database_url: str, key_id: str) -> None:
    run_in_transaction(database_url, lambda connection: revoke_key_in_any_tenant(connection, key_id))


# Every field of a DigitalState metadata resource, as the seed lists them.
METADATA_FIELDS = frozenset(
    {"id", "uuid", "createdAt", "updatedAt", "owner", "ownerUuid", "title", "slug", "type", "data", "version", "tenant"}
)


def metadata_body(**overrides: Any) -> dict[str, Any]:
    """The seed's POST example, with overrides."""
    body: dict[str, Any] = {
        "owner": "BusinessUnit",
        "ownerUuid": "c11c546e-bd01-47cf-97da-e25388357b5a",
        "title": {"en": "OAuth Providers"},
        "slug": "oauth-providers",
        "type": "authentication",
        "data": ["Github", "Google", "Twitter"],
        "version": 1,
    }
    body.update(overrides)
    return body


def set_timestamps(database_url: str, uuid: str, created_at: dt.datetime, updated_at: dt.datetime) -> None:
    """Backdate a resource, which the API rightly never allows, to test the date filters."""

    async def work(connection: Connection) -> None:
        statement = (
            update(metadatas).where(metadatas.c.uuid == uuid).values(created_at=created_at, updated_at=updated_at)
        )
        await connection.execute(statement)

    run_in_transaction(database_url, work)


def add_metadatas(database_url: str, tenant_uuid: str, bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Create many resources in one transaction through the service (for paging tests); returns them as the API does."""

    async def work(connection: Connection) -> list[dict[str, Any]]:
        tenant = await TenantService(connection).get_tenant(tenant_uuid)
        service = MetadataService(connection, Principal(tenant.id, tenant.uuid, Role.ADMIN, "factory"))
        created = [await service.create(msgspec.convert(body, MetadataCreate)) for body in bodies]
        return [msgspec.to_builtins(item) for item in created]

    return run_in_transaction(database_url, work)


PROBLEM_KEYS = {"type", "title", "status", "detail", "violations"}


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """Assert ``response`` is an RFC 7807 problem with ``status`` in the API Platform shape; return its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert {"type", "title", "status", "detail"} <= set(body) <= PROBLEM_KEYS, body
    assert body["status"] == status
    assert all(isinstance(body[key], str) and body[key] for key in ("type", "title", "detail")), body
    for violation in body.get("violations", []):
        assert set(violation) == {"propertyPath", "message"}, violation
        assert isinstance(violation["propertyPath"], str)
        assert isinstance(violation["message"], str)
        assert violation["message"]
    return body


def violation_paths(response: httpx.Response) -> set[str]:
    """The property paths a 400 validation problem names."""
    return {violation["propertyPath"] for violation in problem(response, 400).get("violations", [])}


# Payloads ------------------------------------------------------------------------------------------------------------

PAYLOADS = "/api/v1/payload-metadata"


def capture_payload(
    client: httpx.Client,
    headers: dict[str, str],
    body: bytes = b'{"order": 1}',
    *,
    content_type: str | None = "application/json",
    **params: int,
) -> dict[str, Any]:
    """Capture through the API (``flow_run_id`` and ``flow_step_id`` default to 1); assert 201; return the record."""
    query = {"flow_run_id": 1, "flow_step_id": 1, **params}
    request_headers = dict(headers)
    if content_type is not None:
        request_headers["Content-Type"] = content_type
    response = client.post(PAYLOADS, params=query, content=body, headers=request_headers)
    assert response.status_code == 201, response.text
    record: dict[str, Any] = response.json()["data"]
    return record


def laravel_error(response: httpx.Response, status: int) -> dict[str, Any]:
    """Assert ``response`` is a Laravel JSON error with ``status``: ``{"message"}`` plus ``errors`` on a 422."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert isinstance(body.get("message"), str), body
    assert body["message"], body
    assert set(body) <= {"message", "errors"}, body
    return body


# Offset anchors this close together in tests (the `spaced_anchors` fixture), so that a few hundred records make many.
ANCHOR_SPACING = 7


def payload_record_values(now: dt.datetime | None = None, **overrides: Any) -> dict[str, Any]:
    """A payload record's columns as a capture writes them (a stored 2-byte JSON payload), ``overrides`` on top."""
    now = now or dt.datetime.now(dt.UTC)
    return {
        "flow_run_id": 1,
        "flow_step_id": 1,
        "flow_version_id": None,
        "flow_log_id": None,
        "store_key": PayloadStore.new_key(),
        "size": 2,
        "sha256": None,
        "content_type": "application/json",
        "dropped": False,
        "dropped_reason": None,
        "created_at": now,
        "updated_at": now,
        "stored_at": now,
        "expires_at": None,
        **overrides,
    }


def add_payload_records(database_url: str, tenant_uuid: str, specs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Insert records (without bytes) through the service, for list tests; each spec may set any flow_* id."""

    async def work(connection: Connection) -> list[dict[str, Any]]:
        tenant = await TenantService(connection).get_tenant(tenant_uuid)
        service = PayloadService(connection, Principal(tenant.id, tenant.uuid, Role.ADMIN, "factory"), "file")
        now = dt.datetime.now(dt.UTC)
        created = []
        for spec in specs:
            values = payload_record_values(now, **spec)
            created.append(msgspec.to_builtins(await service.record(values)))
        return created

    return run_in_transaction(database_url, work)


def backdate_payload(database_url: str, record_id: int, moment: dt.datetime) -> None:
    """Move a record's capture back in time, which no API allows, to test retention and fsck's grace period."""

    async def work(connection: Connection) -> None:
        statement = (
            update(payload_metadata)
            .where(payload_metadata.c.id == record_id)
            .values(created_at=moment, updated_at=moment, stored_at=moment)
        )
        await connection.execute(statement)

    run_in_transaction(database_url, work)


def payload_rows(database_url: str) -> list[dict[str, Any]]:
    """Every payload record of every tenant, as stored."""

    async def work(connection: Connection) -> list[dict[str, Any]]:
        result = await connection.execute(select(payload_metadata).order_by(payload_metadata.c.id))
        return [dict(row) for row in result.mappings()]

    return run_in_transaction(database_url, work)


def payload_store(settings: Settings) -> PayloadStore:
    """A store of its own on the same backend and location as the app's."""
    return open_store(settings.resolved_store_url, endpoint_url=settings.s3_endpoint_url)


def stored_keys(settings: Settings) -> set[str]:
    async def run() -> set[str]:
        return {key async for key, _modified in payload_store(settings).list_keys()}

    return asyncio.run(run())


def stored_bytes(settings: Settings, key: str) -> bytes | None:
    """The bytes under ``key``, or None when there is no such object."""

    async def run() -> bytes | None:
        try:
            chunks = await payload_store(settings).open(key)
        except ObjectNotFound:
            return None
        return b"".join([chunk async for chunk in chunks])

    return asyncio.run(run())


def put_object(settings: Settings, data: bytes) -> str:
    """Write bytes straight into the store, as a capture killed before its record would leave them; returns the key."""

    async def run() -> str:
        async def chunks() -> AsyncIterator[bytes]:
            yield data

        store = payload_store(settings)
        return (await store.put_stream(store.new_key(), chunks(), max_bytes=None)).key

    return asyncio.run(run())


def remove_object(settings: Settings, key: str) -> None:
    """Delete an object behind the service's back, as an operator or a failing disk might."""
    asyncio.run(payload_store(settings).delete(key))


# Users, login and tokens ---------------------------------------------------------------------------------------------

USER_PASSWORD = "correct horse battery staple"
LOGIN = "/fabric/api/login"
LOGIN_PATHS = ("/fabric/api/login", "/fabric/api/v1/login", "/api/v1/login")
LOGOUT = "/fabric/api/logout"


@dataclass(frozen=True)
class UserAccount:
    id: str
    tenant_uuid: str
    email: str
    password: str
    role: Role


_password_hashes: dict[str, str] = {}


def create_user(
    database_url: str, tenant_uuid: str, email: str, password: str = USER_PASSWORD, role: Role = Role.READER
) -> UserAccount:
    """A user through the service (Argon2id-hashed, as the API and the CLI make them).

    Hashing costs most of a second on a small machine, so each distinct password is hashed once per run and its
    (real, salted) hash reused for every user given that password; logging in verifies it for real."""
    from unittest import mock

    from metadock.users import passwords
    from metadock.users.service import UserService

    hash_password = passwords.hash_password

    async def hashed_once(plain: str) -> str:
        if plain not in _password_hashes:
            _password_hashes[plain] = await hash_password(plain)
        return _password_hashes[plain]

    async def work(connection: Connection) -> UserAccount:
        tenant = await TenantService(connection).get_tenant(tenant_uuid)
        with mock.patch.object(passwords, "hash_password", hashed_once):
            user = await UserService(connection, tenant.id).create(email, password, role)
        return UserAccount(user.id, tenant_uuid, user.email, password, user.role)

    return run_in_transaction(database_url, work)


def user_emails(database_url: str, tenant_uuid: str) -> list[str]:
    """The emails of a tenant's users, as stored."""
    from metadock.users.service import UserService

    async def work(connection: Connection) -> list[str]:
        tenant = await TenantService(connection).get_tenant(tenant_uuid)
        return [user.email for user in await UserService(connection, tenant.id).list()]

    return run_in_transaction(database_url, work)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def login(client: httpx.Client, email: str, password: str = USER_PASSWORD, path: str = LOGIN) -> str:
    """Log in through the API; assert 200; return the token."""
    response = client.post(path, json={"username": email, "password": password})
    assert response.status_code == 200, response.text
    token: str = response.json()["token"]
    return token


def token_claims(user: UserAccount, **overrides: Any) -> dict[str, Any]:
    """The claims login would put in ``user``'s token, valid for an hour; an override of None drops that claim."""
    import uuid as uuidlib

    now = int(dt.datetime.now(dt.UTC).timestamp())
    claims: dict[str, Any] = {
        "sub": user.id,
        "tenant": user.tenant_uuid,
        "role": user.role.value,
        "iat": now,
        "exp": now + 3600,
        "jti": uuidlib.uuid4().hex,
    }
    claims.update(overrides)
    return {name: value for name, value in claims.items() if value is not None}


def sign_token(secret: str | None, claims: dict[str, Any], algorithm: str = "HS256") -> str:
    """A JWT made outside the app (pyjwt directly), to forge, expire or mangle."""
    import jwt

    return jwt.encode(claims, secret, algorithm=algorithm)


def age_login_failures(database_url: str, seconds: int) -> None:
    """Move every failed-login window and block ``seconds`` into the past, as waiting that long would."""
    from metadock.tables import login_failures

    async def work(connection: Connection) -> None:
        delta = dt.timedelta(seconds=seconds)
        t = login_failures.c
        for row in (await connection.execute(select(login_failures))).mappings().all():
            blocked_until = None if row["blocked_until"] is None else row["blocked_until"] - delta
            await connection.execute(
                update(login_failures)
                .where(t.subject == row["subject"])
                .values(window_started_at=row["window_started_at"] - delta, blocked_until=blocked_until)
            )

    run_in_transaction(database_url, work)
