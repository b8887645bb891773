"""``POST /fabric/api/login`` (also ``/fabric/api/v1/login`` and ``/api/v1/login``) and ``POST /fabric/api/logout``,
as Patchworks has them."""

from __future__ import annotations

import datetime as dt
from typing import Any

from litestar import Request, post
from litestar.params import JSONBody
from msgspec import UNSET

from metadock.auth.http import PUBLIC, ROLE
from metadock.auth.principal import Role
from metadock.auth.schemas import LoginRequest, LoginResponse, MessageResponse
from metadock.auth.users import LoginService, ThrottlePolicy
from metadock.kit.context import AppContext, context_of
from metadock.kit.errors import AppError, Violation, validation_failed
from metadock.kit.http import CurrentPrincipal, DbConnection

LOGGED_IN = "You have successfully logged in."


def _login_service(context: AppContext, connection: Any) -> LoginService:
    settings = context.settings
    policy = ThrottlePolicy(
        max_failures=settings.login_max_failures,
        max_failures_per_address=settings.login_max_failures_per_address,
        window=dt.timedelta(seconds=settings.login_failure_window_seconds),
        block=dt.timedelta(seconds=settings.login_block_seconds),
    )
    return LoginService(connection, secret=context.signing_key, ttl_seconds=settings.token_ttl_seconds, policy=policy)


# /fabric/api/v1/login is where the public PHP client for the Patchworks Core API logs in.
@post(
    ["/fabric/api/login", "/fabric/api/v1/login", "/api/v1/login"],
    opt={PUBLIC: True},
    status_code=200,
    tags=["Authentication"],
)
async def login(request: Request[Any, Any, Any], data: JSONBody[LoginRequest]) -> LoginResponse:
    """Exchange an email and password for a Bearer JWT."""
    username = data.username if data.username is not UNSET else data.email
    if username is UNSET or not username:
        raise validation_failed([Violation("username", "The username field is required.")], status=422)
    context = context_of(request)
    client = request.client.host if request.client else "unknown"
    # Its own transaction, committed before a 401 is raised: failed attempts must count even though the request fails.
    async with context.database.transaction() as connection:
        outcome = await _login_service(context, connection).login(str(username), data.password, client)
    if outcome.token is None:
        raise AppError(401, "These credentials do not match our records.")
    return LoginResponse(message=LOGGED_IN, token=outcome.token, expires_in=outcome.expires_in)


@post("/fabric/api/logout", opt={ROLE: Role.READER}, status_code=200, tags=["Authentication"])
async def logout(
    request: Request[Any, Any, Any], connection: DbConnection, principal: CurrentPrincipal
) -> MessageResponse:
    """Revoke the presented token until it would have expired."""
    await _login_service(context_of(request), connection).logout(principal)
    return MessageResponse("Successfully logged out.")
