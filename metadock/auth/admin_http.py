"""The management API for a tenant's admins: ``/api/v1/api-keys`` and ``/api/v1/users``, always in their own tenant."""

from __future__ import annotations

import datetime as dt
from typing import Any

from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT
from msgspec import UNSET

from metadock.auth.schemas import (
    ApiKeyCreate,
    ApiKeyEnvelope,
    ApiKeyList,
    ApiKeyOut,
    UserCreate,
    UserEnvelope,
    UserList,
    UserOut,
    UserUpdate,
)
from metadock.auth.service import TenantService
from metadock.auth.users import User, UserService
from metadock.kit.authentication import ROLE, principal_of
from metadock.kit.principal import Role
from metadock.kit.unit_of_work import RequestUnitOfWork

ADMIN_ONLY = {ROLE: Role.ADMIN}


def _time(moment: dt.datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _key_out(row: Any) -> ApiKeyOut:
    return ApiKeyOut(
        id=row["id"],
        name=row["name"],
        role=row["role"],
        prefix=row["display_prefix"],
        created_at=_time(row["created_at"]) or "",
        revoked_at=_time(row["revoked_at"]),
    )


def _user_out(user: User) -> UserOut:
    return UserOut(
        id=user.id,
        email=user.email,
        role=user.role.value,
        disabled=user.disabled,
        created_at=_time(user.created_at) or "",
    )


class ApiKeyController(Controller):
    path = "/api/v1/api-keys"
    tags = ["Management"]  # noqa: RUF012 - Litestar declares it as a plain attribute
    opt = ADMIN_ONLY

    @get("/", summary="List the tenant's API keys")
    async def list_keys(self, request: Request[Any, Any, Any], unit: RequestUnitOfWork) -> ApiKeyList:
        connection, principal = await unit.connection(), principal_of(request)
        rows = await TenantService(connection).list_keys(principal.tenant_uuid)
        return ApiKeyList([_key_out(row) for row in rows])

    @post("/", status_code=HTTP_201_CREATED, summary="Create an API key (shown once)")
    async def create_key(
        self, data: JSONBody[ApiKeyCreate], request: Request[Any, Any, Any], unit: RequestUnitOfWork
    ) -> ApiKeyEnvelope:
        connection, principal = await unit.connection(), principal_of(request)
        service = TenantService(connection)
        issued = await service.create_key(principal.tenant_uuid, data.role, data.name)
        row = next(row for row in await service.list_keys(principal.tenant_uuid) if row["id"] == issued.id)
        out = _key_out(row)
        out.key = issued.key
        return ApiKeyEnvelope(out)

    @delete("/{key_id:str}", status_code=HTTP_204_NO_CONTENT, summary="Revoke an API key at once")
    async def revoke_key(self, key_id: FromPath[str], request: Request[Any, Any, Any], unit: RequestUnitOfWork) -> None:
        connection, principal = await unit.connection(), principal_of(request)
        await TenantService(connection).revoke_key(key_id, tenant_id=principal.tenant_id)


class UserController(Controller):
    path = "/api/v1/users"
    tags = ["Management"]  # noqa: RUF012 - Litestar declares it as a plain attribute
    opt = ADMIN_ONLY

    @get("/", summary="List the tenant's users")
    async def list_users(self, request: Request[Any, Any, Any], unit: RequestUnitOfWork) -> UserList:
        connection, principal = await unit.connection(), principal_of(request)
        return UserList([_user_out(user) for user in await UserService(connection, principal.tenant_id).list()])

    @post("/", status_code=HTTP_201_CREATED, summary="Create a user")
    async def create_user(
        self, data: JSONBody[UserCreate], request: Request[Any, Any, Any], unit: RequestUnitOfWork
    ) -> Response[UserEnvelope]:
        connection, principal = await unit.connection(), principal_of(request)
        user = await UserService(connection, principal.tenant_id).create(data.email, data.password, data.role)
        return Response(UserEnvelope(_user_out(user)), status_code=HTTP_201_CREATED)

    @patch("/{user_id:str}", summary="Change a user's role, or disable or enable them")
    async def update_user(
        self,
        user_id: FromPath[str],
        data: JSONBody[UserUpdate],
        request: Request[Any, Any, Any],
        unit: RequestUnitOfWork,
    ) -> UserEnvelope:
        connection, principal = await unit.connection(), principal_of(request)
        user = await UserService(connection, principal.tenant_id).update(
            user_id,
            role=None if data.role is UNSET else data.role,
            disabled=None if data.disabled is UNSET else data.disabled,
        )
        return UserEnvelope(_user_out(user))
