"""The ``metadock`` command line: serve, migrate, and manage tenants and API keys."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import click

from metadock import migrate
from metadock.auth.principal import Role
from metadock.auth.service import IssuedKey, TenantService
from metadock.kit.db import Connection, Database
from metadock.kit.errors import AppError
from metadock.settings import get_settings

T = TypeVar("T")


def _in_transaction(work: Callable[[Connection], Awaitable[T]]) -> T:
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


def _upgrade() -> None:
    async def run() -> None:
        database = Database(get_settings().database_url)
        try:
            await migrate.upgrade(database)
        finally:
            await database.dispose()

    asyncio.run(run())


@click.group()
def main() -> None:
    """Metadock: metadata and payloads of an integration platform, over DigitalState and Patchworks APIs."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64))
def serve(host: str, port: int, workers: int) -> None:
    """Apply migrations, create the first tenant and key on an empty database, and serve."""
    from granian import Granian
    from granian.constants import Interfaces

    _upgrade()
    issued: IssuedKey | None = _in_transaction(lambda connection: TenantService(connection).bootstrap())
    if issued is not None:
        click.echo(f"Created tenant 'default' ({issued.tenant_uuid}) with an admin API key, shown only this once:")
        click.echo(f"API key: {issued.key}")
        click.echo(f"Make more with: metadock keys create --tenant {issued.tenant_uuid} --role reader|writer|admin")
    Granian(
        "metadock.app:create_app", address=host, port=port, workers=workers, interface=Interfaces.ASGI, factory=True
    ).serve()


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending migration."""
    _upgrade()
    click.echo("Database is up to date.")


@main.group()
def tenants() -> None:
    """Tenants: each sees only its own data."""


@tenants.command("create")
@click.argument("name")
def tenants_create(name: str) -> None:
    """Create a tenant; prints its uuid as the last line."""
    tenant = _in_transaction(lambda connection: TenantService(connection).create_tenant(name))
    click.echo(f"Created tenant {tenant.name!r}.")
    click.echo(tenant.uuid)


@tenants.command("list")
def tenants_list() -> None:
    """List tenants."""
    for tenant in _in_transaction(lambda connection: TenantService(connection).list_tenants()):
        click.echo(f"{tenant.uuid}\t{tenant.name}")


@main.group()
def keys() -> None:
    """API keys: only a hash is stored, so a key is shown once, when it is created."""


@keys.command("create")
@click.option("--tenant", "tenant_uuid", required=True, help="The tenant's uuid.")
@click.option("--role", type=click.Choice([role.value for role in Role]), required=True)
@click.option("--name", default=None, help="A label to recognise the key by.")
def keys_create(tenant_uuid: str, role: str, name: str | None) -> None:
    """Create a key; prints the key as the last line."""
    issued = _in_transaction(lambda connection: TenantService(connection).create_key(tenant_uuid, Role(role), name))
    click.echo(f"Created {issued.role.value} key {issued.id} ({issued.name!r}); it is shown only this once:")
    click.echo(issued.key)


@keys.command("list")
@click.option("--tenant", "tenant_uuid", required=True, help="The tenant's uuid.")
def keys_list(tenant_uuid: str) -> None:
    """List a tenant's keys (id, role, prefix, name, created, revoked)."""
    for row in _in_transaction(lambda connection: TenantService(connection).list_keys(tenant_uuid)):
        revoked = f"revoked {row['revoked_at']}" if row["revoked_at"] else "active"
        click.echo(
            f"{row['id']}\t{row['role']}\t{row['display_prefix']}…\t{row['name']}\t{row['created_at']}\t{revoked}"
        )


@keys.command("revoke")
@click.argument("key_id")
def keys_revoke(key_id: str) -> None:
    """Revoke a key at once."""
    _in_transaction(lambda connection: TenantService(connection).revoke_key(key_id))
    click.echo(f"Revoked key {key_id}.")
