"""``/api/v1/api-keys``: a tenant's admins manage its API keys, always in their own tenant."""

from __future__ import annotations

import datetime as dt
from typing import Any

from litestar import Controller, Request, delete, get, post
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from metadock.api_keys.schemas import ApiKeyCreate, ApiKeyEnvelope, ApiKeyList, ApiKeyOut
from metadock.api_keys.service import ApiKeyService
from metadock.kit.authentication import ROLE, principal_of
from metadock.kit.openapi import DOCS, Docs
from metadock.kit.principal import Role
from metadock.kit.unit_of_work import RequestUnitOfWork

ADMIN_ONLY = {ROLE: Role.ADMIN}
# A JSON body that is not JSON, and one that is but is not valid: Laravel's 400 and 422.
BODY_ERRORS = {
    400: "The body is not JSON.",
    413: "The body is larger than `METADOCK_MAX_BODY_BYTES`.",
    422: "A missing or invalid field; `errors` names each.",
}


def time_text(moment: dt.datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _key_out(row: Any) -> ApiKeyOut:
    return ApiKeyOut(
        id=row["id"],
        name=row["name"],
        role=row["role"],
        prefix=row["display_prefix"],
        created_at=time_text(row["created_at"]) or "",
        revoked_at=time_text(row["revoked_at"]),
    )


class ApiKeyController(Controller):
    path = "/api/v1/api-keys"
    tags = ["Management"]  # noqa: RUF012 - Litestar declares it as a plain attribute
    opt = ADMIN_ONLY

    @get("/", summary="List the tenant's API keys", opt={DOCS: Docs("listApiKeys")})
    async def list_keys(self, request: Request[Any, Any, Any], unit: RequestUnitOfWork) -> ApiKeyList:
        connection, principal = await unit.connection(), principal_of(request)
        rows = await ApiKeyService(connection, principal.tenant_id).list()
        return ApiKeyList([_key_out(row) for row in rows])

    @post(
        "/",
        status_code=HTTP_201_CREATED,
        summary="Create an API key (shown once)",
        opt={DOCS: Docs("createApiKey", errors=BODY_ERRORS)},
    )
    async def create_key(
        self, data: JSONBody[ApiKeyCreate], request: Request[Any, Any, Any], unit: RequestUnitOfWork
    ) -> ApiKeyEnvelope:
        connection, principal = await unit.connection(), principal_of(request)
        service = ApiKeyService(connection, principal.tenant_id)
        issued = await service.create(data.role, data.name)
        row = next(row for row in await service.list() if row["id"] == issued.id)
        out = _key_out(row)
        out.key = issued.key
        return ApiKeyEnvelope(out)

    @delete(
        "/{key_id:str}",
        status_code=HTTP_204_NO_CONTENT,
        summary="Revoke an API key at once",
        opt={DOCS: Docs("revokeApiKey", errors={404: "No such key in the tenant."})},
    )
    async def revoke_key(self, key_id: FromPath[str], request: Request[Any, Any, Any], unit: RequestUnitOfWork) -> None:
        connection, principal = await unit.connection(), principal_of(request)
        await ApiKeyService(connection, principal.tenant_id).revoke(key_id)
