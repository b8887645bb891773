"""Default-deny: the middleware authenticates every route not marked public and enforces the route's least role."""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult, DefineMiddleware
from litestar.types import Receive, Scope, Send

from metadock.auth.principal import Role
from metadock.auth.service import authenticate
from metadock.kit.context import context_of
from metadock.kit.db import OpenTransaction
from metadock.kit.errors import forbidden
from metadock.kit.http import stash_request_transaction, take_request_transaction

PUBLIC = "public"  # route opt key: no credential needed
ROLE = "role"  # route opt key: the least role allowed; defaults by method below
_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _takes_connection(handler: BaseRouteHandler) -> bool:
    return "connection" in handler.parsed_fn_signature.parameters  # parsed once per handler by Litestar


class _AuthenticationMiddleware(AbstractAuthenticationMiddleware):
    """Authenticates with the request's first read, in the transaction the request goes on to use.

    A read handler continues that transaction (see ``provide_connection``), which saves a pool checkout, a
    BEGIN and a COMMIT per request. Everything else commits it at once: a write must not start from a SQLite
    snapshot taken before its body arrived (other writers may commit meanwhile, and SQLite cannot upgrade such a
    snapshot to a write), and a capture must not hold a connection while its body streams in.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            leftover = take_request_transaction(scope)  # begun, but the handler never got to it (an error before)
            if leftover is not None:
                await leftover.rollback()

    async def authenticate_request(self, connection: ASGIConnection[Any, Any, Any, Any]) -> AuthenticationResult:
        context = context_of(connection)
        method: str = connection.scope["method"]  # type: ignore[typeddict-item]
        handler = connection.route_handler
        transaction = await OpenTransaction.begin(context.database)
        try:
            principal = await authenticate(
                connection.headers.get("authorization"), transaction.connection, context.resolvers
            )
            # Authorization here rather than in a route guard: Litestar copies the handler for every guard call,
            # a cost on every request, and the role is known right now.
            if not principal.role.allows(required_role(handler, method)):
                raise forbidden()
        except BaseException:
            await transaction.rollback()
            raise
        if method in _READ_METHODS and _takes_connection(handler):
            stash_request_transaction(connection.scope, transaction)
        else:
            await transaction.commit()
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
