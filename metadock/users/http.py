"""``/api/v1/users``: a tenant's admins manage its users, always in their own tenant."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, patch, post
from litestar.openapi.spec import OpenAPIType, Schema
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_201_CREATED
from msgspec import UNSET

from metadock.api_keys.http import ADMIN_ONLY, BODY_ERRORS, time_text
from metadock.kit.authentication import principal_of
from metadock.kit.openapi import DOCS, BodyRules, Docs
from metadock.kit.unit_of_work import RequestUnitOfWork
from metadock.users.passwords import MAX_LENGTH, MIN_LENGTH
from metadock.users.schemas import UserCreate, UserEnvelope, UserList, UserOut, UserUpdate
from metadock.users.service import MAX_EMAIL, User, UserService

# What UserService.create checks (email_problem, passwords.password_problem): one "@" with something before it and
# after it, no space or NUL inside (around it is trimmed), at most MAX_EMAIL characters; the password's length.
_EMAIL = Schema(
    type=OpenAPIType.STRING,
    pattern="^\\s*[^@\\s\\u0000]+@[^\\s\\u0000]+\\s*$",
    max_length=MAX_EMAIL,
)
# A boolean as Laravel's `boolean` rule reads one (true, false, 1, 0, "1", "0"), and "true" or "false" in any case:
# what the body's decoding accepts for a `bool`, so what the document says.
_BOOLEAN = Schema(
    any_of=[
        Schema(type=OpenAPIType.BOOLEAN),
        Schema(type=OpenAPIType.INTEGER, enum=[0, 1]),  # not minimum and maximum, which 0.0 meets
        Schema(type=OpenAPIType.STRING, pattern="^(0|1|[Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee])$"),
    ]
)
BODY_RULES = {
    "UserCreate": BodyRules(
        {"email": _EMAIL, "password": Schema(type=OpenAPIType.STRING, min_length=MIN_LENGTH, max_length=MAX_LENGTH)}
    ),
    "UserUpdate": BodyRules({"disabled": _BOOLEAN}),
}


def _user_out(user: User) -> UserOut:
    return UserOut(
        id=user.id,
        email=user.email,
        role=user.role.value,
        disabled=user.disabled,
        created_at=time_text(user.created_at) or "",
    )


class UserController(Controller):
    path = "/api/v1/users"
    tags = ["Management"]  # noqa: RUF012 - Litestar declares it as a plain attribute
    opt = ADMIN_ONLY

    @get("/", summary="List the tenant's users", opt={DOCS: Docs("listUsers")})
    async def list_users(self, request: Request[Any, Any, Any], unit: RequestUnitOfWork) -> UserList:
        connection, principal = await unit.connection(), principal_of(request)
        return UserList([_user_out(user) for user in await UserService(connection, principal.tenant_id).list()])

    @post(
        "/", status_code=HTTP_201_CREATED, summary="Create a user", opt={DOCS: Docs("createUser", errors=BODY_ERRORS)}
    )
    async def create_user(
        self, data: JSONBody[UserCreate], request: Request[Any, Any, Any], unit: RequestUnitOfWork
    ) -> Response[UserEnvelope]:
        connection, principal = await unit.connection(), principal_of(request)
        user = await UserService(connection, principal.tenant_id).create(data.email, data.password, data.role)
        return Response(UserEnvelope(_user_out(user)), status_code=HTTP_201_CREATED)

    @patch(
        "/{user_id:str}",
        summary="Change a user's role, or disable or enable them",
        opt={DOCS: Docs("updateUser", errors={**BODY_ERRORS, 404: "No such user in the tenant."})},
    )
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
