"""Default-deny authentication: every route not marked public needs a credential, and its least role.

The credential kinds are the resources' (API keys, login JWTs): each registers a :class:`CredentialResolver` in the
runtime context. The lookup is the request's first read, in the request's unit of work (see ``unit_of_work``). A read
route may declare the first read its handler makes (:data:`~metadock.kit.read_ahead.READ_AHEAD`): where a statement
is a round trip, the lookup and that read are then one statement (``kit/read_ahead.py``).
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
from metadock.kit.principal import CredentialLookup, CredentialResolver, Principal, Role
from metadock.kit.read_ahead import READ_AHEAD, TENANT_PARAMETER, Answer, ScopedRead, fused, fused_parameters
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
    header: str | None,
    connection: Connection,
    resolvers: Sequence[CredentialResolver],
    read_ahead: ScopedRead | None = None,
) -> Principal:
    """The caller's principal, or 401. With ``read_ahead`` (the handler's first read), on a connection where that
    pays, the credential's lookup and the read are one statement, and the connection keeps the read's answer."""
    token = credential_from_header(header)
    if token is None:
        raise unauthenticated()
    for resolver in resolvers:
        if resolver.recognizes(token):
            lookup = resolver.lookup(token) if read_ahead is not None and connection.reads_ahead else None
            if lookup is not None and read_ahead is not None:
                principal = await _resolve_reading_ahead(connection, lookup, read_ahead)
            else:
                principal = await resolver.resolve(token, connection)
            if principal is not None:
                return principal
            break
    raise unauthenticated("The credential is invalid or revoked.")


async def _resolve_reading_ahead(
    connection: Connection, lookup: CredentialLookup, read: ScopedRead
) -> Principal | None:
    statement = fused(lookup.query, read)
    row = await connection.fetch_one(statement.statement, fused_parameters(lookup.query, read))
    credential, record = statement.split(row)
    principal = lookup.principal(credential)
    if principal is not None:  # the read as its repository will run it: scoped to the principal's tenant
        connection.remember(Answer(read.statement, {**read.parameters, TENANT_PARAMETER: principal.tenant_id}, record))
    return principal


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
        continues = continues_authentication(handler, method)
        # The handler's first read, fetched with the credential: only worth it if the handler goes on in this
        # transaction (its connection keeps the answer).
        declared = handler.opt.get(READ_AHEAD) if continues else None
        read_ahead: ScopedRead | None = declared(connection.path_params) if declared is not None else None
        principal = await authenticate(
            connection.headers.get("authorization"), await unit.connection(), runtime.resolvers, read_ahead
        )
        # Authorization here rather than in a route guard: Litestar copies the handler for every guard call, a
        # cost on every request, and the role is known right now.
        if not principal.role.allows(required_role(handler, method)):
            raise forbidden()
        if not continues:
            await unit.commit()
        return AuthenticationResult(user=principal, auth=None)


# The web console authenticates its pages itself, by its session cookie. The APIs never accept that cookie: here
# only the Authorization header counts, so no cross-site request rides on a login.
authentication_middleware = DefineMiddleware(
    _AuthenticationMiddleware, exclude=["^/docs", "^/openapi.json$", "^/console(/|$)"], exclude_from_auth_key=PUBLIC
)
