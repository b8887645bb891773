"""Plain functions that put things in a test database through the project's own services."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import update

from metadock.auth.principal import Role
from metadock.auth.service import TenantService
from metadock.kit.db import Connection, Database
from metadock.metadatas.table import metadatas

T = TypeVar("T")


def run_in_transaction(database_url: str, work: Callable[[Connection], Awaitable[T]]) -> T:
    async def run() -> T:
        database = Database(database_url, pool_size=1)
        try:
            async with database.transaction() as connection:
                return await work(connection)
        finally:
            await database.dispose()

    return asyncio.run(run())


@dataclass(frozen=True)
class TenantKeys:
    uuid: str
    admin: str
    writer: str
    reader: str

    def headers(self, role: str = "admin") -> dict[str, str]:
        return {"Authorization": getattr(self, role)}


def create_tenant(database_url: str, name: str) -> TenantKeys:
    async def work(connection: Connection) -> TenantKeys:
        service = TenantService(connection)
        tenant = await service.create_tenant(name)
        issued = {role: (await service.create_key(tenant.uuid, role)).key for role in Role}
        return TenantKeys(tenant.uuid, issued[Role.ADMIN], issued[Role.WRITER], issued[Role.READER])

    return run_in_transaction(database_url, work)


def revoke_key(database_url: str, key_id: str) -> None:
    run_in_transaction(database_url, lambda connection: TenantService(connection).revoke_key(key_id))


def metadata_body(**overrides: Any) -> dict[str, Any]:
    """The seed's POST example, with overrides."""
    body: dict[str, Any] = {
        "owner": "BusinessUnit",
        "ownerUuid": "c11c546e-bd01-47cf-97da-e25388357b5a",
        "title": {"en": "OAuth Providers"},
        "slug": "oauth-providers",
        "type": "authentication",
        "data": ["Github", "Google", "Twitter"],
        "version": 1,
    }
    body.update(overrides)
    return body


def set_timestamps(database_url: str, uuid: str, created_at: dt.datetime, updated_at: dt.datetime) -> None:
    """Backdate a resource, which the API rightly never allows, to test the date filters."""

    async def work(connection: Connection) -> None:
        statement = (
            update(metadatas).where(metadatas.c.uuid == uuid).values(created_at=created_at, updated_at=updated_at)
        )
        await connection.execute(statement)

    run_in_transaction(database_url, work)
