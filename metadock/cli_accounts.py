"""``metadock tenants|keys|users``: the accounts an operator manages from the command line, each command one
transaction on the configured database (``in_transaction``, which ``serve``'s first start uses too)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import click

from metadock.api_keys.service import ApiKeyService, IssuedKey, revoke_key_in_any_tenant
from metadock.kit.db import Connection, Database
from metadock.kit.errors import AppError
from metadock.kit.principal import Role
from metadock.payloads.search import forget_tenant
from metadock.settings import get_settings
from metadock.tenants.service import TenantService
from metadock.users.service import UserService

T = TypeVar("T")


def in_transaction(work: Callable[[Connection], Awaitable[T]]) -> T:
    async def run() -> T:
        database = Database(get_settings().database_url)
        try:
            async with database.transaction() as connection:
                return await work(connection)
        finally:
            await database.dispose()

    try:
        return asyncio.run(run())
    except AppError as error:
        raise click.ClickException(error.detail) from None


@click.group()
def tenants() -> None:
    """Tenants: each sees only its own data."""


@tenants.command("create")
@click.argument("name")
def tenants_create(name: str) -> None:
    """Create a tenant; prints its uuid as the last line."""
    tenant = in_transaction(lambda connection: TenantService(connection).create_tenant(name))
    click.echo(f"Created tenant {tenant.name!r}.")
    click.echo(tenant.uuid)


@tenants.command("list")
def tenants_list() -> None:
    """List tenants."""
    for tenant in in_transaction(lambda connection: TenantService(connection).list_tenants()):
        click.echo(f"{tenant.uuid}\t{tenant.name}")


@tenants.command("content-search")
@click.argument("tenant_uuid")
@click.argument("state", required=False, type=click.Choice(["on", "off"]))
def tenants_content_search(tenant_uuid: str, state: str | None) -> None:
    """Show or switch a tenant's content search (when the deployment runs it: METADOCK_CONTENT_SEARCH=1). Off: its
    payloads are no longer indexed, filter[search] is refused, and its index entries are removed (in batches; rerun
    to finish if interrupted). On: payloads captured from now on are indexed."""
    if state is None:
        tenant = in_transaction(lambda connection: TenantService(connection).get_tenant(tenant_uuid))
    else:
        tenant = in_transaction(
            lambda connection: TenantService(connection).set_content_search(tenant_uuid, state == "on")
        )
    deployment = "" if get_settings().content_search else " (the deployment runs without it: METADOCK_CONTENT_SEARCH)"
    click.echo(f"Content search of tenant {tenant.name!r}: {'on' if tenant.content_search else 'off'}{deployment}.")
    if tenant.content_search or state is None:
        return

    async def purge() -> tuple[int, bool]:
        database = Database(get_settings().database_url)
        try:
            return await forget_tenant(database, tenant.id)
        finally:
            await database.dispose()

    removed, settled = asyncio.run(purge())
    click.echo(f"Removed {removed} index entries.")
    if not settled:
        click.echo("Some captures begun before the switch were still running: rerun this command to remove theirs.")


@click.group()
def keys() -> None:
    """API keys: only a hash is stored, so a key is shown once, when it is created."""


@keys.command("create")
@click.option("--tenant", "tenant_uuid", required=True, help="The tenant's uuid.")
@click.option("--role", type=click.Choice([role.value for role in Role]), required=True)
@click.option("--name", default=None, help="A label to recognise the key by.")
def keys_create(tenant_uuid: str, role: str, name: str | None) -> None:
    """Create a key; prints the key as the last line."""

    async def work(connection: Connection) -> IssuedKey:
        tenant = await TenantService(connection).get_tenant(tenant_uuid)
        return await ApiKeyService(connection, tenant.id).create(Role(role), name)

    issued = in_transaction(work)
    click.echo(f"Created {issued.role.value} key {issued.id} ({issued.name!r}); it is shown only this once:")
    click.echo(issued.key)


@keys.command("list")
@click.option("--tenant", "tenant_uuid", required=True, help="The tenant's uuid.")
def keys_list(tenant_uuid: str) -> None:
    """List a tenant's keys (id, role, prefix, name, created, revoked)."""

    async def work(connection: Connection) -> list[dict[str, Any]]:
        tenant = await TenantService(connection).get_tenant(tenant_uuid)
        return await ApiKeyService(connection, tenant.id).list()

    for row in in_transaction(work):
        revoked = f"revoked {row['revoked_at']}" if row["revoked_at"] else "active"
        click.echo(
            f"{row['id']}\t{row['role']}\t{row['display_prefix']}…\t{row['name']}\t{row['created_at']}\t{revoked}"
        )


@keys.command("revoke")
@click.argument("key_id")
def keys_revoke(key_id: str) -> None:
    """Revoke a key at once."""
    in_transaction(lambda connection: revoke_key_in_any_tenant(connection, key_id))
    click.echo(f"Revoked key {key_id}.")


@click.group()
def users() -> None:
    """People who log in (POST /fabric/api/login) and get a token."""


def _read_password() -> str:
    if sys.stdin.isatty():
        return str(click.prompt("Password", hide_input=True, confirmation_prompt=True))
    return sys.stdin.readline().rstrip("\r\n")


@users.command("create")
@click.option("--tenant", "tenant_uuid", required=True, help="The tenant's uuid.")
@click.option("--email", required=True)
@click.option("--role", type=click.Choice([role.value for role in Role]), required=True)
def users_create(tenant_uuid: str, email: str, role: str) -> None:
    """Create a user; the password is read from a prompt or from stdin, never from the command line."""
    password = _read_password()

    async def work(connection: Connection) -> str:
        tenant = await TenantService(connection).get_tenant(tenant_uuid)
        return (await UserService(connection, tenant.id).create(email, password, Role(role))).id

    user_id = in_transaction(work)
    click.echo(f"Created user {email} ({role}).")
    click.echo(user_id)


@users.command("reset-password")
@click.option("--tenant", "tenant_uuid", required=True, help="The tenant's uuid.")
@click.option("--email", required=True)
def users_reset_password(tenant_uuid: str, email: str) -> None:
    """Set a user's password (read from a prompt or stdin) and end their sessions: for a lost admin password."""
    password = _read_password()

    async def work(connection: Connection) -> None:
        tenant = await TenantService(connection).get_tenant(tenant_uuid)
        await UserService(connection, tenant.id).reset_password(email, password)

    in_transaction(work)
    click.echo(f"Password of {email} reset; their sessions have ended.")
