"""Hostile and malformed input, on SQLite and PostgreSQL: injection strings in every filter and order parameter,
odd bytes in ids, slugs and content types, invalid UTF-8, deep JSON, floods of query parameters, oversized bodies.

Each gets a clear answer in its dialect's shape (never a 5xx), and afterwards every row of every table and every
object in the store is exactly as before. The server's own limits (headers, request line) are in
``tests/hostile/test_live_limits.py``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from litestar.testing import TestClient

from metadock.kit.query import MAX_FILTER_VALUES
from metadock.metadatas import query as metadatas_query
from metadock.payloads import query as payloads_query
from metadock.settings import Settings
from tests.factories import (
    PAYLOADS,
    TenantKeys,
    capture_payload,
    laravel_error,
    metadata_body,
    problem,
    violation_paths,
)
from tests.hostile.snapshot import dialect_error, everything
from tests.test_role_matrix import documented_routes

Client = TestClient[object]

INJECTIONS = (
    "' OR 1=1 --",
    '"; DROP TABLE metadatas; --',
    "1; DROP TABLE payload_metadata",
    "1' UNION SELECT key_hash FROM api_keys --",
    "%",
    "_",
    "\\",
    "\\%",
    "\x00",
    "1\x00",
    "%' OR '%'='",
)

# Ids as they would appear in a path, already percent-encoded where a raw character would not survive as one.
ODD_IDS = (
    "..%2F..%2Fetc%2Fpasswd",
    "%2e%2e%2f%2e%2e%2f",
    "..%5C..%5Cwindows",
    "%252e%252e%252f",
    "%00",
    "1%00",
    "%ff%fe",
    "1%0D%0ASet-Cookie:%20a=b",
    "1%20OR%201=1",
    "x" * 10_000,
    "9" * 40,
    "-1",
    "0",
    "1.5",
)

TITLES = ("100% pure_data", "back\\slash", "Plain")


@dataclass
class Seeded:
    metadatas: list[dict[str, Any]]
    record: dict[str, Any]
    before: Any


@pytest.fixture
def seeded(client: Client, settings: Settings, tenant: TenantKeys) -> Iterator[Seeded]:
    """A few rows whose titles hold LIKE's wildcards and its escape character, one captured payload, and the
    snapshot of everything; the test's last word is that the snapshot still holds."""
    created = []
    for index, title in enumerate(TITLES):
        body = metadata_body(slug=f"row-{index}", title={"en": title}, type="kind", owner="owner")
        response = client.post("/metadatas", json=body, headers=tenant.headers("writer"))
        assert response.status_code == 201, response.text
        created.append(response.json())
    record = capture_payload(client, tenant.headers("writer"), b'{"keep": "me"}')
    seeded = Seeded(created, record, everything(settings))
    yield seeded
    assert everything(settings) == seeded.before, "hostile input changed stored data"


def _expected_uuids(seeded: Seeded, name: str, value: str) -> set[str] | None:
    """What a text filter must match, computed in Python; None for parameters whose hostile value must be a 400."""
    if name == "title":
        needle = value.casefold()
        return {row["uuid"] for row in seeded.metadatas if any(needle in t.casefold() for t in row["title"].values())}
    if name in ("owner", "slug", "type"):
        return {row["uuid"] for row in seeded.metadatas if row[name] == value}
    return None


def test_injection_strings_in_every_metadatas_filter_and_order_parameter(
    client: Client, tenant: TenantKeys, seeded: Seeded
) -> None:
    names = [name for name, _kind, _description in metadatas_query.documented_parameters()]
    names += ["order[' OR 1=1 --]", "createdAt[; DROP TABLE]"]
    wrong: list[str] = []
    for name in names:
        for value in INJECTIONS:
            response = client.get("/metadatas", params=[(name, value)], headers=tenant.headers("reader"))
            base = name.removesuffix("[]")
            want = None if "\x00" in value else _expected_uuids(seeded, base, value)
            if want is None:
                if response.status_code != 400 or name not in violation_paths(response):
                    wrong.append(f"{name}={value!r}: {response.status_code} {response.text[:200]}")
            elif response.status_code != 200 or {row["uuid"] for row in response.json()} != want:
                wrong.append(f"{name}={value!r}: {response.status_code}, expected {want}: {response.text[:200]}")
    assert not wrong, "\n".join(wrong)


