"""Liveness and readiness: no credentials, no tenant."""

from __future__ import annotations

from typing import Any

from litestar import Request, get

from metadock.kit.authentication import PUBLIC
from metadock.kit.context import runtime_of
from metadock.kit.errors import service_unavailable


@get("/healthz", opt={PUBLIC: True}, tags=["Health"], summary="The process is up")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@get("/readyz", opt={PUBLIC: True}, tags=["Health"], summary="The database is reachable")
async def readyz(request: Request[Any, Any, Any]) -> dict[str, str]:
    if not await runtime_of(request).database.ping():
        raise service_unavailable("The database is unreachable.")
    return {"status": "ready"}
