"""The authentication seam, roles and tenant isolation, on every /metadatas route."""

from __future__ import annotations

import uuid as uuidlib
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from litestar import Litestar
from litestar.testing import TestClient

from metadock.api_keys.service import ApiKeyResolver
from metadock.kit.context import STATE_KEY
from metadock.kit.db import Connection
from metadock.kit.principal import Principal, Role
from tests.factories import TenantKeys, issue_key, metadata_body, problem, revoke_key

Client = TestClient[Litestar]


@dataclass(frozen=True)
class Route:
    method: str
    item: bool  # addresses one resource: /metadatas/{uuid}
    writes: bool

    def call(self, client: Client, uuid: str, headers: dict[str, str], **body: Any) -> httpx.Response:
        path = f"/metadatas/{uuid}" if self.item else "/metadatas"
        if self.method == "POST":
            return client.post(path, json=metadata_body(**body), headers=headers)
        if self.method == "PUT":
            return client.put(path, json={"data": ["edited"], "version": 1, **body}, headers=headers)
        return client.request(self.method, path, headers=headers)

    def __str__(self) -> str:
        return f"{self.method} {'/metadatas/{uuid}' if self.item else '/metadatas'}"


LIST = Route("GET", item=False, writes=False)
GET = Route("GET", item=True, writes=False)
POST = Route("POST", item=False, writes=True)
PUT = Route("PUT", item=True, writes=True)
DELETE = Route("DELETE", item=True, writes=True)
ROUTES = [LIST, GET, POST, PUT, DELETE]
SUCCESS = {LIST: 200, GET: 200, POST: 201, PUT: 200, DELETE: 204}


def ids_of(route: Route) -> str:
    return str(route)


def create(client: Client, tenant: TenantKeys, **overrides: Any) -> dict[str, Any]:
    response = client.post("/metadatas", json=metadata_body(**overrides), headers=tenant.headers())
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def contents(client: Client, tenant: TenantKeys) -> list[dict[str, Any]]:
    response = client.get("/metadatas", headers=tenant.headers())
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()
    return items


