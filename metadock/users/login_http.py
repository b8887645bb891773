"""``POST /fabric/api/login`` (also ``/fabric/api/v1/login`` and ``/api/v1/login``) and ``POST /fabric/api/logout``,
as Patchworks has them."""

from __future__ import annotations

from typing import Any

from litestar import Request, post
from litestar.params import JSONBody
from msgspec import UNSET

from metadock.kit.authentication import PUBLIC, ROLE, principal_of
from metadock.kit.context import runtime_of
from metadock.kit.errors import AppError, Violation, validation_failed
from metadock.kit.principal import Role
from metadock.kit.unit_of_work import RequestUnitOfWork
from metadock.users.schemas import LoginRequest, LoginResponse, MessageResponse
from metadock.users.service import login_service

LOGGED_IN = "You have successfully logged in."


# /fabric/api/v1/login is where the public PHP client for the Patchworks Core API logs in.
@post(
    ["/fabric/api/login", "/fabric/api/v1/login", "/api/v1/login"],
    opt={PUBLIC: True},
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
    client = request.client.host if request.client else "unknown"
    # Committed before a 401 is raised: failed attempts must count even though the request fails.
    async with unit.transaction() as connection:
        outcome = await login_service(runtime_of(request), connection).login(str(username), data.password, client)
    if outcome.token is None:
        raise AppError(401, "These credentials do not match our records.")
    return LoginResponse(message=LOGGED_IN, token=outcome.token, expires_in=outcome.expires_in)


@post("/fabric/api/logout", opt={ROLE: Role.READER}, status_code=200, tags=["Authentication"])
async def logout(request: Request[Any, Any, Any], unit: RequestUnitOfWork) -> MessageResponse:
    """Revoke the presented token until it would have expired."""
    await login_service(runtime_of(request), await unit.connection()).logout(principal_of(request))
    return MessageResponse("Successfully logged out.")
