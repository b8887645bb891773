"""``POST /fabric/api/login`` (also ``/fabric/api/v1/login`` and ``/api/v1/login``) and ``POST /fabric/api/logout``,
as Patchworks has them."""

from __future__ import annotations

from typing import Any

from litestar import Request, post
from litestar.params import JSONBody
from msgspec import UNSET

from metadock.kit.authentication import PUBLIC, ROLE, principal_of
from metadock.kit.client_address import client_address
from metadock.kit.context import runtime_of
from metadock.kit.errors import AppError, Violation, validation_failed
from metadock.kit.openapi import DOCS, BodyRules, Docs, text
from metadock.kit.principal import Role
from metadock.kit.unit_of_work import RequestUnitOfWork
from metadock.users.schemas import LoginRequest, LoginResponse, MessageResponse
from metadock.users.service import login_service

LOGGED_IN = "You have successfully logged in."
# The handler reads `username`, else `email`; the one it reads must not be empty, nor hold a NUL (no address does:
# 422). The password is checked, not validated: any string is a (wrong) password, answered 401.
_LOGIN_NAME = text(min_length=1)
BODY_RULES = {
    "LoginRequest": BodyRules(
        {"username": _LOGIN_NAME, "email": _LOGIN_NAME},
        at_least_one_of=("username", "email"),
    )
}
_LOGIN_DOCS = Docs(
    # One handler, three paths: each path its own operation.
    {"/fabric/api/login": "login", "/fabric/api/v1/login": "loginFabricV1", "/api/v1/login": "loginApiV1"},
    errors={
        400: "The body is not JSON.",
        401: "These credentials do not match our records.",
        413: "The body is larger than `METADOCK_MAX_BODY_BYTES`.",
        422: "No username (or email), or no password.",
        429: "Too many failed logins for this account or from this address; see `Retry-After`.",
        503: "The database is unavailable; retry later.",
    },
    request_example={"username": "admin@localhost", "password": "correct horse battery staple"},
)


_LOGOUT_DOCS = Docs(
    "logout",
    schemes=("BearerAuth",),
    errors={400: "The credential is an API key: revoke it instead (`DELETE /api/v1/api-keys/{key_id}`)."},
)


# /fabric/api/v1/login is where the public PHP client for the Patchworks Core API logs in.
@post(
    ["/fabric/api/login", "/fabric/api/v1/login", "/api/v1/login"],
    opt={PUBLIC: True, DOCS: _LOGIN_DOCS},
    status_code=200,
    tags=["Authentication"],
)
async def login(
    request: Request[Any, Any, Any], data: JSONBody[LoginRequest], unit: RequestUnitOfWork
) -> LoginResponse:
    """Exchange an email and password for a Bearer JWT."""
    username = data.username if data.username is not UNSET else data.email
    if username is UNSET or not username:
        raise validation_failed([Violation("username", "The username field is required.")], status=422)
    client = client_address(request, runtime_of(request).settings.trusted_proxies)
    # Committed before a 401 is raised: failed attempts must count even though the request fails.
    async with unit.transaction() as connection:
        outcome = await login_service(runtime_of(request), connection).login(str(username), data.password, client)
    if outcome.token is None:
        raise AppError(401, "These credentials do not match our records.")
    return LoginResponse(message=LOGGED_IN, token=outcome.token, expires_in=outcome.expires_in)


@post("/fabric/api/logout", opt={ROLE: Role.READER, DOCS: _LOGOUT_DOCS}, status_code=200, tags=["Authentication"])
async def logout(request: Request[Any, Any, Any], unit: RequestUnitOfWork) -> MessageResponse:
    """Revoke the presented token until it would have expired."""
    await login_service(runtime_of(request), await unit.connection()).logout(principal_of(request))
    return MessageResponse("Successfully logged out.")