def test_like_wildcards_in_a_title_match_only_themselves(client: Client, tenant: TenantKeys, seeded: Seeded) -> None:
    for needle, title in (("%", TITLES[0]), ("_", TITLES[0]), ("\\", TITLES[1]), ("0% p", TITLES[0])):
        response = client.get("/metadatas", params={"title": needle}, headers=tenant.headers("reader"))
        assert response.status_code == 200, response.text
        assert [row["title"]["en"] for row in response.json()] == [title], needle


def test_injection_strings_in_every_payload_filter_and_sort_parameter(
    client: Client, tenant: TenantKeys, seeded: Seeded
) -> None:
    names = [name for name, _kind, _description in payloads_query.documented_parameters()]
    names += ["filter[' OR 1=1 --]", "filter[id) OR (1=1]"]
    wrong: list[str] = []
    for name in names:
        for value in INJECTIONS:
            response = client.get(PAYLOADS, params=[(name, value)], headers=tenant.headers("reader"))
            if name.removeprefix("filter[").removesuffix("]") in payloads_query.ALLOWED_FILTERS:
                # A value that is no integer matches nothing (Laravel comparing an integer column to a string).
                ok = response.status_code == 200 and response.json()["data"] == []
            elif name.startswith("filter[tag."):
                # A tag's value is text compared exactly: an injection string is a value no tag has (NUL refused).
                ok = (response.status_code == 200 and response.json()["data"] == []) or (
                    "\x00" in value and "NUL" in laravel_error(response, 400)["message"]
                )
            elif name in ("page", "per_page"):
                # Read as a Laravel controller reads them: no leading integer means the default, never an error.
                ok = response.status_code == 200 and response.json()["meta"]["current_page"] == 1
            else:
                ok = response.status_code == 400 and "not allowed" in laravel_error(response, 400)["message"]
            if not ok:
                wrong.append(f"{name}={value!r}: {response.status_code} {response.text[:200]}")
    assert not wrong, "\n".join(wrong)


def test_path_traversal_and_odd_bytes_in_every_id_are_not_found(
    client: Client, tenant: TenantKeys, seeded: Seeded
) -> None:
    item_routes = sorted((method, path) for method, path in documented_routes(client) if "{" in path)
    assert item_routes
    bodies = {"PUT": {"data": ["x"], "version": 1}, "PATCH": {"disabled": True}}
    wrong: list[str] = []
    for method, template in item_routes:
        for odd in ODD_IDS:
            path = re.sub(r"\{[^}]+\}", odd, template)
            response = client.request(method, path, json=bodies.get(method), headers=tenant.headers("admin"))
            # 404: no such item; 405: the decoded path reached another route that lacks this method.
            if response.status_code not in (404, 405):
                wrong.append(f"{method} {path[:80]}: {response.status_code} {response.text[:200]}")
            else:
                dialect_error(path, response, response.status_code)
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("slug", "a\x00b"),
        ("slug", "s" * 256),
        ("owner", "\x00"),
        ("type", "t" * 256),
        ("title", {"en": "\x00"}),
        ("uuid", "00000000-0000-4000-8000-000000000000\r\nSet-Cookie: a=b"),
        ("uuid", "../../etc/passwd"),
        ("ownerUuid", "%00"),
    ],
)
def test_odd_bytes_in_slugs_and_fields_are_400_naming_the_field(
    client: Client, tenant: TenantKeys, seeded: Seeded, field: str, value: Any
) -> None:
    response = client.post("/metadatas", json=metadata_body(**{"slug": "new", field: value}), headers=tenant.headers())

    assert any(path.startswith(field) for path in violation_paths(response)), response.text


