"""Default-deny authentication: every route not marked public needs a credential, and its least role.

The credential kinds are the resources' (API keys, login JWTs): each registers a :class:`CredentialResolver` in the
runtime context. The lookup is the request's first read, in the request's unit of work (see ``unit_of_work``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult, DefineMiddleware

from metadock.kit.context import runtime_of
from metadock.kit.db import Connection
from metadock.kit.errors import forbidden, unauthenticated
from metadock.kit.principal import CredentialResolver, Principal, Role
from metadock.kit.unit_of_work import UnitOfWork, continues_authentication

PUBLIC: Final = "public"  # route opt: no credential needed
ROLE: Final = "role"  # route opt: the least role allowed; defaults by method (see required_role)
_READ_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})


def credential_from_header(header: str | None) -> str | None:
    """``Authorization: <key>`` (Patchworks) or ``Authorization: Bearer <token>``."""
    if not header:
        return None
    value = header.strip()
    scheme, _, rest = value.partition(" ")
    if scheme.lower() == "bearer":
        value = rest.strip()
    return value or None


async def authenticate(
    header: str | None, connection: Connection, resolvers: Sequence[CredentialResolver]
) -> Principal:
    token = credential_from_header(header)
    if token is None:
        raise unauthenticated()
    for resolver in resolvers:
        if resolver.recognizes(token):
            principal = await resolver.resolve(token, connection)
            if principal is not None:
                return principal
            break
    raise unauthenticated("The credential is invalid or revoked.")


def required_role(handler: BaseRouteHandler, method: str) -> Role:
    declared = handler.opt.get(ROLE)
    if declared is not None:
        return Role(declared)
    return Role.READER if method in _READ_METHODS else Role.WRITER


def principal_of(request: Request[Any, Any, Any]) -> Principal:
    """Who is calling, as authentication found them (only on routes that are not public)."""
    principal: Principal = request.scope["user"]
    return principal


class _AuthenticationMiddleware(AbstractAuthenticationMiddleware):
    async def authenticate_request(self, connection: ASGIConnection[Any, Any, Any, Any]) -> AuthenticationResult:
        runtime = runtime_of(connection)
        method: str = connection.scope["method"]  # type: ignore[typeddict-item]
        handler = connection.route_handler
        unit = UnitOfWork.of(connection.scope, runtime.database)
        principal = await authenticate(
            connection.headers.get("authorization"), await unit.connection(), runtime.resolvers
        )
        # Authorization here rather than in a route guard: Litestar copies the handler for every guard call, a
        # cost on every request, and the role is known right now.
        if not principal.role.allows(required_role(handler, method)):
            raise forbidden()
        if not continues_authentication(handler, method):
            await unit.commit()
        return AuthenticationResult(user=principal, auth=None)


# The web console authenticates its pages itself, by its session cookie. The APIs never accept that cookie: here
# only the Authorization header counts, so no cross-site request rides on a login.
authentication_middleware = DefineMiddleware(
    _AuthenticationMiddleware, exclude=["^/docs", "^/openapi.json$", "^/console(/|$)"], exclude_from_auth_key=PUBLIC
)
