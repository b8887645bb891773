"""DigitalState's own test suite for the metadata resource (the Behat features of ``DigitalState/Services``:
``api/features/api/metadata/{browse,read,add,edit,delete}.feature``, ``security/tenant/metadata.feature`` and
``security/firewall/metadata.feature``), replayed against a live Metadock and mapped onto its API.

What the features send: ``Accept: application/json`` on every request, ``Content-Type: application/json`` with a
body, a Bearer JWT for a user of the tenant (none in the firewall feature). What they check: the status, the
``Content-Type`` header compared as a string (``application/json; charset=utf-8`` on success), JSON nodes by path,
array lengths. The mapping onto Metadock:

- ``/metadata`` is ``/metadatas`` (the resource path of DigitalState's published API, which Metadock serves);
  ``_page``/``_limit`` are the published ``page``/``limit``; ids and uuids are the ones Metadock gave.
- ``deletedAt`` is not checked: the published resource has no such field and Metadock has no soft delete (the
  ``deletedAt[...]`` scenarios are left out for the same reason).
- ``createdAt`` sent in a body is ignored: it is read-only in the published API (the add and edit features expect it
  to be written, a fixture-loading convenience of the service's own code).
- A stale ``version`` is a 409 problem (the feature expects API Platform's 500); errors are
  ``application/problem+json`` where the features expect ``application/json``: both are in the README.
"""

from __future__ import annotations

import re
import uuid as uuidlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from metadock.kit.principal import Role
from tests.clients.conftest import Metadock
from tests.factories import METADATA_FIELDS, create_tenant, create_user

JSON_UTF8 = "application/json; charset=utf-8"
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
OWNER_UUID = "325e1004-8516-4ca9-a4d3-d7505bd9a7fe"
# The feature suite's fixture: one metadata in the tenant under test ("acl-scopes").
ACL_SCOPES = {
    "owner": "BusinessUnit",
    "ownerUuid": OWNER_UUID,
    "title": {"en": "Acl Scopes", "fr": "Portée acl"},
    "slug": "acl-scopes",
    "type": "acl",
    "data": {"scopes": ["owner", "generic"]},
    "version": 1,
}


@dataclass
class Behat:
    """The feature context's HTTP steps: 'I add "Accept" header', 'I send a "X" request to "..." [with body]'."""

    http: httpx.Client
    token: str | None

    def send(self, method: str, path: str, body: Any = None, params: Any = None) -> httpx.Response:
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        if self.token is not None:
            headers["Authorization"] = f"Bearer {self.token}"
        return self.http.request(method, path, json=body, params=params, headers=headers)


@dataclass
class Tenants:
    ours: Behat  # the feature suite's "system@system.ds user from the tenant b6ac25fe-..."
    ours_uuid: str
    theirs: Behat
    anonymous: Behat
    acl: dict[str, Any]  # our fixture metadata, as created
    foreign: dict[str, Any]  # the other tenant's, with the same owner, title and type


def _tenant_token(metadock: Metadock, http: httpx.Client) -> tuple[str, str]:
    tenant = create_tenant(metadock.database_url, f"ds-{uuidlib.uuid4().hex[:8]}")
    user = create_user(metadock.database_url, tenant.uuid, f"system@{tenant.uuid}.ds", role=Role.ADMIN)
    response = http.post("/fabric/api/login", json={"username": user.email, "password": user.password})
    assert response.status_code == 200, response.text
    return tenant.uuid, response.json()["token"]


@pytest.fixture
def ds(metadock: Metadock) -> Iterator[Tenants]:
    with httpx.Client(base_url=metadock.base_url, timeout=30) as http:
        ours_uuid, ours_token = _tenant_token(metadock, http)
        _theirs_uuid, theirs_token = _tenant_token(metadock, http)
        ours, theirs = Behat(http, ours_token), Behat(http, theirs_token)
        foreign = theirs.send("POST", "/metadatas", {**ACL_SCOPES, "slug": "theirs"})
        acl = ours.send("POST", "/metadatas", ACL_SCOPES)
        assert acl.status_code == foreign.status_code == 201, (acl.text, foreign.text)
        yield Tenants(ours, ours_uuid, theirs, Behat(http, None), acl.json(), foreign.json())


