"""Every error of /metadatas is an RFC 7807 problem as API Platform renders it, and no client mistake is a 500."""

from __future__ import annotations

import json
import uuid as uuidlib
from collections.abc import Iterator
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from tests.factories import TenantKeys, metadata_body, problem, violation_paths

Client = TestClient[Litestar]
MIB = 1024 * 1024


def create(client: Client, tenant: TenantKeys, **overrides: Any) -> dict[str, Any]:
    response = client.post("/metadatas", json=metadata_body(**overrides), headers=tenant.headers())
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def contents(client: Client, tenant: TenantKeys) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = client.get("/metadatas", headers=tenant.headers()).json()
    return items


# --- 400 -----------------------------------------------------------------------------------------------------------


def test_400_validation_problem_lists_violations(client: Client, tenant: TenantKeys) -> None:
    create(client, tenant)
    response = client.post("/metadatas", json=metadata_body(owner=""), headers=tenant.headers())

    body = problem(response, 400)
    assert set(body) == {"type", "title", "status", "detail", "violations"}
    assert body["violations"] == [{"propertyPath": "owner", "message": "This value should not be blank."}]
    assert body["detail"] == "owner: This value should not be blank."


def test_400_duplicate_slug_problem_says_so(client: Client, tenant: TenantKeys) -> None:
    create(client, tenant)
    body = problem(client.post("/metadatas", json=metadata_body(), headers=tenant.headers()), 400)

    assert body["violations"] == [{"propertyPath": "slug", "message": "This value is already used."}]
    assert body["detail"].startswith("slug: ")


def test_400_query_problem_names_the_parameter(client: Client, tenant: TenantKeys) -> None:
    body = problem(client.get("/metadatas?order[unknown]=asc", headers=tenant.headers()), 400)

    assert set(body) == {"type", "title", "status", "detail", "violations"}
    assert [violation["propertyPath"] for violation in body["violations"]] == ["order[unknown]"]
    assert "order[unknown]" in body["detail"]


MALFORMED = [
    b"{not json",
    b'{"owner": ',
    b"{'owner': 'single quotes'}",
    b'{"owner": "a",}',
    b"\xff\xfe{}",
    b'{"data": NaN, "version": 1}',
]
NOT_AN_OBJECT = [b"", b"[1, 2]", b"null", b'"text"', b"42"]


@pytest.mark.parametrize("content", MALFORMED + NOT_AN_OBJECT)
def test_400_for_a_body_that_is_not_a_json_object_on_post(client: Client, tenant: TenantKeys, content: bytes) -> None:
    headers = {**tenant.headers(), "Content-Type": "application/json"}
    body = problem(client.post("/metadatas", content=content, headers=headers), 400)

    assert "'data'" not in body["detail"]  # never the name of an internal argument
    assert contents(client, tenant) == []


@pytest.mark.parametrize("content", MALFORMED + NOT_AN_OBJECT)
def test_400_for_a_body_that_is_not_a_json_object_on_put(client: Client, tenant: TenantKeys, content: bytes) -> None:
    created = create(client, tenant)
    headers = {**tenant.headers(), "Content-Type": "application/json"}
    body = problem(client.put(f"/metadatas/{created['uuid']}", content=content, headers=headers), 400)

    assert "'data'" not in body["detail"]
    assert contents(client, tenant) == [created]


def test_400_for_an_empty_body_says_what_is_expected(client: Client, tenant: TenantKeys) -> None:
    body = problem(client.post("/metadatas", content=b"", headers=tenant.headers()), 400)
    assert "JSON object" in body["detail"]


# --- 401, 403 ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("headers", [{}, {"Authorization": "mdk_unknown_key_of_enough_length"}])
def test_401_problem_with_www_authenticate(client: Client, headers: dict[str, str]) -> None:
    response = client.get("/metadatas", headers=headers)

    body = problem(response, 401)
    assert set(body) == {"type", "title", "status", "detail"}
    assert response.headers["www-authenticate"] == "Bearer"


def test_403_problem(client: Client, tenant: TenantKeys) -> None:
    body = problem(client.post("/metadatas", json=metadata_body(), headers=tenant.headers("reader")), 403)
    assert set(body) == {"type", "title", "status", "detail"}


# --- 404, 405 ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/metadatas/{unknown}"),
        ("PUT", "/metadatas/{unknown}"),
        ("DELETE", "/metadatas/{unknown}"),
        ("GET", "/metadatas/not-a-uuid"),
        ("GET", "/nothing-here"),
        ("GET", "/metadatas/{unknown}/more"),
    ],
)
def test_404_problem(client: Client, tenant: TenantKeys, method: str, path: str) -> None:
    url = path.format(unknown=uuidlib.uuid4())
    response = client.request(method, url, json={"version": 1}, headers=tenant.headers())

    body = problem(response, 404)
    assert set(body) == {"type", "title", "status", "detail"}


