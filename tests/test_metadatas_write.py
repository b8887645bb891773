"""POST, GET, PUT and DELETE of one ``/metadatas`` resource, as the DigitalState seed and issue 2 describe them."""

from __future__ import annotations

import datetime as dt
import re
import uuid as uuidlib
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from tests.factories import METADATA_FIELDS, TenantKeys, metadata_body, problem, set_timestamps, violation_paths

Client = TestClient[Litestar]

TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+00:00$")
PAST = dt.datetime(2018, 7, 18, 19, 20, 17, tzinfo=dt.UTC)
PAST_TEXT = "2018-07-18T19:20:17+00:00"
OTHER_UUID = "a9d68bf7-5000-49fe-8b00-33dde235b327"
REMOVE = object()  # a parametrized override that deletes the key from the body


def create(client: Client, keys: TenantKeys, /, **overrides: Any) -> dict[str, Any]:
    response = client.post("/metadatas", json=metadata_body(**overrides), headers=keys.headers())
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def fetch(client: Client, tenant: TenantKeys, uuid: str) -> dict[str, Any]:
    response = client.get(f"/metadatas/{uuid}", headers=tenant.headers())
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def listed(client: Client, tenant: TenantKeys) -> list[dict[str, Any]]:
    response = client.get("/metadatas", headers=tenant.headers())
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()
    return items


def with_changes(changes: dict[str, Any]) -> dict[str, Any]:
    body = metadata_body()
    for key, value in changes.items():
        if value is REMOVE:
            body.pop(key, None)
        else:
            body[key] = value
    return body


# --- POST ----------------------------------------------------------------------------------------------------------


def test_post_seed_example_answers_201_with_location_and_the_resource(client: Client, tenant: TenantKeys) -> None:
    sent = metadata_body()
    response = client.post("/metadatas", json=sent, headers=tenant.headers())

    assert response.status_code == 201, response.text
    assert response.headers["content-type"].startswith("application/json")
    created = response.json()
    assert set(created) == METADATA_FIELDS
    assert {key: created[key] for key in ("owner", "ownerUuid", "title", "slug", "type", "data")} == {
        key: sent[key] for key in ("owner", "ownerUuid", "title", "slug", "type", "data")
    }
    assert isinstance(created["id"], int)
    assert str(uuidlib.UUID(created["uuid"])) == created["uuid"]
    assert created["version"] == 1
    assert created["tenant"] == tenant.uuid
    assert TIMESTAMP.match(created["createdAt"]), created["createdAt"]
    assert created["updatedAt"] == created["createdAt"]
    created_at = dt.datetime.fromisoformat(created["createdAt"])
    assert abs(dt.datetime.now(dt.UTC) - created_at) < dt.timedelta(minutes=1)

    assert response.headers["location"] == f"/metadatas/{created['uuid']}"
    assert fetch(client, tenant, created["uuid"]) == created
    assert listed(client, tenant) == [created]


def test_post_defaults_optional_fields(client: Client, tenant: TenantKeys) -> None:
    body = {"owner": "BusinessUnit", "title": {"en": "Minimal"}, "slug": "minimal", "type": "user", "version": 1}
    created = client.post("/metadatas", json=body, headers=tenant.headers()).json()

    assert created["data"] == {}
    assert created["ownerUuid"] is None
    uuidlib.UUID(created["uuid"])  # generated


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("cf687347-6bba-4137-b180-9f581f5cba84", "cf687347-6bba-4137-b180-9f581f5cba84"),
        ("CF687347-6BBA-4137-B180-9F581F5CBA84", "cf687347-6bba-4137-b180-9f581f5cba84"),
    ],
)
def test_post_keeps_a_client_given_uuid_in_canonical_form(
    client: Client, tenant: TenantKeys, sent: str, stored: str
) -> None:
    response = client.post("/metadatas", json=metadata_body(uuid=sent), headers=tenant.headers())

    assert response.status_code == 201, response.text
    assert response.json()["uuid"] == stored
    assert response.headers["location"] == f"/metadatas/{stored}"
    assert fetch(client, tenant, stored)["uuid"] == stored


def test_post_canonicalises_owner_uuid(client: Client, tenant: TenantKeys) -> None:
    created = create(client, tenant, ownerUuid=OTHER_UUID.upper())
    assert created["ownerUuid"] == OTHER_UUID


@pytest.mark.parametrize("version", [0, 1, 7, -3, 2**40])
def test_post_starts_every_resource_at_version_1(client: Client, tenant: TenantKeys, version: int) -> None:
    assert create(client, tenant, version=version)["version"] == 1


