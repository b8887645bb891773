"""Bearer JWTs on both APIs: every bad token is 401 in its API's dialect; logout, disabling and demoting act at once."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from litestar.testing import TestClient

from metadock.kit.principal import Role
from metadock.settings import Settings
from metadock.users import tokens
from tests.factories import (
    LOGOUT,
    PAYLOADS,
    TenantKeys,
    UserAccount,
    bearer,
    create_user,
    laravel_error,
    login,
    metadata_body,
    problem,
    sign_token,
    token_claims,
)

Client = TestClient[object]
OTHER_KEY = "another-server-entirely-with-a-long-enough-key"


@dataclass(frozen=True)
class Api:
    name: str
    path: str

    def assert_unauthenticated(self, response: httpx.Response, token: str) -> None:
        """401 in this API's dialect, with the Bearer challenge, never echoing the token."""
        if self.name == "metadatas":
            body = problem(response, 401)
            assert body["detail"]
        else:
            assert laravel_error(response, 401) == {"message": "Unauthenticated."}
        assert response.headers["www-authenticate"] == "Bearer"
        assert token not in response.text


METADATAS = Api("metadatas", "/metadatas")
PAYLOAD_METADATA = Api("payload-metadata", PAYLOADS)
APIS = (METADATAS, PAYLOAD_METADATA)


@pytest.fixture
def user(database_url: str, tenant: TenantKeys) -> UserAccount:
    return create_user(database_url, tenant.uuid, "ada@example.com", role=Role.WRITER)


@pytest.fixture
def secret(settings: Settings) -> str:
    return settings.signing_key()


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def b64_decode(segment: str) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    return decoded


def reads(client: Client, token: str) -> bool:
    return all(client.get(api.path, headers=bearer(token)).status_code == 200 for api in APIS)


# Each bad token is made from: the user, a real token login issued, and the server's signing key.
TokenMaker = Callable[[UserAccount, str, str], str]


def _tampered_payload(user: UserAccount, valid: str, secret: str) -> str:
    header, payload, signature = valid.split(".")
    return f"{header}.{b64({**b64_decode(payload), 'role': 'admin'})}.{signature}"


def _tampered_signature(user: UserAccount, valid: str, secret: str) -> str:
    header, payload, signature = valid.split(".")
    return f"{header}.{payload}.{signature[:-4]}{'AAAA' if not signature.endswith('AAAA') else 'BBBB'}"


def _alg_none_stripped(user: UserAccount, valid: str, secret: str) -> str:
    _header, payload, _signature = valid.split(".")
    return f"{b64({'alg': 'none', 'typ': 'JWT'})}.{payload}."


def _without(claim: str) -> TokenMaker:
    return lambda user, valid, secret: sign_token(secret, token_claims(user, **{claim: None}))


BAD_TOKENS: dict[str, TokenMaker] = {
    "expired": lambda user, valid, secret: sign_token(
        secret, token_claims(user, iat=int(time.time()) - 7200, exp=int(time.time()) - 3600)
    ),
    "expired-a-second-ago": lambda user, valid, secret: sign_token(
        secret, token_claims(user, iat=int(time.time()) - 60, exp=int(time.time()) - 1)
    ),
    "tampered-payload": _tampered_payload,
    "tampered-signature": _tampered_signature,
    "signed-with-another-key": lambda user, valid, secret: sign_token(OTHER_KEY, token_claims(user)),
    "alg-none": lambda user, valid, secret: sign_token(None, token_claims(user), algorithm="none"),
    "alg-none-stripped": _alg_none_stripped,
    "hs512-with-the-right-key": lambda user, valid, secret: sign_token(secret, token_claims(user), algorithm="HS512"),
    "malformed-eyJ.x.y": lambda user, valid, secret: "eyJ.x.y",
    "malformed-random-text": lambda user, valid, secret: "this is not a token at all",
    "malformed-random-base64": lambda user, valid, secret: "eyJhbGciOiJIUzI1NiJ9.bm9wZQ.bm9wZQ",
    "truncated": lambda user, valid, secret: valid[:-10],
    "truncated-to-two-segments": lambda user, valid, secret: valid.rsplit(".", 1)[0],
    "extra-segment": lambda user, valid, secret: valid + ".e30",
    **{f"missing-{claim}": _without(claim) for claim in ("sub", "tenant", "role", "iat", "exp", "jti")},
    "sub-not-a-string": lambda user, valid, secret: sign_token(secret, token_claims(user, sub=12345)),
    "exp-not-a-number": lambda user, valid, secret: sign_token(secret, token_claims(user, exp="tomorrow")),
    "issued-in-the-future": lambda user, valid, secret: sign_token(
        secret, token_claims(user, iat=int(time.time()) + 3600, exp=int(time.time()) + 7200)
    ),
    "unknown-user": lambda user, valid, secret: sign_token(
        secret, token_claims(user, sub="00000000-0000-4000-8000-000000000000")
    ),
    "another-tenant": lambda user, valid, secret: sign_token(
        secret, token_claims(user, tenant="00000000-0000-4000-8000-000000000000")
    ),
}


def test_a_token_minted_like_login_does_is_accepted(client: Client, user: UserAccount, secret: str) -> None:
    """The control for the cases below: the harness's own tokens are valid, so each 401 is down to its one flaw."""
    assert reads(client, sign_token(secret, token_claims(user)))