@pytest.mark.parametrize("slug", ["../../etc/passwd", "..%2F..%2F", "a\r\nLocation: https://evil.example"])
def test_a_path_like_slug_is_only_text_and_never_reaches_a_header(
    client: Client, tenant: TenantKeys, slug: str
) -> None:
    response = client.post("/metadatas", json=metadata_body(slug=slug), headers=tenant.headers())

    assert response.status_code == 201, response.text
    assert response.headers["location"] == f"/metadatas/{response.json()['uuid']}"
    assert client.get("/metadatas", params={"slug": slug}, headers=tenant.headers()).json()[0]["slug"] == slug


@pytest.mark.parametrize(
    "content_type",
    [
        "text/html\r\nX-Injected: 1",
        "text/html\nSet-Cookie: a=b",
        'text/plain; charset="a\r\nb"',
        "../../etc/passwd",
        "text/plain\x00",
        "text/" + "a" * 300,
        'text/plain; name="x\\"; filename=evil.exe"',
        "text/plain;\x7f",
    ],
)
def test_a_hostile_capture_content_type_is_422_and_stores_nothing(
    client: Client, tenant: TenantKeys, seeded: Seeded, content_type: str
) -> None:
    response = client.post(
        PAYLOADS,
        params={"flow_run_id": 1, "flow_step_id": 1},
        content=b"<script>alert(1)</script>",
        headers={**tenant.headers("writer"), "Content-Type": content_type},
    )

    assert "content_type" in laravel_error(response, 422)["errors"]


BAD_UTF8 = (
    b'{"owner": "\xff\xfe", "email": "\xc3\x28@example.com", "password": "\xed\xa0\x80 long password", "role": "admin"}'
)


def test_invalid_utf8_in_any_json_body_is_a_4xx_in_its_dialect(
    client: Client, tenant: TenantKeys, seeded: Seeded
) -> None:
    uuid = seeded.metadatas[0]["uuid"]
    targets = [
        ("POST", "/metadatas"),
        ("PUT", f"/metadatas/{uuid}"),
        ("POST", "/api/v1/users"),
        ("POST", "/api/v1/api-keys"),
        ("POST", "/fabric/api/login"),
        ("POST", "/api/v1/login"),
    ]
    for method, path in targets:
        headers = {**tenant.headers(), "Content-Type": "application/json"}
        response = client.request(method, path, content=BAD_UTF8, headers=headers)
        assert response.status_code == 400, (path, response.text)
        body = dialect_error(path, response, 400)
        assert "UTF-8" in str(body), body


def test_invalid_utf8_in_query_strings_matches_nothing_or_is_refused(
    client: Client, tenant: TenantKeys, seeded: Seeded
) -> None:
    for query in ("owner=%ff%fe", "title=%c3%28", "slug[]=%ed%a0%80"):
        response = client.get(f"/metadatas?{query}", headers=tenant.headers())
        assert (response.status_code, response.json()) == (200, []), response.text
    for query in ("filter[id]=%ff", "filter[flow_run_id]=1%c3%28"):
        response = client.get(f"{PAYLOADS}?{query}", headers=tenant.headers())
        assert (response.status_code, response.json()["data"]) == (200, []), response.text
    assert client.get("/metadatas?id=%ff", headers=tenant.headers()).status_code == 400
    laravel_error(client.get(f"{PAYLOADS}?sort=%ff", headers=tenant.headers()), 400)
    laravel_error(client.get(f"{PAYLOADS}?filter[%ff]=1", headers=tenant.headers()), 400)


def test_invalid_utf8_payload_bytes_are_kept_exactly(client: Client, tenant: TenantKeys) -> None:
    record = capture_payload(client, tenant.headers("writer"), b"\xff\xfe\x00\xed\xa0\x80", content_type="text/plain")

    download = client.get(f"{PAYLOADS}/{record['id']}/download", headers=tenant.headers())
    assert download.content == b"\xff\xfe\x00\xed\xa0\x80"


