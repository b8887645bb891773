"""Authentication is default-deny: the middleware guards every route not marked public; the guard enforces roles."""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult, DefineMiddleware

from metadock.auth.principal import Principal, Role
from metadock.auth.service import authenticate
from metadock.kit.context import context_of
from metadock.kit.errors import forbidden

PUBLIC = "public"  # route opt key: no credential needed
ROLE = "role"  # route opt key: the least role allowed; defaults by method below
_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class _AuthenticationMiddleware(AbstractAuthenticationMiddleware):
    async def authenticate_request(self, connection: ASGIConnection[Any, Any, Any, Any]) -> AuthenticationResult:
        context = context_of(connection)
        async with context.database.transaction() as db:
            principal = await authenticate(connection.headers.get("authorization"), db, context.resolvers)
        return AuthenticationResult(user=principal, auth=None)


# The web console authenticates its pages itself, by its session cookie (metadock/console/session.py). The APIs
# never accept that cookie: here only the Authorization header counts, so no cross-site request rides on a login.
authentication_middleware = DefineMiddleware(
    _AuthenticationMiddleware, exclude=["^/docs", "^/openapi.json$", "^/console(/|$)"], exclude_from_auth_key=PUBLIC
)


def required_role(handler: BaseRouteHandler, method: str) -> Role:
    declared = handler.opt.get(ROLE)
    if declared is not None:
        return Role(declared)
    return Role.READER if method in _READ_METHODS else Role.WRITER


async def role_guard(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """Async on purpose: Litestar runs a synchronous guard in a worker thread, a hop on every request."""
    if handler.opt.get(PUBLIC):
        return
    if connection.scope["method"] == "OPTIONS":  # type: ignore[typeddict-item]
        # The middleware leaves OPTIONS unauthenticated (CORS preflights carry no credentials); Litestar answers it
        # itself with only an Allow header, so there is no principal and nothing to guard.
        return
    principal: Principal = connection.user
    if not principal.role.allows(required_role(handler, connection.scope["method"])):  # type: ignore[typeddict-item]
        raise forbidden()