def test_post_ignores_read_only_fields(client: Client, tenant: TenantKeys, other_tenant: TenantKeys) -> None:
    created = create(
        client,
        tenant,
        id=999,
        createdAt="2000-01-01T00:00:00+00:00",
        updatedAt="2000-01-01T00:00:00+00:00",
        tenant=other_tenant.uuid,
    )

    assert created["id"] != 999
    assert created["tenant"] == tenant.uuid
    assert not created["createdAt"].startswith("2000")
    assert not created["updatedAt"].startswith("2000")
    assert listed(client, other_tenant) == []


@pytest.mark.parametrize(
    "data",
    [
        ["Github", "Google", "Twitter"],
        {"nested": {"list": [1, 2.5, None, True, "x"]}, "empty": {}},
        "plain text",
        42,
        [],
        {"unicode": "Straße — 東京 😀"},
    ],
)
def test_post_stores_any_json_data(client: Client, tenant: TenantKeys, data: Any) -> None:
    created = create(client, tenant, data=data)
    assert created["data"] == data
    assert fetch(client, tenant, created["uuid"])["data"] == data


def test_post_accepts_text_of_the_maximum_length(client: Client, tenant: TenantKeys) -> None:
    text = "x" * 255
    created = create(client, tenant, owner=text, slug=text, type=text, title={"en": text})
    assert (created["owner"], created["slug"], created["type"], created["title"]) == (text, text, text, {"en": text})


def test_post_duplicate_slug_is_400_naming_slug_and_creates_nothing(client: Client, tenant: TenantKeys) -> None:
    first = create(client, tenant)
    response = client.post("/metadatas", json=metadata_body(title={"en": "Other"}), headers=tenant.headers())

    assert violation_paths(response) == {"slug"}
    assert listed(client, tenant) == [first]


def test_post_duplicate_uuid_is_400_naming_uuid_and_creates_nothing(client: Client, tenant: TenantKeys) -> None:
    first = create(client, tenant)
    response = client.post("/metadatas", json=metadata_body(uuid=first["uuid"], slug="other"), headers=tenant.headers())

    assert violation_paths(response) == {"uuid"}
    assert listed(client, tenant) == [first]


@pytest.mark.parametrize(
    ("changes", "path"),
    [
        ({"owner": REMOVE}, "owner"),
        ({"title": REMOVE}, "title"),
        ({"slug": REMOVE}, "slug"),
        ({"type": REMOVE}, "type"),
        ({"version": REMOVE}, "version"),
        ({"owner": ""}, "owner"),
        ({"owner": "   "}, "owner"),
        ({"owner": None}, "owner"),
        ({"owner": 5}, "owner"),
        ({"owner": "x" * 256}, "owner"),
        ({"slug": ""}, "slug"),
        ({"slug": "x" * 256}, "slug"),
        ({"slug": ["a"]}, "slug"),
        ({"type": ""}, "type"),
        ({"type": "x" * 256}, "type"),
        ({"title": {}}, "title"),
        ({"title": "OAuth"}, "title"),
        ({"title": None}, "title"),
        ({"title": {"": "OAuth"}}, "title[]"),
        ({"title": {"en": "x" * 256}}, "title[en]"),
        ({"version": "one"}, "version"),
        ({"version": None}, "version"),
        ({"version": 1.5}, "version"),
        ({"uuid": "not-a-uuid"}, "uuid"),
        ({"uuid": 12}, "uuid"),
        ({"ownerUuid": "not-a-uuid"}, "ownerUuid"),
        ({"ownerUuid": 5}, "ownerUuid"),
    ],
)
def test_post_invalid_body_is_400_naming_the_property(
    client: Client, tenant: TenantKeys, changes: dict[str, Any], path: str
) -> None:
    response = client.post("/metadatas", json=with_changes(changes), headers=tenant.headers())

    assert violation_paths(response) == {path}
    assert listed(client, tenant) == []


def test_post_names_a_non_string_title_translation_under_title(client: Client, tenant: TenantKeys) -> None:
    response = client.post("/metadatas", json=metadata_body(title={"en": 1}), headers=tenant.headers())

    (path,) = violation_paths(response)
    assert path.startswith("title")


def test_post_reports_every_invalid_property_at_once(client: Client, tenant: TenantKeys) -> None:
    body = metadata_body(owner="", slug=" ", uuid="nope", ownerUuid="nope")
    response = client.post("/metadatas", json=body, headers=tenant.headers())

    assert violation_paths(response) == {"owner", "slug", "uuid", "ownerUuid"}


# --- GET item ------------------------------------------------------------------------------------------------------


def test_get_item_accepts_the_uuid_in_any_case(client: Client, tenant: TenantKeys) -> None:
    created = create(client, tenant)
    assert fetch(client, tenant, created["uuid"].upper()) == created


