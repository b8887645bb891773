"""All SQL about tenants. Tenants are the scope itself, so nothing here is tenant-scoped: only operators (the CLI, the
first start) reach it, never a tenant's HTTP request."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, insert, select, update

from metadock.kit.db import Connection
from metadock.tenants.table import tenants


class TenantRepository:
    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    async def count(self) -> int:
        return int(await self.connection.scalar(select(func.count()).select_from(tenants)))

    async def insert(self, uuid: str, name: str, created_at: dt.datetime) -> int:
        statement = insert(tenants).values(uuid=uuid, name=name, created_at=created_at).returning(tenants.c.id)
        return int(await self.connection.scalar(statement))

    async def find_by_uuid(self, uuid: str) -> Any | None:
        return await self.connection.fetch_one(select(tenants).where(tenants.c.uuid == uuid))

    async def find_by_name(self, name: str) -> Any | None:
        return await self.connection.fetch_one(select(tenants).where(tenants.c.name == name))

    async def list_all(self) -> list[Any]:
        return await self.connection.fetch_all(select(tenants).order_by(tenants.c.id))

    async def set_content_search(self, tenant_id: int, on: bool) -> None:
        await self.connection.write(update(tenants).where(tenants.c.id == tenant_id).values(content_search=on))
