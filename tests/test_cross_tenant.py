"""The cross-tenant sweep: every route of the app's own OpenAPI document, probed with no credential, with another
tenant's admin credentials against every id of this tenant, and with this tenant's reader on writes.

The routes come from the role matrix's enumeration (``tests/test_role_matrix.py``); a route that matrix has not
decided, a path parameter with no id of this tenant to aim at, or a list route whose ids this test cannot read, fails
the test, so a new route cannot ship unprobed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import httpx
from litestar.testing import TestClient
from sqlalchemy import select

from metadock.kit.db import Connection
from metadock.kit.principal import Role
from metadock.settings import Settings
from metadock.tenants.table import tenants
from metadock.users import tokens
from metadock.webhooks.schemas import WebhookCreate
from metadock.webhooks.service import WebhookService
from tests.factories import (
    PAYLOADS,
    TenantKeys,
    capture_payload,
    create_user,
    issue_key,
    metadata_body,
    run_in_transaction,
)
from tests.hostile.snapshot import dialect_error, everything
from tests.test_role_matrix import MATRIX, PUBLIC, documented_routes, expected

Client = TestClient[object]
_PARAMETER = re.compile(r"\{([^}]+)\}")


def _ids(key: str) -> Callable[[httpx.Response], set[str]]:
    """The ids a list response shows: DigitalState answers a plain array, the Laravel-style routes a ``data`` list."""

    def read(response: httpx.Response) -> set[str]:
        body = response.json()
        items = body if isinstance(body, list) else body["data"]
        return {str(item[key]) for item in items}

    return read


def _exported_ids(key: str) -> Callable[[httpx.Response], set[str]]:
    """The ids an export (NDJSON, its default format) shows: one record per line."""

    def read(response: httpx.Response) -> set[str]:
        return {str(json.loads(line)[key]) for line in response.text.splitlines()}

    return read


# Each list route, and how to read the ids it shows.
LIST_IDS: dict[str, Callable[[httpx.Response], set[str]]] = {
    "/metadatas": _ids("uuid"),
    "/metadatas/export": _exported_ids("uuid"),
    PAYLOADS: _ids("id"),
    f"{PAYLOADS}/export": _exported_ids("id"),
    "/api/v1/api-keys": _ids("id"),
    "/api/v1/users": _ids("id"),
    "/api/v1/tag-rules": _ids("id"),
    "/api/v1/webhooks": _ids("id"),
}

# Bodies that would succeed on the owner's own row, so that a refusal can only come from the tenant boundary.
WRITE_BODIES: dict[tuple[str, str], dict[str, Any] | None] = {
    ("PUT", "/metadatas/{uuid}"): {"data": ["taken over"], "version": 1},
    ("PATCH", "/api/v1/users/{user_id}"): {"role": "admin", "disabled": True},
    ("POST", "/metadatas"): metadata_body(slug="reader-attempt"),
    ("POST", "/api/v1/api-keys"): {"role": "admin", "name": "reader-attempt"},
    ("POST", "/api/v1/tag-rules"): {"name": "reader_attempt", "content_type": "application/json", "pointer": "/a"},
    ("POST", "/api/v1/users"): {"email": "intruder@example.com", "password": "a long enough password", "role": "admin"},
}


def _bearer(settings: Settings, user_id: str, tenant_uuid: str, role: Role) -> dict[str, str]:
    token, _ = tokens.issue_token(
        settings.signing_key(), user_id=user_id, tenant_uuid=tenant_uuid, role=role.value, ttl_seconds=600
    )
    return {"Authorization": f"Bearer {token}"}


def _subscribe(database_url: str, tenant_uuid: str) -> str:
    """A webhook of this tenant, made through the service: the API refuses a target that does not resolve to a public
    address, and this machine resolves none."""

    async def work(connection: Connection) -> str:
        tenant_id = int(next(iter(await connection.scalars(select(tenants.c.id).where(tenants.c.uuid == tenant_uuid)))))
        service = WebhookService(connection, tenant_id, allow_private=True)
        made = await service.create(WebhookCreate(url="http://hooks.example/in", events=["payload.captured"]))
        return str(made.id)

    return run_in_transaction(database_url, work)


def test_no_route_lets_an_anonymous_caller_another_tenant_or_a_reader_past(
    client: Client, settings: Settings, database_url: str, tenant: TenantKeys, other_tenant: TenantKeys
) -> None:
    routes = documented_routes(client)
    undecided = sorted(routes - MATRIX.keys())
    assert not undecided, f"routes without a decision in tests/test_role_matrix.py MATRIX: {undecided}"

    # One of everything this tenant owns that a path can name.
    record = capture_payload(client, tenant.headers("writer"), b"ours")
    created = client.post("/metadatas", json=metadata_body(), headers=tenant.headers("writer"))
    assert created.status_code == 201, created.text
    key = issue_key(database_url, tenant.uuid, Role.WRITER, "ours")
    user = create_user(database_url, tenant.uuid, "ours@example.com", role=Role.WRITER)
    rule = client.post(
        "/api/v1/tag-rules",
        json={"name": "order_id", "content_type": "application/json", "pointer": "/order/id"},
        headers=tenant.headers("admin"),
    )
    assert rule.status_code == 201, rule.text
    ids = {
        "rule_id": str(rule.json()["data"]["id"]),
        "webhook_id": _subscribe(database_url, tenant.uuid),
        "uuid": created.json()["uuid"],
        "payload_metadatum": str(record["id"]),
        "flow_run_id": str(record["flow_run_id"]),
        "key_id": key.id,
        "user_id": user.id,
    }

    outsider_admin = create_user(database_url, other_tenant.uuid, "admin@globex.example", role=Role.ADMIN)
    outsiders = {
        "other tenant's admin key": other_tenant.headers("admin"),
        "other tenant's admin token": _bearer(settings, outsider_admin.id, other_tenant.uuid, Role.ADMIN),
    }
    before = everything(settings)
    wrong: list[str] = []

    def check(label: str, condition: bool, response: httpx.Response) -> None:
        if not condition:
            wrong.append(f"{label}: {response.status_code} {response.text[:200]}")

    for method, template in sorted(routes):
        least = MATRIX[(method, template)]
        names = _PARAMETER.findall(template)
        unknown = [name for name in names if name not in ids]
        assert not unknown, f"{method} {template}: no id of this tenant for path parameter(s) {unknown}"
        path = _PARAMETER.sub(lambda match: ids[match[1]], template)
        body = WRITE_BODIES.get((method, template), {} if method in ("POST", "PUT", "PATCH") else None)
        if least == PUBLIC:
            continue

        anonymous = client.request(method, path, json=body)
        check(f"{method} {template} anonymous", anonymous.status_code == 401, anonymous)
        if anonymous.status_code == 401:
            dialect_error(path, anonymous, 401)

        if expected(least, Role.READER.value) == "403":
            as_reader = client.request(method, path, json=body, headers=tenant.headers("reader"))
            check(f"{method} {template} reader", as_reader.status_code == 403, as_reader)
            if as_reader.status_code == 403:
                dialect_error(path, as_reader, 403)

        for label, headers in outsiders.items():
            if names:
                response = client.request(method, path, json=body, headers=headers)
                check(f"{method} {template} {label}", response.status_code == 404, response)
                if response.status_code == 404:
                    dialect_error(path, response, 404)
            elif method == "GET":
                assert template in LIST_IDS, f"GET {template}: a list route this test cannot read ids from"
                response = client.get(path, headers=headers)
                check(f"GET {template} {label}", response.status_code == 200, response)
                if response.status_code == 200:
                    seen = LIST_IDS[template](response) & set(ids.values())
                    check(f"GET {template} {label} shows {seen}", not seen, response)

    assert not wrong, "\n".join(wrong)
    # Nothing any of those callers sent changed a row or an object (the outsiders' list reads and refused writes
    # included), and what this tenant owns still works for it.
    assert everything(settings) == before
    own = client.get(f"/metadatas/{ids['uuid']}", headers=tenant.headers("reader"))
    assert own.status_code == 200
    assert own.json()["version"] == 1
    assert client.get(f"{PAYLOADS}/{record['id']}/download", headers=tenant.headers("reader")).content == b"ours"
    assert client.get("/metadatas", headers={"Authorization": key.key}).status_code == 200
