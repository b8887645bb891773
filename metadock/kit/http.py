"""Dependencies every resource's handlers share: the request-owned transaction and the caller's principal."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Annotated, Any, TypeAlias

from litestar import Request
from litestar.di import Dependency, Provide
from litestar.params import SkipValidationMarker
from litestar.types import Scope

from metadock.auth.principal import Principal
from metadock.kit.context import context_of
from metadock.kit.db import Connection, OpenTransaction

# Handler parameter types. Our own objects need no validation by the framework on every request.
DbConnection: TypeAlias = Annotated[Connection, Dependency(kind="named"), SkipValidationMarker()]
CurrentPrincipal: TypeAlias = Annotated[Principal, Dependency(kind="named"), SkipValidationMarker()]

_REQUEST_TRANSACTION = "metadock_request_transaction"


def provide_principal(request: Request[Any, Any, Any]) -> Principal:
    principal: Principal = request.user
    return principal


def stash_request_transaction(scope: Scope, transaction: OpenTransaction) -> None:
    """Authentication hands the transaction it began (for a read) on to the handler's connection dependency."""
    scope["state"][_REQUEST_TRANSACTION] = transaction


def take_request_transaction(scope: Scope) -> OpenTransaction | None:
    transaction: OpenTransaction | None = scope["state"].pop(_REQUEST_TRANSACTION, None)
    return transaction


async def provide_connection(
    request: Request[Any, Any, Any],
    principal: CurrentPrincipal,  # noqa: ARG001 - orders the two dependencies, see below
) -> AsyncGenerator[Connection, None]:
    """The request owns the transaction: it commits when the handler returns and rolls back when it raises.

    A read continues the transaction its authentication began (one connection and one BEGIN per request); a write
    begins its own here, after its body has arrived. Taking ``principal`` puts the two dependencies in successive
    batches: Litestar resolves independent dependencies concurrently in a task group, which costs more per request
    than both dependencies together.
    """
    transaction = take_request_transaction(request.scope)
    if transaction is None:
        transaction = await OpenTransaction.begin(context_of(request).database)
    try:
        yield transaction.connection
    except BaseException:
        await transaction.rollback()
        raise
    await transaction.commit()


dependencies = {
    "connection": Provide(provide_connection),
    "principal": Provide(provide_principal, sync_to_thread=False),
}