@pytest.mark.parametrize("path_uuid", [str(uuidlib.uuid4()), "not-a-uuid", "1"])
def test_get_unknown_item_is_404(client: Client, tenant: TenantKeys, path_uuid: str) -> None:
    create(client, tenant)
    problem(client.get(f"/metadatas/{path_uuid}", headers=tenant.headers()), 404)


# --- PUT -----------------------------------------------------------------------------------------------------------


def test_put_seed_example_edits_data_only_and_bumps_version_and_updated_at(
    client: Client, tenant: TenantKeys, database_url: str
) -> None:
    created = create(client, tenant)
    set_timestamps(database_url, created["uuid"], PAST, PAST)
    before = fetch(client, tenant, created["uuid"])

    body = {"data": ["Github", "Google", "Twitter", "Yahoo"], "version": 1}
    response = client.put(f"/metadatas/{created['uuid']}", json=body, headers=tenant.headers())

    assert response.status_code == 200, response.text
    edited = response.json()
    assert edited["data"] == ["Github", "Google", "Twitter", "Yahoo"]
    assert edited["version"] == 2
    assert edited["createdAt"] == PAST_TEXT
    assert TIMESTAMP.match(edited["updatedAt"])
    assert edited["updatedAt"] > PAST_TEXT
    unchanged = METADATA_FIELDS - {"data", "version", "updatedAt"}
    assert {key: edited[key] for key in unchanged} == {key: before[key] for key in unchanged}
    assert fetch(client, tenant, created["uuid"]) == edited


@pytest.mark.parametrize(
    "changes",
    [
        {"owner": "Staff"},
        {"ownerUuid": OTHER_UUID},
        {"ownerUuid": None},
        {"title": {"fr": "Fournisseurs"}},
        {"slug": "renamed"},
        {"type": "user"},
        {"data": {"replaced": True}},
        {"owner": "Staff", "type": "user", "slug": "both"},
    ],
)
def test_put_changes_only_the_properties_sent(client: Client, tenant: TenantKeys, changes: dict[str, Any]) -> None:
    created = create(client, tenant)
    response = client.put(f"/metadatas/{created['uuid']}", json={**changes, "version": 1}, headers=tenant.headers())

    assert response.status_code == 200, response.text
    edited = response.json()
    assert edited == {**created, **changes, "version": 2, "updatedAt": edited["updatedAt"]}
    assert fetch(client, tenant, created["uuid"]) == edited


def test_put_title_is_what_the_title_filter_then_finds(client: Client, tenant: TenantKeys) -> None:
    created = create(client, tenant)
    client.put(
        f"/metadatas/{created['uuid']}", json={"title": {"de": "Anbieter"}, "version": 1}, headers=tenant.headers()
    )

    def titles(query: str) -> list[str]:
        return [item["uuid"] for item in client.get(f"/metadatas?title={query}", headers=tenant.headers()).json()]

    assert titles("anbieter") == [created["uuid"]]
    assert titles("oauth") == []


def test_put_ignores_read_only_fields(client: Client, tenant: TenantKeys, other_tenant: TenantKeys) -> None:
    created = create(client, tenant)
    body = {
        "id": 999,
        "uuid": str(uuidlib.uuid4()),
        "createdAt": "2000-01-01T00:00:00+00:00",
        "updatedAt": "2000-01-01T00:00:00+00:00",
        "tenant": other_tenant.uuid,
        "version": 1,
    }
    response = client.put(f"/metadatas/{created['uuid']}", json=body, headers=tenant.headers())

    assert response.status_code == 200, response.text
    edited = response.json()
    assert {key: edited[key] for key in ("id", "uuid", "createdAt", "tenant")} == {
        key: created[key] for key in ("id", "uuid", "createdAt", "tenant")
    }
    assert not edited["updatedAt"].startswith("2000")
    assert listed(client, other_tenant) == []


def test_put_versions_count_up_with_each_edit(client: Client, tenant: TenantKeys) -> None:
    uuid = create(client, tenant)["uuid"]
    for version in (1, 2, 3):
        response = client.put(
            f"/metadatas/{uuid}", json={"data": version, "version": version}, headers=tenant.headers()
        )
        assert response.status_code == 200, response.text
        assert response.json()["version"] == version + 1
    assert fetch(client, tenant, uuid)["version"] == 4