def _ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == JSON_UTF8
    return response.json()


def _error(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == status  # "the response should be in JSON"


def _check_resource_schema(item: dict[str, Any], tenant_uuid: str) -> None:
    assert set(item) == METADATA_FIELDS
    assert isinstance(item["id"], int)
    assert UUID.fullmatch(item["uuid"])
    assert UUID.fullmatch(item["ownerUuid"])
    assert isinstance(item["createdAt"], str)
    assert isinstance(item["updatedAt"], str)
    assert all(isinstance(item[key], str) for key in ("owner", "slug", "type"))
    assert isinstance(item["title"], dict)
    assert isinstance(item["data"], dict)
    assert isinstance(item["version"], int)
    assert item["tenant"] == tenant_uuid


def test_browse_feature(ds: Tenants) -> None:
    [item] = _ok(ds.ours.send("GET", "/metadatas"))
    _check_resource_schema(item, ds.ours_uuid)

    acl = ds.acl
    # Every browse scenario finds exactly the one fixture, never the other tenant's look-alike.
    scenarios: list[dict[str, str]] = [
        {"page": "1", "limit": "1"},
        {"id": str(acl["id"])},
        {"id[0]": str(acl["id"])},
        {"uuid": acl["uuid"]},
        {"uuid[0]": acl["uuid"]},
        {"owner": "BusinessUnit"},
        {"owner[0]": "BusinessUnit"},
        {"ownerUuid": OWNER_UUID},
        {"ownerUuid[0]": OWNER_UUID},
        {"title": "acl"},
        {"title": "ACL"},  # the case-insensitive scenario
        {"createdAt[before]": "2050-01-01"},
        {"createdAt[after]": "2000-01-01"},
        {"updatedAt[before]": "2050-01-01"},
        {"updatedAt[after]": "2000-01-01"},
    ]
    for params in scenarios:
        found = _ok(ds.ours.send("GET", "/metadatas", params=params))
        assert [row["uuid"] for row in found] == [acl["uuid"]], params


def test_read_feature(ds: Tenants) -> None:
    item = _ok(ds.ours.send("GET", f"/metadatas/{ds.acl['uuid']}"))

    assert item["id"] == ds.acl["id"]
    assert item["uuid"] == ds.acl["uuid"]
    assert (item["owner"], item["ownerUuid"]) == ("BusinessUnit", OWNER_UUID)
    assert item["title"] == {"en": "Acl Scopes", "fr": "Portée acl"}
    assert (item["slug"], item["type"], item["version"], item["tenant"]) == ("acl-scopes", "acl", 1, ds.ours_uuid)
    assert "data" in item
    assert "createdAt" in item
    assert "updatedAt" in item


def test_add_feature(ds: Tenants) -> None:
    body = {
        "createdAt": "2000-01-01 12:00:00",
        "owner": "BusinessUnit",
        "ownerUuid": OWNER_UUID,
        "title": {"en": "Title - add", "fr": "Titre - add"},
        "slug": "slug-add",
        "type": "type-add",
        "data": {"value": "value-add"},
        "version": 1,
    }
    added = _ok(ds.ours.send("POST", "/metadatas", body), 201)

    assert isinstance(added["id"], int)
    assert UUID.fullmatch(added["uuid"])
    assert added["createdAt"] != "2000-01-01T12:00:00+00:00"  # read-only in the published API
    assert (added["owner"], added["ownerUuid"]) == ("BusinessUnit", OWNER_UUID)
    assert added["title"] == {"en": "Title - add", "fr": "Titre - add"}
    assert (added["slug"], added["type"], added["data"]) == ("slug-add", "type-add", {"value": "value-add"})
    assert (added["version"], added["tenant"]) == (1, ds.ours_uuid)

    # "Read the added metadata": browse by its id.
    [found] = _ok(ds.ours.send("GET", "/metadatas", params={"id": str(added["id"])}))
    assert found == added


def test_edit_feature(ds: Tenants) -> None:
    path = f"/metadatas/{ds.acl['uuid']}"
    edit = {
        "createdAt": "2000-01-01 12:00:00",
        "owner": "System",
        "ownerUuid": "aa18b644-a503-49fa-8f53-10f4c1f8e3a1",
        "title": {"en": "Title - edit", "fr": "Titre - edit"},
        "slug": "slug-edit",
        "type": "type-edit",
        "data": {"value": "value-edit"},
        "version": 1,
    }
    expected = {key: value for key, value in edit.items() if key not in ("createdAt", "version")}

    edited = _ok(ds.ours.send("PUT", path, edit))
    confirmed = _ok(ds.ours.send("GET", path))
    for item in (edited, confirmed):
        assert {key: item[key] for key in expected} == expected
        assert item["version"] == 2
        assert item["createdAt"] == ds.acl["createdAt"]

    # "Edit a metadata's read-only properties": accepted, and none of them changes.
    read_only = {
        "id": 9999,
        "uuid": "421aebbb-e62e-4b87-bced-42921456131b",
        "updatedAt": "2000-01-01T12:00:00+00:00",
        "version": 2,
        "tenant": "93377748-2abb-4e33-9027-5d8a5c281a41",
    }
    for item in (_ok(ds.ours.send("PUT", path, read_only)), _ok(ds.ours.send("GET", path))):
        assert (item["id"], item["uuid"], item["tenant"]) == (ds.acl["id"], ds.acl["uuid"], ds.ours_uuid)
        assert "2000-01-01T12:00:00+00:00" not in item["updatedAt"]

    # "Edit a metadata with an invalid optimistic lock": API Platform answers 500; Metadock a 409 problem.
    _error(ds.ours.send("PUT", path, {"ownerUuid": "8a1e280b-cd3b-4c1e-be62-f2e74b77e350", "version": 1}), 409)
    assert _ok(ds.ours.send("GET", path))["ownerUuid"] == "aa18b644-a503-49fa-8f53-10f4c1f8e3a1"


def test_delete_feature(ds: Tenants) -> None:
    path = f"/metadatas/{ds.acl['uuid']}"
    deleted = ds.ours.send("DELETE", path)
    assert deleted.status_code == 204
    assert deleted.content == b""

    _error(ds.ours.send("GET", path), 404)  # "Read the deleted metadata"
    _error(ds.ours.send("GET", path), 404)  # "Delete a deleted metadata" (the feature reads it again)
    _error(ds.ours.send("DELETE", path), 404)


def test_firewall_feature_denies_anonymous_callers(ds: Tenants) -> None:
    path = f"/metadatas/{ds.acl['uuid']}"
    for method, target, body in (
        ("GET", "/metadatas", None),
        ("GET", path, None),
        ("POST", "/metadatas", {}),
        ("PUT", path, {}),
        ("DELETE", path, None),
    ):
        _error(ds.anonymous.send(method, target, body), 401)
    assert _ok(ds.ours.send("GET", path))["version"] == 1


def test_tenant_feature_denies_other_tenants_metadata(ds: Tenants) -> None:
    listed = _ok(ds.ours.send("GET", "/metadatas"))
    assert listed
    assert all(item["tenant"] == ds.ours_uuid for item in listed)

    path = f"/metadatas/{ds.foreign['uuid']}"
    _error(ds.ours.send("GET", path), 404)
    _error(ds.ours.send("PUT", path, {}), 404)  # not found before the empty body is even validated
    _error(ds.ours.send("DELETE", path), 404)
    assert _ok(ds.theirs.send("GET", path)) == ds.foreign
