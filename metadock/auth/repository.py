"""All SQL about tenants and credentials.

Unlike resource repositories this one is not tenant-scoped: it is what turns a credential into a tenant.
Key management for a tenant's own admins (later) goes through :meth:`list_keys`/:meth:`revoke_key` with the
caller's tenant id, so one admin cannot touch another tenant's keys.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update

from metadock.auth.tables import api_keys, tenants
from metadock.kit.db import Connection

# Built once: this runs on every request that carries an API key.
_KEY_BY_HASH = (
    select(
        api_keys.c.id,
        api_keys.c.role,
        api_keys.c.key_hash,
        api_keys.c.revoked_at,
        tenants.c.id.label("tenant_id"),
        tenants.c.uuid.label("tenant_uuid"),
    )
    .join(tenants, tenants.c.id == api_keys.c.tenant_id)
    .where(api_keys.c.key_hash == bindparam("key_hash"))
)


class AuthRepository:
    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    async def find_key_by_hash(self, key_hash: str) -> Any | None:
        return await self.connection.fetch_one(_KEY_BY_HASH, {"key_hash": key_hash})

    async def count_tenants(self) -> int:
        return int((await self.connection.execute(select(func.count()).select_from(tenants))).scalar_one())

    async def insert_tenant(self, uuid: str, name: str, created_at: dt.datetime) -> int:
        statement = insert(tenants).values(uuid=uuid, name=name, created_at=created_at).returning(tenants.c.id)
        return int((await self.connection.execute(statement)).scalar_one())

    async def find_tenant(self, *, uuid: str | None = None, name: str | None = None) -> Any | None:
        statement = select(tenants)
        if uuid is not None:
            statement = statement.where(tenants.c.uuid == uuid)
        if name is not None:
            statement = statement.where(tenants.c.name == name)
        return (await self.connection.execute(statement)).mappings().first()

    async def list_tenants(self) -> list[Any]:
        return list((await self.connection.execute(select(tenants).order_by(tenants.c.id))).mappings())

    async def insert_key(self, values: dict[str, Any]) -> None:
        await self.connection.execute(insert(api_keys).values(**values))

    async def list_keys(self, tenant_id: int) -> list[Any]:
        statement = (
            select(
                api_keys.c.id,
                api_keys.c.name,
                api_keys.c.role,
                api_keys.c.display_prefix,
                api_keys.c.created_at,
                api_keys.c.revoked_at,
            )
            .where(api_keys.c.tenant_id == tenant_id)
            .order_by(api_keys.c.created_at, api_keys.c.id)
        )
        return list((await self.connection.execute(statement)).mappings())

    async def revoke_key(self, key_id: str, revoked_at: dt.datetime, *, tenant_id: int | None = None) -> bool:
        statement = update(api_keys).where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
        if tenant_id is not None:
            statement = statement.where(api_keys.c.tenant_id == tenant_id)
        result = await self.connection.execute(statement.values(revoked_at=revoked_at))
        return bool(getattr(result, "rowcount", 0))