@pytest.mark.parametrize("make", BAD_TOKENS.values(), ids=BAD_TOKENS.keys())
def test_a_bad_token_is_401_on_both_apis_in_their_dialects(
    client: Client, tenant: TenantKeys, user: UserAccount, secret: str, make: TokenMaker
) -> None:
    valid, _ = tokens.issue_token(  # what login issues, without a password check per case
        secret, user_id=user.id, tenant_uuid=user.tenant_uuid, role=user.role.value, ttl_seconds=3600
    )
    bad = make(user, valid, secret)
    assert bad != valid

    for api in APIS:
        for header in (f"Bearer {bad}", bad):
            api.assert_unauthenticated(client.get(api.path, headers={"Authorization": header}), bad)
        api.assert_unauthenticated(client.post(api.path, json=metadata_body(), headers=bearer(bad)), bad)
    assert client.get("/api/v1/users", headers=bearer(bad)).status_code == 401
    # Nothing was written, and the real token still works.
    assert client.get("/metadatas", headers=tenant.headers()).json() == []
    assert reads(client, valid)


# --- logout ----------------------------------------------------------------------------------------------------------


def test_logout_revokes_that_token_at_once_on_both_apis(client: Client, user: UserAccount) -> None:
    token, other = login(client, user.email), login(client, user.email)
    assert reads(client, token)

    response = client.post(LOGOUT, headers=bearer(token))

    assert response.status_code == 200, response.text
    assert response.json() == {"message": "Successfully logged out."}
    for api in APIS:
        api.assert_unauthenticated(client.get(api.path, headers=bearer(token)), token)
    assert laravel_error(client.post(LOGOUT, headers=bearer(token)), 401) == {"message": "Unauthenticated."}
    assert reads(client, other)  # only that token: the user's other sessions go on


def test_a_reader_can_log_out(client: Client, database_url: str, tenant: TenantKeys) -> None:
    reader = create_user(database_url, tenant.uuid, "reader@example.com", role=Role.READER)
    token = login(client, reader.email)

    assert client.post(LOGOUT, headers=bearer(token)).status_code == 200

    assert not reads(client, token)


def test_logout_with_an_api_key_is_400_and_the_key_keeps_working(client: Client, tenant: TenantKeys) -> None:
    response = client.post(LOGOUT, headers=tenant.headers())

    body = laravel_error(response, 400)
    assert "API key" in body["message"]
    assert tenant.admin not in response.text
    assert client.get(PAYLOADS, headers=tenant.headers()).status_code == 200


def test_logout_without_a_credential_is_401(client: Client) -> None:
    assert laravel_error(client.post(LOGOUT), 401) == {"message": "Unauthenticated."}


# --- the user is read on every request -------------------------------------------------------------------------------


def test_disabling_a_user_stops_their_tokens_at_once_and_enabling_lets_them_log_in_again(
    client: Client, tenant: TenantKeys, user: UserAccount
) -> None:
    token = login(client, user.email)
    assert reads(client, token)

    response = client.patch(f"/api/v1/users/{user.id}", json={"disabled": True}, headers=tenant.headers())

    assert response.status_code == 200, response.text
    assert response.json()["data"]["disabled"] is True
    for api in APIS:
        api.assert_unauthenticated(client.get(api.path, headers=bearer(token)), token)
    laravel_error(client.post("/fabric/api/login", json={"username": user.email, "password": user.password}), 401)

    client.patch(f"/api/v1/users/{user.id}", json={"disabled": False}, headers=tenant.headers())

    assert reads(client, login(client, user.email))
    for api in APIS:  # a token from before the disable stays dead once the user is enabled again
        api.assert_unauthenticated(client.get(api.path, headers=bearer(token)), token)


def test_demoting_a_user_makes_their_writes_403_at_once_and_reads_still_work(
    client: Client, tenant: TenantKeys, user: UserAccount
) -> None:
    token = login(client, user.email)
    created = client.post("/metadatas", json=metadata_body(slug="before"), headers=bearer(token))
    assert created.status_code == 201, created.text

    response = client.patch(f"/api/v1/users/{user.id}", json={"role": "reader"}, headers=tenant.headers())
    assert response.status_code == 200, response.text
    assert response.json()["data"]["role"] == "reader"

    problem(client.post("/metadatas", json=metadata_body(slug="after"), headers=bearer(token)), 403)
    problem(client.delete(f"/metadatas/{created.json()['uuid']}", headers=bearer(token)), 403)
    assert laravel_error(
        client.post(PAYLOADS, params={"flow_run_id": 1, "flow_step_id": 1}, content=b"{}", headers=bearer(token)), 403
    ) == {"message": "This action is unauthorized."}
    assert reads(client, token)
    assert [item["slug"] for item in client.get("/metadatas", headers=tenant.headers()).json()] == ["before"]


def test_promoting_a_user_takes_effect_on_their_current_token(
    client: Client, database_url: str, tenant: TenantKeys
) -> None:
    reader = create_user(database_url, tenant.uuid, "reader@example.com", role=Role.READER)
    token = login(client, reader.email)
    laravel_error(client.get("/api/v1/users", headers=bearer(token)), 403)

    client.patch(f"/api/v1/users/{reader.id}", json={"role": "admin"}, headers=tenant.headers())

    assert client.get("/api/v1/users", headers=bearer(token)).status_code == 200


def test_the_role_claim_is_not_trusted_over_the_users_role(
    client: Client, database_url: str, tenant: TenantKeys, secret: str
) -> None:
    """A token whose role claim says admin (say, issued before a demotion) gives only the user's current role."""
    reader = create_user(database_url, tenant.uuid, "reader@example.com", role=Role.READER)
    token = sign_token(secret, token_claims(reader, role="admin"))

    assert reads(client, token)
    laravel_error(client.get("/api/v1/users", headers=bearer(token)), 403)
    problem(client.post("/metadatas", json=metadata_body(), headers=bearer(token)), 403)
