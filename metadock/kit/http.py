"""Dependencies every resource's handlers share: the request-owned transaction and the caller's principal."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Annotated, Any, TypeAlias

from litestar import Request
from litestar.di import Dependency, Provide
from litestar.params import SkipValidationMarker

from metadock.auth.principal import Principal
from metadock.kit.context import context_of
from metadock.kit.db import Connection

# Handler parameter types. Our own objects need no validation by the framework on every request.
DbConnection: TypeAlias = Annotated[Connection, Dependency(kind="named"), SkipValidationMarker()]
CurrentPrincipal: TypeAlias = Annotated[Principal, Dependency(kind="named"), SkipValidationMarker()]


def provide_principal(request: Request[Any, Any, Any]) -> Principal:
    principal: Principal = request.user
    return principal


async def provide_connection(
    request: Request[Any, Any, Any],
    principal: CurrentPrincipal,  # noqa: ARG001 - orders the two dependencies, see below
) -> AsyncGenerator[Connection, None]:
    """The request owns the transaction: it commits when the handler returns and rolls back when it raises.

    Taking ``principal`` puts the two dependencies in successive batches: Litestar resolves independent
    dependencies concurrently in a task group, which costs more per request than both dependencies together.
    """
    async with context_of(request).database.transaction() as connection:
        yield connection


dependencies = {
    "connection": Provide(provide_connection),
    "principal": Provide(provide_principal, sync_to_thread=False),
}