def test_json_nested_ten_thousand_deep_is_400(client: Client, tenant: TenantKeys, seeded: Seeded) -> None:
    nested = "[" * 10_000 + "]" * 10_000
    post = '{"owner":"o","title":{"en":"t"},"slug":"deep","type":"t","version":1,"data":' + nested + "}"
    put = '{"version":1,"data":' + nested + "}"
    headers = {**tenant.headers(), "Content-Type": "application/json"}
    uuid = seeded.metadatas[0]["uuid"]

    for method, path, body in (("POST", "/metadatas", post), ("PUT", f"/metadatas/{uuid}", put)):
        response = client.request(method, path, content=body, headers=headers)
        assert "nested too deeply" in problem(response, 400)["detail"]
    response = client.post("/api/v1/api-keys", content='{"role":' + nested + "}", headers=headers)
    laravel_error(response, 400)


def test_json_nested_within_the_limit_round_trips(client: Client, tenant: TenantKeys) -> None:
    data: Any = []
    for _ in range(500):
        data = [data]
    created = client.post("/metadatas", json=metadata_body(data=data), headers=tenant.headers())
    assert created.status_code == 201, created.text
    assert client.get(created.headers["location"], headers=tenant.headers()).json()["data"] == data


@pytest.fixture
def long_urls(monkeypatch: pytest.MonkeyPatch) -> None:
    """httpx refuses URLs over 64 KiB on the client side; the app itself must cope with what a server lets in."""
    import httpx._urlparse

    monkeypatch.setattr(httpx._urlparse, "MAX_URL_LENGTH", 10_000_000)


@pytest.mark.usefixtures("long_urls")
def test_ten_thousand_query_parameters(client: Client, tenant: TenantKeys, seeded: Seeded) -> None:
    headers = tenant.headers("reader")

    def get(path: str, pairs: list[tuple[str, str]]) -> httpx.Response:
        return client.get(path + "?" + str(httpx.QueryParams(pairs)), headers=headers)

    for name in ("title", "owner[]", "id[]", "uuid[]"):
        values = [str(i) if name == "id[]" else f"00000000-0000-4000-8000-{i:012d}" for i in range(10_000)]
        if name in ("title", "owner[]"):
            values = [f"v{i}" for i in range(10_000)]
        assert violation_paths(get("/metadatas", [(name, value) for value in values])) == {name.removesuffix("[]")}
    assert "createdAt" in violation_paths(get("/metadatas", [("createdAt[after]", "2001-01-01")] * 10_000))
    unknown = get("/metadatas", [(f"x{i}", "1") for i in range(10_000)])
    assert unknown.status_code == 200
    assert len(unknown.json()) == len(TITLES)
    assert get("/metadatas", [("order[id]", "desc")] * 10_000).json()[0]["uuid"] == seeded.metadatas[-1]["uuid"]
    at_limit = get("/metadatas", [("title", f"{i}% pure") for i in range(MAX_FILTER_VALUES - 1)] + [("title", "%")])
    assert [row["slug"] for row in at_limit.json()] == ["row-0"]

    ids = ",".join(str(i) for i in range(10_000))
    assert "more than" in laravel_error(get(PAYLOADS, [("filter[id]", ids)]), 400)["message"]
    repeated = get(PAYLOADS, [("filter[id]", str(seeded.record["id"]))] * 10_000)
    assert [row["id"] for row in repeated.json()["data"]] == [seeded.record["id"]]
    assert get(PAYLOADS, [("filter[id]", ",".join(["1"] * MAX_FILTER_VALUES))]).status_code == 200


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_oversized_bodies_are_413_in_their_dialect(
    client: Client, tenant: TenantKeys, seeded: Seeded, settings: Settings, chunked: bool
) -> None:
    oversized = b'{"data": "' + b"x" * settings.max_body_bytes + b'"}'
    uuid = seeded.metadatas[0]["uuid"]
    targets = [
        ("POST", "/metadatas"),
        ("PUT", f"/metadatas/{uuid}"),
        ("POST", "/api/v1/users"),
        ("POST", "/api/v1/api-keys"),
        ("POST", "/fabric/api/login"),
    ]
    for method, path in targets:
        content: Any = iter([oversized[:1000], oversized[1000:]]) if chunked else oversized
        headers = {**tenant.headers(), "Content-Type": "application/json"}
        response = client.request(method, path, content=content, headers=headers)
        dialect_error(path, response, 413)
