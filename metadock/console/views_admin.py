"""Admin pages: the tenant's API keys (a new key is shown once) and users, through the management services."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.params import FromPath

from metadock.api_keys.service import ApiKeyService
from metadock.console.forms import create_form, create_from_form
from metadock.console.params import OptionalText
from metadock.console.rendering import render, see_other
from metadock.console.session import CONSOLE_ROLE, current_principal
from metadock.kit.errors import Violation, bad_request, not_found
from metadock.kit.principal import Role
from metadock.kit.unit_of_work import RequestUnitOfWork, UnitOfWork
from metadock.users.service import UserService

ADMIN = {CONSOLE_ROLE: Role.ADMIN}
ROLES = [role.value for role in Role]


def _role(raw: object) -> Role:
    try:
        return Role(str(raw))
    except ValueError:
        raise bad_request("Choose a role: reader, writer or admin.") from None


async def _keys(request: Request[Any, Any, Any], unit: UnitOfWork) -> list[dict[str, Any]]:
    async with unit.transaction() as connection:
        keys = await ApiKeyService(connection, current_principal(request).tenant_id).list()
    keys.sort(key=lambda row: (row["revoked_at"] is not None, row["created_at"]), reverse=False)
    return keys


@get("/admin/keys", opt=ADMIN)
async def keys_page(
    request: Request[Any, Any, Any], unit: RequestUnitOfWork, resent: OptionalText = None
) -> Response[Any]:
    keys = await _keys(request, unit)
    return render(request, "admin_keys.html", keys=keys, issued=None, roles=ROLES, resent=bool(resent))


@post("/admin/keys", opt=ADMIN)
async def key_create(request: Request[Any, Any, Any], unit: RequestUnitOfWork) -> Response[Any]:
    form = await create_form(request)
    role = _role(form.text("role"))
    name = form.text("name").strip() or None

    async def show(issued: Any) -> Response[Any]:
        # The key is in this one response only (it is never stored, so it could not be shown after a redirect); a
        # reload re-sends the form, which then lands on the list with a note and makes no second key.
        keys = await _keys(request, unit)
        return render(request, "admin_keys.html", status=201, keys=keys, issued=issued, roles=ROLES, resent=False)

    return await create_from_form(
        unit,
        form,
        "/console/admin/keys",
        lambda connection: ApiKeyService(connection, form.tenant_id).create(role, name),
        created=show,
    )


@get("/admin/keys/{key_id:str}/revoke", opt=ADMIN)
async def key_confirm_revoke(
    request: Request[Any, Any, Any], unit: RequestUnitOfWork, key_id: FromPath[str]
) -> Response[Any]:
    """Revoking cuts off every client using the key at once: ask first, and say when it is the last admin key."""
    keys = await _keys(request, unit)
    key = next((row for row in keys if row["id"] == key_id and row["revoked_at"] is None), None)
    if key is None:
        raise not_found("No such active API key.")
    admins = [row for row in keys if row["role"] == Role.ADMIN.value and row["revoked_at"] is None]
    last_admin = key["role"] == Role.ADMIN.value and len(admins) == 1
    return render(request, "admin_key_revoke.html", key=key, last_admin=last_admin)


@post("/admin/keys/{key_id:str}/revoke", opt=ADMIN)
async def key_revoke(request: Request[Any, Any, Any], unit: RequestUnitOfWork, key_id: FromPath[str]) -> Response[Any]:
    principal = current_principal(request)
    async with unit.transaction() as connection:
        await ApiKeyService(connection, principal.tenant_id).revoke(key_id)
    return see_other("/console/admin/keys")


async def _users_page(
    request: Request[Any, Any, Any],
    unit: UnitOfWork,
    *,
    errors: list[Violation] | None = None,
    email: str = "",
    status: int = 200,
    resent: bool = False,
) -> Response[Any]:
    principal = current_principal(request)
    async with unit.transaction() as connection:
        users = await UserService(connection, principal.tenant_id).list()
    return render(
        request,
        "admin_users.html",
        status=status,
        users=users,
        roles=ROLES,
        errors=errors or [],
        email=email,
        me=principal.credential_id,
        resent=resent,
    )


@get("/admin/users", opt=ADMIN)
async def users_page(
    request: Request[Any, Any, Any], unit: RequestUnitOfWork, resent: OptionalText = None
) -> Response[Any]:
    return await _users_page(request, unit, resent=bool(resent))


@post("/admin/users", opt=ADMIN)
async def user_create(request: Request[Any, Any, Any], unit: RequestUnitOfWork) -> Response[Any]:
    form = await create_form(request)
    email, password = form.text("email"), str(form.fields.get("password", ""))
    role = _role(form.text("role"))

    async def invalid(errors: list[Violation]) -> Response[Any]:
        return await _users_page(request, unit, errors=errors, email=email, status=422)

    return await create_from_form(
        unit,
        form,
        "/console/admin/users",
        lambda connection: UserService(connection, form.tenant_id).create(email, password, role),
        invalid=invalid,
    )


@post("/admin/users/{user_id:str}", opt=ADMIN)
async def user_update(
    request: Request[Any, Any, Any], unit: RequestUnitOfWork, user_id: FromPath[str]
) -> Response[Any]:
    form = await request.form()
    principal = current_principal(request)
    action = str(form.get("action", ""))
    if user_id == principal.credential_id and action in ("disable", "role"):
        # Locking oneself out of the console is never what an admin meant by clicking here.
        raise bad_request("You cannot disable or demote yourself; ask another admin.")
    role = _role(form.get("role")) if action == "role" else None
    disabled = {"disable": True, "enable": False}.get(action)
    if role is None and disabled is None:
        raise bad_request("Unknown action.")
    async with unit.transaction() as connection:
        await UserService(connection, principal.tenant_id).update(user_id, role=role, disabled=disabled)
    return see_other("/console/admin/users")
