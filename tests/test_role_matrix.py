"""The role matrix: every route in the app's own OpenAPI document against anonymous, reader, writer and admin.

The table below is the decision for each route. A route the OpenAPI document lists and the table does not fails the
test, so a new route cannot ship without a decision. Print the table for the README with
``.venv/bin/python -m tests.test_role_matrix``.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx
from litestar.testing import TestClient

from metadock.kit.principal import Role
from metadock.settings import Settings
from metadock.users import tokens
from tests.factories import TenantKeys, UserAccount, create_user

Client = TestClient[object]
PUBLIC = "public"
ANONYMOUS = "anonymous"
CALLERS = (ANONYMOUS, Role.READER.value, Role.WRITER.value, Role.ADMIN.value)

# (method, path as the OpenAPI document writes it) -> the least role allowed, or PUBLIC.
MATRIX: dict[tuple[str, str], str] = {
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
    ("POST", "/fabric/api/login"): PUBLIC,
    ("POST", "/api/v1/login"): PUBLIC,
    ("POST", "/fabric/api/v1/login"): PUBLIC,
    ("POST", "/fabric/api/logout"): Role.READER,
    ("GET", "/metadatas"): Role.READER,
    ("GET", "/metadatas/{uuid}"): Role.READER,
    ("GET", "/metadatas/export"): Role.READER,
    ("POST", "/metadatas"): Role.WRITER,
    ("PUT", "/metadatas/{uuid}"): Role.WRITER,
    ("DELETE", "/metadatas/{uuid}"): Role.WRITER,
    ("GET", "/api/v1/payload-metadata"): Role.READER,
    ("GET", "/api/v1/payload-metadata/export"): Role.READER,
    ("GET", "/api/v1/payload-metadata/{payload_metadatum}"): Role.READER,
    ("GET", "/api/v1/payload-metadata/{payload_metadatum}/meta"): Role.READER,
    ("GET", "/api/v1/payload-metadata/{payload_metadatum}/download"): Role.READER,
    ("GET", "/api/v1/flow-runs/{flow_run_id}/payloads.zip"): Role.READER,
    ("POST", "/api/v1/payload-metadata"): Role.WRITER,
    ("DELETE", "/api/v1/payload-metadata/{payload_metadatum}"): Role.WRITER,
    ("GET", "/api/v1/api-keys"): Role.ADMIN,
    ("POST", "/api/v1/api-keys"): Role.ADMIN,
    ("DELETE", "/api/v1/api-keys/{key_id}"): Role.ADMIN,
    ("GET", "/api/v1/tag-rules"): Role.ADMIN,
    ("POST", "/api/v1/tag-rules"): Role.ADMIN,
    ("DELETE", "/api/v1/tag-rules/{rule_id}"): Role.ADMIN,
    ("GET", "/api/v1/users"): Role.ADMIN,
    ("POST", "/api/v1/users"): Role.ADMIN,
    ("PATCH", "/api/v1/users/{user_id}"): Role.ADMIN,
    ("GET", "/api/v1/webhooks"): Role.ADMIN,
    ("POST", "/api/v1/webhooks"): Role.ADMIN,
    ("GET", "/api/v1/webhooks/{webhook_id}"): Role.ADMIN,
    ("DELETE", "/api/v1/webhooks/{webhook_id}"): Role.ADMIN,
    ("GET", "/api/v1/webhooks/{webhook_id}/deliveries"): Role.ADMIN,
}

# Path parameters that name nothing, so an allowed call answers 404 and changes nothing.
PLACEHOLDERS = {
    "uuid": "00000000-0000-4000-8000-000000000000",
    "payload_metadatum": "999999999",
    "flow_run_id": "999999999",
    "key_id": "00000000-0000-4000-8000-000000000000",
    "user_id": "00000000-0000-4000-8000-000000000000",
    "rule_id": "999999999",
    "webhook_id": "00000000-0000-4000-8000-000000000000",
}
_PARAMETER = re.compile(r"\{([^}]+)\}")
_BODY_METHODS = {"POST", "PUT", "PATCH"}


def expected(least: str, caller: str) -> str:
    """``allowed``, or the status a caller below the least role gets."""
    if least == PUBLIC:
        return "allowed"
    if caller == ANONYMOUS:
        return "401"
    return "allowed" if Role(caller).allows(Role(least)) else "403"


def markdown() -> str:
    """The matrix as the README shows it: ✓ where the caller is let through, else the status it gets."""
    lines = ["| route | anonymous | reader | writer | admin |", "|---|---|---|---|---|"]
    for (method, path), least in sorted(MATRIX.items(), key=lambda item: (item[0][1], item[0][0])):
        cells = ["✓" if expected(least, caller) == "allowed" else expected(least, caller) for caller in CALLERS]
        lines.append(f"| `{method} {path}` | {' | '.join(cells)} |")
    return "\n".join(lines)


def fill(path: str) -> str:
    def placeholder(match: re.Match[str]) -> str:
        assert match[1] in PLACEHOLDERS, f"no placeholder for path parameter {match[1]!r} in {path}"
        return PLACEHOLDERS[match[1]]

    return _PARAMETER.sub(placeholder, path)


def documented_routes(client: Client) -> set[tuple[str, str]]:
    response = client.get("/openapi.json")  # anonymously: the document itself is public
    assert response.status_code == 200, response.text
    paths: dict[str, dict[str, object]] = response.json()["paths"]
    methods = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
    return {(method.upper(), path) for path, operations in paths.items() for method in operations if method in methods}


def test_every_route_answers_every_role_as_the_matrix_says(
    client: Client, settings: Settings, database_url: str, tenant: TenantKeys
) -> None:
    routes = documented_routes(client)
    undecided = sorted(routes - MATRIX.keys())
    assert not undecided, f"routes without a decision in MATRIX (add them, with their least role): {undecided}"
    stale = sorted(MATRIX.keys() - routes)
    assert not stale, f"MATRIX lists routes the app no longer has: {stale}"

    # Each role presents itself both ways: an API key, and a login token (freshly issued per call, as logout
    # revokes the token it is called with).
    secret = settings.signing_key()
    people = {role: create_user(database_url, tenant.uuid, f"{role.value}@example.com", role=role) for role in Role}

    def key_of(role: Role) -> Callable[[], dict[str, str]]:
        return lambda: tenant.headers(role.value)

    def token_of(person: UserAccount) -> Callable[[], dict[str, str]]:
        def headers() -> dict[str, str]:
            token, _ = tokens.issue_token(
                secret, user_id=person.id, tenant_uuid=person.tenant_uuid, role=person.role.value, ttl_seconds=600
            )
            return {"Authorization": f"Bearer {token}"}

        return headers

    credentials: dict[str, list[tuple[str, Callable[[], dict[str, str]]]]] = {ANONYMOUS: [("none", dict)]}
    for role in Role:
        credentials[role.value] = [
            ("api key", key_of(role)),
            ("token", token_of(people[role])),
        ]

    wrong: list[str] = []
    for (method, path), least in sorted(MATRIX.items()):
        for caller in CALLERS:
            want = expected(least, caller)
            for kind, headers in credentials[caller]:
                body = {} if method in _BODY_METHODS else None
                response: httpx.Response = client.request(method, fill(path), json=body, headers=headers())
                status = response.status_code
                ok = status not in (401, 403) and status < 500 if want == "allowed" else status == int(want)
                if not ok:
                    wrong.append(f"{method} {path} as {caller} ({kind}): {status}, expected {want}: {response.text}")

    print("\n" + markdown())
    assert not wrong, "\n".join(wrong)


if __name__ == "__main__":
    print(markdown())
