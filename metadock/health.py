"""Liveness and readiness: no credentials, no tenant."""

from __future__ import annotations

from typing import Any

from litestar import Request, get

from metadock.kit.authentication import PUBLIC
from metadock.kit.context import runtime_of
from metadock.kit.drain import draining
from metadock.kit.errors import service_unavailable
from metadock.kit.openapi import DOCS, Docs


@get("/healthz", opt={PUBLIC: True, DOCS: Docs("getHealth")}, tags=["Health"], summary="The process is up")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


_READY_DOCS = Docs(
    "getReadiness", errors={503: "The database is unreachable, or the node is draining: it got SIGTERM and stops soon."}
)


@get(
    "/readyz",
    opt={PUBLIC: True, DOCS: _READY_DOCS},
    tags=["Health"],
    summary="The node takes new requests: not draining, and the database is reachable",
)
async def readyz(request: Request[Any, Any, Any]) -> dict[str, str]:
    if draining():  # first, and without the database: a load balancer must see it at its next check
        raise service_unavailable("The node is shutting down.")
    if not await runtime_of(request).database.ping():
        raise service_unavailable("The database is unreachable.")
    return {"status": "ready"}