@pytest.mark.parametrize(
    ("method", "item", "allowed"),
    [
        ("PATCH", True, {"GET", "PUT", "DELETE"}),
        ("POST", True, {"GET", "PUT", "DELETE"}),
        ("PATCH", False, {"GET", "POST"}),
        ("PUT", False, {"GET", "POST"}),
        ("DELETE", False, {"GET", "POST"}),
    ],
)
def test_405_problem_with_allow(client: Client, tenant: TenantKeys, method: str, item: bool, allowed: set[str]) -> None:
    created = create(client, tenant)
    path = f"/metadatas/{created['uuid']}" if item else "/metadatas"

    response = client.request(method, path, json={"data": "x", "version": 1}, headers=tenant.headers())

    body = problem(response, 405)
    assert set(body) == {"type", "title", "status", "detail"}
    assert allowed <= {method.strip() for method in response.headers["allow"].split(",")}
    assert contents(client, tenant) == [created]


# --- 409 -----------------------------------------------------------------------------------------------------------


def test_409_problem_for_a_stale_version(client: Client, tenant: TenantKeys) -> None:
    created = create(client, tenant)
    response = client.put(f"/metadatas/{created['uuid']}", json={"data": [], "version": 7}, headers=tenant.headers())

    body = problem(response, 409)
    assert set(body) == {"type", "title", "status", "detail"}
    assert "version" in body["detail"]


# --- 413 -----------------------------------------------------------------------------------------------------------


def _body_of_size(size: int, **overrides: Any) -> bytes:
    """A valid POST/PUT body of exactly ``size`` bytes (the padding is in ``data``)."""
    empty = json.dumps(metadata_body(data="", **overrides)).encode()
    return json.dumps(metadata_body(data="x" * (size - len(empty)), **overrides)).encode()


def _chunks(content: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
    for start in range(0, len(content), size):
        yield content[start : start + size]


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_413_for_a_post_body_over_1_mib(client: Client, tenant: TenantKeys, chunked: bool) -> None:
    content = _body_of_size(MIB + 1)
    headers = {**tenant.headers(), "Content-Type": "application/json"}

    response = client.post("/metadatas", content=_chunks(content) if chunked else content, headers=headers)

    body = problem(response, 413)
    assert set(body) == {"type", "title", "status", "detail"}
    assert contents(client, tenant) == []


def test_413_for_a_put_body_over_1_mib(client: Client, tenant: TenantKeys) -> None:
    created = create(client, tenant)
    content = _body_of_size(MIB + 1, version=1)

    response = client.put(f"/metadatas/{created['uuid']}", content=content, headers=tenant.headers())

    problem(response, 413)
    assert contents(client, tenant) == [created]


def test_a_body_of_exactly_1_mib_is_accepted(client: Client, tenant: TenantKeys) -> None:
    content = _body_of_size(MIB)
    assert len(content) == MIB

    response = client.post("/metadatas", content=content, headers=tenant.headers())

    assert response.status_code == 201, response.text[:200]
    assert len(response.json()["data"]) > MIB - 500


# --- never a 500 ---------------------------------------------------------------------------------------------------

NUL = "nul\x00byte"


@pytest.mark.parametrize(
    ("overrides", "path"),
    [
        ({"owner": NUL}, "owner"),
        ({"slug": NUL}, "slug"),
        ({"type": NUL}, "type"),
        ({"title": {"en": NUL}}, "title"),
        ({"title": {NUL: "OAuth"}}, "title"),
        ({"data": NUL}, "data"),
        ({"data": {"deep": [{"er": [NUL]}]}}, "data"),
        ({"data": {NUL: 1}}, "data"),
    ],
)
def test_nul_characters_in_a_body_are_400_not_500(
    client: Client, tenant: TenantKeys, overrides: dict[str, Any], path: str
) -> None:
    created = create(client, tenant, slug="existing")

    assert violation_paths(client.post("/metadatas", json=metadata_body(**overrides), headers=tenant.headers())) == {
        path
    }
    put = client.put(f"/metadatas/{created['uuid']}", json={**overrides, "version": 1}, headers=tenant.headers())
    assert violation_paths(put) == {path}
    assert contents(client, tenant) == [created]


@pytest.mark.parametrize("version", [2**31, 2**63, 2**70, -(2**63)])
def test_a_version_beyond_any_stored_one_is_409_not_500(client: Client, tenant: TenantKeys, version: int) -> None:
    created = create(client, tenant)
    response = client.put(f"/metadatas/{created['uuid']}", json={"version": version}, headers=tenant.headers())

    problem(response, 409)
    assert contents(client, tenant) == [created]


@pytest.mark.parametrize(
    "query",
    [
        "id=99999999999",
        "id=-99999999999",
        "id[]=1&id[]=2147483648",
        "createdAt[after]=0001-01-01T00:00:00%2B05:00",
        "updatedAt[before]=9999-12-31T23:59:59-05:00",
        "slug=%00",
        "title=a%00",
    ],
)
def test_out_of_range_query_values_are_400_not_500(client: Client, tenant: TenantKeys, query: str) -> None:
    create(client, tenant)
    problem(client.get(f"/metadatas?{query}", headers=tenant.headers()), 400)


@pytest.mark.parametrize(
    "data",
    [
        {"big": 123456789012345678901234567890},
        [0.1, -2.5, 1e-07],
        {"deep": json.loads("[" * 30 + "{}" + "]" * 30)},
        "\u202e\ufeff\U0001f600",
    ],
)
def test_unusual_but_valid_json_data_round_trips(client: Client, tenant: TenantKeys, data: Any) -> None:
    created = create(client, tenant, data=data)
    assert client.get(f"/metadatas/{created['uuid']}", headers=tenant.headers()).json()["data"] == data
