"""Creating and finding tenants (operators only: the CLI and the first start)."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from metadock.kit.db import Connection
from metadock.kit.errors import Violation, not_found, validation_failed
from metadock.tenants.repository import TenantRepository

DEFAULT_TENANT = "default"


@dataclass(frozen=True, slots=True)
class Tenant:
    id: int
    uuid: str
    name: str
    content_search: bool = True  # when the deployment runs content search (payloads/search.py)


def _tenant(row: Any) -> Tenant:
    return Tenant(row["id"], row["uuid"], row["name"], bool(row["content_search"]))


class TenantService:
    def __init__(self, connection: Connection) -> None:
        self.repository = TenantRepository(connection)

    async def create_tenant(self, name: str) -> Tenant:
        name = name.strip()
        if not name or len(name) > 255:
            raise validation_failed([Violation("name", "The tenant name must be 1 to 255 characters.")])
        if await self.repository.find_by_name(name) is not None:
            raise validation_failed([Violation("name", "This tenant name is already used.")])
        tenant_uuid = str(uuid.uuid4())
        tenant_id = await self.repository.insert(tenant_uuid, name, dt.datetime.now(dt.UTC))
        return Tenant(tenant_id, tenant_uuid, name)

    async def list_tenants(self) -> list[Tenant]:
        return [_tenant(row) for row in await self.repository.list_all()]

    async def get_tenant(self, tenant_uuid: str) -> Tenant:
        row = await self.repository.find_by_uuid(tenant_uuid)
        if row is None:
            raise not_found(f"No tenant {tenant_uuid}.")
        return _tenant(row)

    async def set_content_search(self, tenant_uuid: str, on: bool) -> Tenant:
        """Switch the tenant's content search. Off, its captures are no longer indexed and ``filter[search]`` is
        refused at once; its index entries are removed after this commits (``payloads/search.py``,
        :func:`forget_tenant`). On, captures from now on are indexed (earlier ones are not)."""
        tenant = await self.get_tenant(tenant_uuid)
        await self.repository.set_content_search(tenant.id, on)
        return Tenant(tenant.id, tenant.uuid, tenant.name, on)

    async def is_empty(self) -> bool:
        return await self.repository.count() == 0
