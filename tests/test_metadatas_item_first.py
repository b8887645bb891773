"""``/metadatas`` as API Platform orders things (issue 11): the item is looked up before the body is read, so a PUT or
DELETE on a missing or another tenant's uuid is a 404 whatever the body; successes say ``application/json;
charset=utf-8`` as API Platform writes it, errors keep ``application/problem+json``."""

from __future__ import annotations

from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from tests.factories import TenantKeys, metadata_body, problem, violation_paths

Client = TestClient[Litestar]

JSON_UTF8 = "application/json; charset=utf-8"
MISSING = "0f9c1c55-1bd6-4c36-8a0c-2b7f1b3c8f00"

# Bodies that fail before or during validation: what DigitalState's tenant test sends ({}), JSON that is no object,
# JSON that does not parse, and a body that decodes but breaks a rule (a blank owner, a bad ownerUuid).
BAD_BODIES: list[Any] = [
    pytest.param(b"{}", id="empty-object"),
    pytest.param(b"[]", id="array"),
    pytest.param(b"{not json", id="malformed"),
    pytest.param(b"", id="no-body"),
    pytest.param(b'{"version": "one"}', id="wrong-type"),
    pytest.param(b'{"owner": " ", "version": 1}', id="blank-owner"),
    pytest.param(b'{"ownerUuid": "nope", "version": 1}', id="bad-owner-uuid"),
]


@pytest.fixture
def theirs(client: Client, other_tenant: TenantKeys) -> str:
    """A resource of another tenant: its uuid is real, just not ours."""
    response = client.post("/metadatas", json=metadata_body(slug="theirs"), headers=other_tenant.headers())
    assert response.status_code == 201, response.text
    uuid: str = response.json()["uuid"]
    return uuid


@pytest.fixture
def ours(client: Client, tenant: TenantKeys) -> dict[str, Any]:
    response = client.post("/metadatas", json=metadata_body(slug="ours"), headers=tenant.headers())
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def _put(client: Client, tenant: TenantKeys, uuid: str, body: bytes) -> Any:
    headers = {**tenant.headers("writer"), "Content-Type": "application/json", "Accept": "application/json"}
    return client.put(f"/metadatas/{uuid}", content=body, headers=headers)


@pytest.mark.parametrize("body", BAD_BODIES)
def test_a_put_on_a_missing_uuid_is_404_whatever_the_body(client: Client, tenant: TenantKeys, body: bytes) -> None:
    problem(_put(client, tenant, MISSING, body), 404)


@pytest.mark.parametrize("body", BAD_BODIES)
def test_a_put_on_another_tenants_uuid_is_404_whatever_the_body_and_changes_nothing(
    client: Client, tenant: TenantKeys, other_tenant: TenantKeys, theirs: str, body: bytes
) -> None:
    before = client.get(f"/metadatas/{theirs}", headers=other_tenant.headers()).json()

    problem(_put(client, tenant, theirs, body), 404)

    assert client.get(f"/metadatas/{theirs}", headers=other_tenant.headers()).json() == before


def test_a_bad_body_on_an_existing_item_is_still_the_400_naming_the_property(
    client: Client, tenant: TenantKeys, ours: dict[str, Any]
) -> None:
    assert violation_paths(_put(client, tenant, ours["uuid"], b"{}")) == {"version"}
    assert violation_paths(_put(client, tenant, ours["uuid"], b'{"owner": " ", "version": 1}')) == {"owner"}
    problem(_put(client, tenant, ours["uuid"], b"{not json"), 400)


def test_a_delete_with_a_body_on_a_missing_or_foreign_uuid_is_404(
    client: Client, tenant: TenantKeys, other_tenant: TenantKeys, theirs: str
) -> None:
    headers = {**tenant.headers("writer"), "Content-Type": "application/json"}
    for uuid in (MISSING, theirs):
        problem(client.request("DELETE", f"/metadatas/{uuid}", content=b"{}", headers=headers), 404)
    assert client.get(f"/metadatas/{theirs}", headers=other_tenant.headers()).status_code == 200


def test_successes_say_json_with_charset_utf8_as_api_platform_writes_it(
    client: Client, tenant: TenantKeys, ours: dict[str, Any]
) -> None:
    headers = tenant.headers("writer")
    created = client.post("/metadatas", json=metadata_body(slug="another"), headers=headers)
    read = client.get(f"/metadatas/{ours['uuid']}", headers=headers)
    listed = client.get("/metadatas", headers=headers)
    edited = client.put(f"/metadatas/{ours['uuid']}", json={"data": {"x": "é"}, "version": 1}, headers=headers)

    for response, status in ((created, 201), (read, 200), (listed, 200), (edited, 200)):
        assert response.status_code == status, response.text
        assert response.headers.get_list("content-type") == [JSON_UTF8]
    assert edited.json()["data"] == {"x": "é"}  # the bytes are UTF-8, as the header says


def test_errors_keep_the_problem_details_media_type(client: Client, tenant: TenantKeys) -> None:
    for response in (
        client.get(f"/metadatas/{MISSING}", headers=tenant.headers()),
        client.get("/metadatas"),
        client.post("/metadatas", json={}, headers=tenant.headers()),
    ):
        assert response.status_code in (400, 401, 404)
        assert response.headers["content-type"] == "application/problem+json"