# --- 401 -----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("route", ROUTES, ids=ids_of)
def test_no_credential_is_401_with_www_authenticate_on_every_route(
    client: Client, tenant: TenantKeys, route: Route
) -> None:
    existing = create(client, tenant)

    response = route.call(client, existing["uuid"], {}, slug="new")

    problem(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"
    assert contents(client, tenant) == [existing]


@pytest.mark.parametrize(
    "header",
    [
        "",
        "Bearer",
        "Bearer ",
        "mdk_" + "A" * 43,  # well-formed, unknown
        "Bearer mdk_" + "A" * 43,
        "Basic dXNlcjpwYXNzd29yZA==",
        "Token abc",
        "not-a-key",
        "mdk_",
    ],
)
@pytest.mark.parametrize("route", ROUTES, ids=ids_of)
def test_unknown_or_malformed_credential_is_401_on_every_route(
    client: Client, tenant: TenantKeys, route: Route, header: str
) -> None:
    existing = create(client, tenant)

    response = route.call(client, existing["uuid"], {"Authorization": header}, slug="new")

    problem(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"
    assert contents(client, tenant) == [existing]


@pytest.mark.parametrize("mutate", [lambda key: key[:-1], lambda key: key + "x", lambda key: key[:-1] + "!"])
def test_a_near_miss_of_a_real_key_is_401(client: Client, tenant: TenantKeys, mutate: Any) -> None:
    problem(client.get("/metadatas", headers={"Authorization": mutate(tenant.admin)}), 401)


def test_unauthenticated_request_for_an_unknown_item_is_401_not_404(client: Client, tenant: TenantKeys) -> None:
    response = client.get(f"/metadatas/{uuidlib.uuid4()}")
    problem(response, 401)


@pytest.mark.parametrize("route", ROUTES, ids=ids_of)
def test_a_revoked_key_is_401_at_once_and_other_keys_still_work(
    client: Client, tenant: TenantKeys, database_url: str, route: Route
) -> None:
    existing = create(client, tenant)
    issued = issue_key(database_url, tenant.uuid, Role.ADMIN, "to revoke")
    assert client.get("/metadatas", headers={"Authorization": issued.key}).status_code == 200

    revoke_key(database_url, issued.id)

    for header in (issued.key, f"Bearer {issued.key}"):
        response = route.call(client, existing["uuid"], {"Authorization": header}, slug="after")
        problem(response, 401)
        assert response.headers["www-authenticate"] == "Bearer"
    assert contents(client, tenant) == [existing]
    assert route.call(client, existing["uuid"], tenant.headers(), slug="after").status_code == SUCCESS[route]


# --- the two header forms ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["{key}", "Bearer {key}", "bearer {key}", "BEARER {key}", "  Bearer   {key}  "])
@pytest.mark.parametrize("route", ROUTES, ids=ids_of)
def test_both_header_forms_authenticate_on_every_route(
    client: Client, tenant: TenantKeys, route: Route, form: str
) -> None:
    existing = create(client, tenant)

    response = route.call(client, existing["uuid"], {"Authorization": form.format(key=tenant.writer)}, slug="new")

    assert response.status_code == SUCCESS[route], response.text


# --- roles ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["reader", "writer", "admin"])
@pytest.mark.parametrize("route", ROUTES, ids=ids_of)
def test_roles(client: Client, tenant: TenantKeys, route: Route, role: str) -> None:
    existing = create(client, tenant)

    response = route.call(client, existing["uuid"], tenant.headers(role), slug="new")

    if role == "reader" and route.writes:
        problem(response, 403)
        assert contents(client, tenant) == [existing]
    else:
        assert response.status_code == SUCCESS[route], response.text


@pytest.mark.parametrize("route", [POST, PUT, DELETE], ids=ids_of)
def test_a_reader_is_refused_before_the_request_is_examined(client: Client, tenant: TenantKeys, route: Route) -> None:
    # Neither a bad body nor an unknown uuid turns a reader's write into anything but 403.
    for uuid in (create(client, tenant)["uuid"], str(uuidlib.uuid4())):
        response = route.call(client, uuid, tenant.headers("reader"), slug="", version="x")
        problem(response, 403)


def test_role_of_a_key_made_later_is_enforced(client: Client, tenant: TenantKeys, database_url: str) -> None:
    reader = issue_key(database_url, tenant.uuid, Role.READER)
    writer = issue_key(database_url, tenant.uuid, Role.WRITER)

    problem(client.post("/metadatas", json=metadata_body(), headers={"Authorization": reader.key}), 403)
    assert client.post("/metadatas", json=metadata_body(), headers={"Authorization": writer.key}).status_code == 201


# --- the credential seam -------------------------------------------------------------------------------------------


class _TokenResolver:
    """A second credential kind (what JWT will be): maps one opaque token onto the tenant's reader key."""

    def __init__(self, token: str, reader_key: str) -> None:
        self.token, self.reader_key = token, reader_key

    def recognizes(self, token: str) -> bool:
        return token == self.token

    async def resolve(self, token: str, connection: Connection) -> Principal | None:
        principal = await ApiKeyResolver().resolve(self.reader_key, connection)
        return (
            None
            if principal is None
            else Principal(principal.tenant_id, principal.tenant_uuid, Role.READER, "t", "jwt")
        )


def test_a_second_credential_kind_plugs_into_the_same_seam(client: Client, tenant: TenantKeys) -> None:
    existing = create(client, tenant)
    client.app.state[STATE_KEY].resolvers.append(_TokenResolver("header.payload.signature", tenant.reader))
    headers = {"Authorization": "Bearer header.payload.signature"}

    assert client.get("/metadatas", headers=headers).json() == [existing]
    problem(client.post("/metadatas", json=metadata_body(slug="x"), headers=headers), 403)
    problem(client.get("/metadatas", headers={"Authorization": "Bearer header.payload.other"}), 401)


# --- tenancy -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("route", [GET, PUT, DELETE], ids=ids_of)
@pytest.mark.parametrize("role", ["reader", "admin"])
def test_another_tenants_resource_is_404_and_untouched(
    client: Client, tenant: TenantKeys, other_tenant: TenantKeys, route: Route, role: str
) -> None:
    theirs = create(client, other_tenant)
    create(client, tenant, slug="mine")

    response = route.call(client, theirs["uuid"], tenant.headers(role))

    problem(response, 403 if role == "reader" and route.writes else 404)
    assert contents(client, other_tenant) == [theirs]


@pytest.mark.parametrize(
    ("params", "finds_mine"),
    [
        ({}, True),
        ({"limit": "100"}, True),
        ({"id": "{theirs[id]}"}, False),
        ({"id[]": ["{theirs[id]}", "{mine[id]}"]}, True),
        ({"uuid": "{theirs[uuid]}"}, False),
        ({"uuid[]": ["{theirs[uuid]}", "{mine[uuid]}"]}, True),
        ({"slug": "{theirs[slug]}"}, False),
        ({"owner": "{theirs[owner]}"}, True),
        ({"title": "oauth"}, True),
    ],
)
def test_another_tenants_resources_are_absent_from_lists_and_filters(
    client: Client, tenant: TenantKeys, other_tenant: TenantKeys, params: dict[str, Any], finds_mine: bool
) -> None:
    theirs = create(client, other_tenant)
    mine = create(client, tenant, slug="mine")

    def fill(value: Any) -> Any:
        return [fill(item) for item in value] if isinstance(value, list) else value.format(theirs=theirs, mine=mine)

    response = client.get("/metadatas", params={k: fill(v) for k, v in params.items()}, headers=tenant.headers())

    assert response.json() == ([mine] if finds_mine else [])
    assert response.headers["x-total-count"] == ("1" if finds_mine else "0")


def test_each_tenant_lists_only_its_own(client: Client, tenant: TenantKeys, other_tenant: TenantKeys) -> None:
    mine = [create(client, tenant, slug=f"mine-{n}") for n in range(3)]
    theirs = [create(client, other_tenant, slug=f"theirs-{n}") for n in range(2)]

    assert contents(client, tenant) == mine
    assert contents(client, other_tenant) == theirs
    assert {item["tenant"] for item in mine} == {tenant.uuid}
    assert {item["tenant"] for item in theirs} == {other_tenant.uuid}


def test_the_same_slug_may_exist_in_two_tenants(client: Client, tenant: TenantKeys, other_tenant: TenantKeys) -> None:
    mine = create(client, tenant)
    theirs = create(client, other_tenant)

    assert mine["slug"] == theirs["slug"]
    assert client.get("/metadatas", params={"slug": mine["slug"]}, headers=tenant.headers()).json() == [mine]
    assert client.get("/metadatas", params={"slug": mine["slug"]}, headers=other_tenant.headers()).json() == [theirs]


def test_a_uuid_used_by_another_tenant_is_not_revealed(
    client: Client, tenant: TenantKeys, other_tenant: TenantKeys
) -> None:
    theirs = create(client, other_tenant)

    mine = create(client, tenant, uuid=theirs["uuid"])

    assert mine["uuid"] == theirs["uuid"]
    assert mine["tenant"] == tenant.uuid
    assert client.get(f"/metadatas/{mine['uuid']}", headers=tenant.headers()).json() == mine
    assert client.get(f"/metadatas/{mine['uuid']}", headers=other_tenant.headers()).json() == theirs


def test_editing_and_deleting_act_only_within_the_callers_tenant(
    client: Client, tenant: TenantKeys, other_tenant: TenantKeys
) -> None:
    shared_uuid = str(uuidlib.uuid4())
    mine = create(client, tenant, uuid=shared_uuid)
    theirs = create(client, other_tenant, uuid=shared_uuid)

    edited = client.put(f"/metadatas/{shared_uuid}", json={"data": "mine", "version": 1}, headers=tenant.headers())
    assert edited.json()["data"] == "mine"
    assert client.delete(f"/metadatas/{shared_uuid}", headers=tenant.headers()).status_code == 204

    assert contents(client, tenant) == []
    assert contents(client, other_tenant) == [theirs]
    assert mine["id"] != theirs["id"]


# --- public routes -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/openapi.json", "/docs"])
@pytest.mark.parametrize("header", [None, "Bearer mdk_" + "A" * 43])
def test_public_routes_need_no_credential(client: Client, path: str, header: str | None) -> None:
    response = client.get(path, headers={"Authorization": header} if header else {})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("path", ["/metadatas", f"/metadatas/{uuidlib.uuid4()}"])
def test_options_needs_no_credential_and_reveals_nothing(client: Client, path: str) -> None:
    response = client.options(path)
    assert response.status_code == 204
    assert response.content == b""
    assert "OPTIONS" in response.headers["allow"]