@pytest.mark.parametrize("version", [0, 2, 99, -1, 2**40])
def test_put_with_a_stale_version_is_409_and_changes_nothing(
    client: Client, tenant: TenantKeys, database_url: str, version: int
) -> None:
    created = create(client, tenant)
    set_timestamps(database_url, created["uuid"], PAST, PAST)
    before = fetch(client, tenant, created["uuid"])

    response = client.put(
        f"/metadatas/{created['uuid']}",
        json={"data": "lost", "slug": "lost", "version": version},
        headers=tenant.headers(),
    )

    problem(response, 409)
    assert fetch(client, tenant, created["uuid"]) == before


def test_put_second_writer_on_the_same_version_gets_409(client: Client, tenant: TenantKeys) -> None:
    uuid = create(client, tenant)["uuid"]
    first = client.put(f"/metadatas/{uuid}", json={"data": "first", "version": 1}, headers=tenant.headers())
    second = client.put(f"/metadatas/{uuid}", json={"data": "second", "version": 1}, headers=tenant.headers())

    assert first.status_code == 200
    problem(second, 409)
    assert fetch(client, tenant, uuid)["data"] == "first"


def test_put_to_another_resources_slug_is_400_naming_slug_and_changes_nothing(
    client: Client, tenant: TenantKeys
) -> None:
    create(client, tenant, slug="taken")
    mine = create(client, tenant, slug="mine")

    response = client.put(f"/metadatas/{mine['uuid']}", json={"slug": "taken", "version": 1}, headers=tenant.headers())

    assert violation_paths(response) == {"slug"}
    assert fetch(client, tenant, mine["uuid"]) == mine


def test_put_keeping_its_own_slug_is_allowed(client: Client, tenant: TenantKeys) -> None:
    created = create(client, tenant)
    response = client.put(
        f"/metadatas/{created['uuid']}", json={"slug": created["slug"], "version": 1}, headers=tenant.headers()
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"data": ["x"]}, "version"),
        ({"data": ["x"], "version": None}, "version"),
        ({"data": ["x"], "version": "one"}, "version"),
        ({"owner": "", "version": 1}, "owner"),
        ({"owner": None, "version": 1}, "owner"),
        ({"slug": "", "version": 1}, "slug"),
        ({"slug": "x" * 256, "version": 1}, "slug"),
        ({"type": " ", "version": 1}, "type"),
        ({"title": {}, "version": 1}, "title"),
        ({"title": None, "version": 1}, "title"),
        ({"title": {"en": "x" * 256}, "version": 1}, "title[en]"),
        ({"ownerUuid": "nope", "version": 1}, "ownerUuid"),
    ],
)
def test_put_invalid_body_is_400_naming_the_property_and_changes_nothing(
    client: Client, tenant: TenantKeys, body: dict[str, Any], path: str
) -> None:
    created = create(client, tenant)
    response = client.put(f"/metadatas/{created['uuid']}", json=body, headers=tenant.headers())

    assert violation_paths(response) == {path}
    assert fetch(client, tenant, created["uuid"]) == created


@pytest.mark.parametrize("version", [1, 5])
@pytest.mark.parametrize("path_uuid", [str(uuidlib.uuid4()), "not-a-uuid"])
def test_put_unknown_item_is_404_whatever_the_version(
    client: Client, tenant: TenantKeys, path_uuid: str, version: int
) -> None:
    create(client, tenant)
    problem(client.put(f"/metadatas/{path_uuid}", json={"version": version}, headers=tenant.headers()), 404)


# --- DELETE --------------------------------------------------------------------------------------------------------


def test_delete_answers_204_without_body_and_the_resource_is_gone(client: Client, tenant: TenantKeys) -> None:
    kept = create(client, tenant, slug="kept")
    gone = create(client, tenant, slug="gone")

    response = client.delete(f"/metadatas/{gone['uuid']}", headers=tenant.headers())

    assert response.status_code == 204
    assert response.content == b""
    problem(client.get(f"/metadatas/{gone['uuid']}", headers=tenant.headers()), 404)
    assert listed(client, tenant) == [kept]
    problem(client.delete(f"/metadatas/{gone['uuid']}", headers=tenant.headers()), 404)


def test_delete_frees_the_slug(client: Client, tenant: TenantKeys) -> None:
    created = create(client, tenant)
    client.delete(f"/metadatas/{created['uuid']}", headers=tenant.headers())
    assert create(client, tenant)["slug"] == created["slug"]


@pytest.mark.parametrize("path_uuid", [str(uuidlib.uuid4()), "not-a-uuid"])
def test_delete_unknown_item_is_404_and_deletes_nothing(client: Client, tenant: TenantKeys, path_uuid: str) -> None:
    created = create(client, tenant)
    problem(client.delete(f"/metadatas/{path_uuid}", headers=tenant.headers()), 404)
    assert listed(client, tenant) == [created]
