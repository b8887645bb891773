"""The management API: /api/v1/api-keys and /api/v1/users, for admins only, always inside their own tenant."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest
from litestar.testing import TestClient

from metadock.kit.principal import Role
from tests.factories import (
    PAYLOADS,
    TenantKeys,
    UserAccount,
    bearer,
    create_user,
    laravel_error,
    login,
    metadata_body,
    user_emails,
)

Client = TestClient[object]
KEYS = "/api/v1/api-keys"
USERS = "/api/v1/users"
KEY_FIELDS = {"id", "name", "role", "prefix", "created_at", "revoked_at"}
USER_FIELDS = {"id", "email", "role", "disabled", "created_at"}
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def data(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    assert set(response.json()) == {"data"}
    return response.json()["data"]


def list_keys(client: Client, tenant: TenantKeys) -> list[dict[str, Any]]:
    keys: list[dict[str, Any]] = data(client.get(KEYS, headers=tenant.headers()))
    return keys


def key_id(client: Client, tenant: TenantKeys, key: str) -> str:
    return next(item["id"] for item in list_keys(client, tenant) if key.startswith(item["prefix"]))


def can_read(client: Client, key: str) -> bool:
    return client.get(PAYLOADS, headers={"Authorization": key}).status_code == 200


# --- API keys --------------------------------------------------------------------------------------------------------


def test_listing_keys_shows_the_tenants_keys_but_never_a_key_itself(
    client: Client, tenant: TenantKeys, other_tenant: TenantKeys
) -> None:
    response = client.get(KEYS, headers=tenant.headers())

    keys = data(response)
    assert len(keys) == 3
    assert all(set(item) == KEY_FIELDS for item in keys), keys
    assert sorted(item["role"] for item in keys) == ["admin", "reader", "writer"]
    own_keys = (tenant.admin, tenant.writer, tenant.reader)
    assert sorted(item["prefix"] for item in keys) == sorted(key[:10] for key in own_keys)
    assert all(TIMESTAMP.match(item["created_at"]) and item["revoked_at"] is None for item in keys)
    for secret in (*own_keys, other_tenant.admin, other_tenant.writer, other_tenant.reader):
        assert secret not in response.text
    assert not {item["id"] for item in keys} & {item["id"] for item in list_keys(client, other_tenant)}


@pytest.mark.parametrize("role", list(Role))
def test_creating_a_key_shows_it_once_and_it_works_with_its_role(
    client: Client, tenant: TenantKeys, role: Role
) -> None:
    response = client.post(KEYS, json={"role": role.value, "name": "CI pipeline"}, headers=tenant.headers())

    created = data(response, 201)
    assert set(created) == {*KEY_FIELDS, "key"}
    assert created["role"] == role.value
    assert created["name"] == "CI pipeline"
    assert created["key"].startswith("mdk_")
    assert created["prefix"] == created["key"][:10]
    assert created["revoked_at"] is None
    key = created["key"]
    assert can_read(client, key)
    write = client.post("/metadatas", json=metadata_body(), headers={"Authorization": key})
    assert write.status_code == (403 if role is Role.READER else 201), write.text
    manage = client.get(USERS, headers={"Authorization": key})
    assert manage.status_code == (200 if role is Role.ADMIN else 403), manage.text

    listing = client.get(KEYS, headers=tenant.headers())
    assert [item for item in data(listing) if item["id"] == created["id"]] == [
        {field: created[field] for field in KEY_FIELDS}
    ]
    assert key not in listing.text


def test_a_key_without_a_name_is_named_after_its_role(client: Client, tenant: TenantKeys) -> None:
    created = data(client.post(KEYS, json={"role": "writer"}, headers=tenant.headers()), 201)

    assert created["name"] == "writer key"


@pytest.mark.parametrize("body", [{}, {"role": "owner"}, {"role": None}, {"name": "no role"}, []])
def test_creating_a_key_without_a_valid_role_is_422(client: Client, tenant: TenantKeys, body: Any) -> None:
    response = client.post(KEYS, json=body, headers=tenant.headers())

    laravel_error(response, 422)
    assert len(list_keys(client, tenant)) == 3


def test_revoking_a_key_is_204_and_the_key_is_401_at_once(client: Client, tenant: TenantKeys) -> None:
    created = data(client.post(KEYS, json={"role": "writer"}, headers=tenant.headers()), 201)
    assert can_read(client, created["key"])

    response = client.delete(f"{KEYS}/{created['id']}", headers=tenant.headers())

    assert response.status_code == 204, response.text
    assert response.content == b""
    assert laravel_error(client.get(PAYLOADS, headers={"Authorization": created["key"]}), 401) == {
        "message": "Unauthenticated."
    }
    assert client.get("/metadatas", headers={"Authorization": created["key"]}).status_code == 401
    revoked = next(item for item in list_keys(client, tenant) if item["id"] == created["id"])
    assert TIMESTAMP.match(revoked["revoked_at"])
    laravel_error(client.delete(f"{KEYS}/{created['id']}", headers=tenant.headers()), 404)  # already revoked
    assert can_read(client, tenant.writer)


def test_an_admin_cannot_revoke_another_tenants_key(
    client: Client, tenant: TenantKeys, other_tenant: TenantKeys
) -> None:
    theirs = key_id(client, other_tenant, other_tenant.reader)

    response = client.delete(f"{KEYS}/{theirs}", headers=tenant.headers())

    laravel_error(response, 404)
    assert can_read(client, other_tenant.reader)
    assert next(item for item in list_keys(client, other_tenant) if item["id"] == theirs)["revoked_at"] is None


def test_revoking_an_unknown_key_is_404(client: Client, tenant: TenantKeys) -> None:
    laravel_error(client.delete(f"{KEYS}/{uuid.uuid4()}", headers=tenant.headers()), 404)


def test_an_admin_can_revoke_the_key_they_are_using(client: Client, tenant: TenantKeys) -> None:
    own = key_id(client, tenant, tenant.admin)

    assert client.delete(f"{KEYS}/{own}", headers=tenant.headers()).status_code == 204

    assert client.get(KEYS, headers=tenant.headers()).status_code == 401


def test_an_admin_user_manages_keys_with_a_login_token(client: Client, database_url: str, tenant: TenantKeys) -> None:
    admin = create_user(database_url, tenant.uuid, "boss@example.com", role=Role.ADMIN)
    token = login(client, admin.email)

    created = data(client.post(KEYS, json={"role": "reader"}, headers=bearer(token)), 201)
    assert client.delete(f"{KEYS}/{created['id']}", headers=bearer(token)).status_code == 204

    assert not can_read(client, created["key"])


# --- users -----------------------------------------------------------------------------------------------------------


@pytest.fixture
def user_ada(database_url: str, tenant: TenantKeys) -> UserAccount:
    return create_user(database_url, tenant.uuid, "ada@example.com", role=Role.WRITER)


def test_creating_a_user_is_201_and_they_can_log_in(client: Client, tenant: TenantKeys) -> None:
    password = "a long enough password"
    response = client.post(
        USERS, json={"email": " Grace@Example.COM ", "password": password, "role": "writer"}, headers=tenant.headers()
    )

    created = data(response, 201)
    assert set(created) == USER_FIELDS
    assert created["email"] == "grace@example.com"
    assert created["role"] == "writer"
    assert created["disabled"] is False
    assert TIMESTAMP.match(created["created_at"])
    assert password not in response.text
    assert "argon2" not in response.text
    token = login(client, "grace@example.com", password)
    assert client.post("/metadatas", json=metadata_body(), headers=bearer(token)).status_code == 201


def test_listing_users_shows_the_tenants_users_only(
    client: Client, database_url: str, tenant: TenantKeys, other_tenant: TenantKeys
) -> None:
    mine = create_user(database_url, tenant.uuid, "mine@example.com", role=Role.READER)
    create_user(database_url, other_tenant.uuid, "theirs@example.com", role=Role.ADMIN)

    response = client.get(USERS, headers=tenant.headers())

    listed = data(response)
    assert [{field: item[field] for field in USER_FIELDS - {"created_at"}} for item in listed] == [
        {"id": mine.id, "email": "mine@example.com", "role": "reader", "disabled": False}
    ]
    assert all(set(item) == USER_FIELDS and TIMESTAMP.match(item["created_at"]) for item in listed)
    assert mine.password not in response.text


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "short@example.com", "password": "elevenchars", "role": "reader"}, "password"),
        ({"email": "", "password": "long enough password", "role": "reader"}, "email"),
        ({"email": "not-an-email", "password": "long enough password", "role": "reader"}, "email"),
        ({"email": "@example.com", "password": "long enough password", "role": "reader"}, "email"),
        ({"email": "someone@", "password": "long enough password", "role": "reader"}, "email"),
        ({"email": "some one@example.com", "password": "long enough password", "role": "reader"}, "email"),
        ({"email": "x@example.com", "password": "long enough password", "role": "owner"}, "role"),
        ({"email": "x@example.com", "password": "long enough password"}, "role"),
        ({"password": "long enough password", "role": "reader"}, "email"),
        ({"email": "x@example.com", "role": "reader"}, "password"),
    ],
)
def test_creating_an_invalid_user_is_422_naming_the_field(
    client: Client, database_url: str, tenant: TenantKeys, body: dict[str, str], field: str
) -> None:
    response = client.post(USERS, json=body, headers=tenant.headers())

    error = laravel_error(response, 422)
    assert field in error["errors"], error
    assert user_emails(database_url, tenant.uuid) == []
    if "password" in body:
        assert body["password"] not in response.text


def test_twelve_characters_is_long_enough(client: Client, tenant: TenantKeys) -> None:
    body = {"email": "edge@example.com", "password": "twelve chars", "role": "reader"}

    assert data(client.post(USERS, json=body, headers=tenant.headers()), 201)["email"] == "edge@example.com"


@pytest.mark.parametrize("email", ["ada@example.com", "ADA@example.com"])
def test_a_taken_email_is_422(
    client: Client, database_url: str, tenant: TenantKeys, user_ada: UserAccount, email: str
) -> None:
    body = {"email": email, "password": "another long password", "role": "admin"}

    error = laravel_error(client.post(USERS, json=body, headers=tenant.headers()), 422)

    assert error["errors"] == {"email": ["The email has already been taken."]}
    assert user_emails(database_url, tenant.uuid) == ["ada@example.com"]
    login(client, user_ada.email, user_ada.password)  # the original is untouched


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"role": "admin"}, {"role": "admin", "disabled": False}),
        ({"role": "reader"}, {"role": "reader", "disabled": False}),
        ({"disabled": True}, {"role": "writer", "disabled": True}),
        ({"role": "reader", "disabled": True}, {"role": "reader", "disabled": True}),
        ({}, {"role": "writer", "disabled": False}),
        # Laravel's `boolean` rule takes 1, 0, "1", "0" for true and false (clients built on forms send them), and
        # Metadock "true" and "false" as text too: the document's UserUpdate.disabled lists the same.
        ({"disabled": 1}, {"role": "writer", "disabled": True}),
        ({"disabled": "1"}, {"role": "writer", "disabled": True}),
        ({"disabled": "TRUE"}, {"role": "writer", "disabled": True}),
        ({"disabled": 0}, {"role": "writer", "disabled": False}),
    ],
)
def test_patching_a_user_changes_role_and_disabled(
    client: Client, tenant: TenantKeys, user_ada: UserAccount, change: dict[str, Any], expected: dict[str, Any]
) -> None:
    response = client.patch(f"{USERS}/{user_ada.id}", json=change, headers=tenant.headers())

    updated = data(response)
    assert {"role": updated["role"], "disabled": updated["disabled"]} == expected
    assert updated["id"] == user_ada.id
    listed = next(item for item in data(client.get(USERS, headers=tenant.headers())) if item["id"] == user_ada.id)
    assert listed == updated


@pytest.mark.parametrize(
    "change", [{"role": "owner"}, {"disabled": "yes"}, {"disabled": 2}, {"disabled": 1.0}, {"disabled": None}, []]
)
def test_patching_with_invalid_values_is_422_and_changes_nothing(
    client: Client, tenant: TenantKeys, user_ada: UserAccount, change: Any
) -> None:
    laravel_error(client.patch(f"{USERS}/{user_ada.id}", json=change, headers=tenant.headers()), 422)

    assert data(client.get(USERS, headers=tenant.headers()))[0]["role"] == "writer"


def test_patching_another_tenants_user_is_404_and_changes_nothing(
    client: Client, database_url: str, tenant: TenantKeys, other_tenant: TenantKeys
) -> None:
    theirs = create_user(database_url, other_tenant.uuid, "theirs@example.com", role=Role.WRITER)

    for change in ({"role": "reader"}, {"disabled": True}):
        laravel_error(client.patch(f"{USERS}/{theirs.id}", json=change, headers=tenant.headers()), 404)

    listed = data(client.get(USERS, headers=other_tenant.headers()))
    assert [(item["role"], item["disabled"]) for item in listed] == [("writer", False)]
    login(client, theirs.email, theirs.password)


def test_patching_an_unknown_user_is_404(client: Client, tenant: TenantKeys) -> None:
    laravel_error(client.patch(f"{USERS}/{uuid.uuid4()}", json={"role": "reader"}, headers=tenant.headers()), 404)


# --- only admins -----------------------------------------------------------------------------------------------------


def management_calls(key_to_revoke: str, user_id: str) -> list[tuple[str, str, dict[str, Any] | None]]:
    """Every management route, with a body and an existing target, so that a wrongly allowed call would act."""
    return [
        ("GET", KEYS, None),
        ("POST", KEYS, {"role": "admin", "name": "escalation"}),
        ("DELETE", f"{KEYS}/{key_to_revoke}", None),
        ("GET", USERS, None),
        ("POST", USERS, {"email": "intruder@example.com", "password": "long enough password", "role": "admin"}),
        ("PATCH", f"{USERS}/{user_id}", {"role": "admin"}),
    ]


@pytest.mark.parametrize("credential", ["key", "token"])
@pytest.mark.parametrize("role", [Role.WRITER, Role.READER])
def test_writers_and_readers_get_403_on_every_management_route(
    client: Client, database_url: str, tenant: TenantKeys, user_ada: UserAccount, role: Role, credential: str
) -> None:
    if credential == "key":
        headers = tenant.headers(role.value)
    else:
        person = create_user(database_url, tenant.uuid, f"{role.value}@example.com", role=role)
        headers = bearer(login(client, person.email))
    target = key_id(client, tenant, tenant.reader)

    for method, path, body in management_calls(target, user_ada.id):
        response = client.request(method, path, json=body, headers=headers)
        assert laravel_error(response, 403) == {"message": "This action is unauthorized."}, (method, path)

    assert len(list_keys(client, tenant)) == 3
    assert can_read(client, tenant.reader)
    users = data(client.get(USERS, headers=tenant.headers()))
    assert {(item["email"], item["role"]) for item in users} >= {("ada@example.com", "writer")}
    assert "intruder@example.com" not in {item["email"] for item in users}


def test_anonymous_gets_401_on_every_management_route(
    client: Client, tenant: TenantKeys, user_ada: UserAccount
) -> None:
    for method, path, body in management_calls(key_id(client, tenant, tenant.reader), user_ada.id):
        response = client.request(method, path, json=body)
        assert laravel_error(response, 401) == {"message": "Unauthenticated."}, (method, path)
