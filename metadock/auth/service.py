"""Tenants, API keys, and turning a presented credential into a :class:`Principal`."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from metadock.auth import keys
from metadock.auth.ids import is_generated_id
from metadock.auth.repository import AuthRepository
from metadock.kit.db import Connection
from metadock.kit.errors import AppError, Violation, not_found, validation_failed
from metadock.kit.principal import Principal, Role

DEFAULT_TENANT = "default"


class ApiKeyResolver:
    def recognizes(self, token: str) -> bool:
        return keys.looks_like_key(token)

    async def resolve(self, token: str, connection: Connection) -> Principal | None:
        row = await AuthRepository(connection).find_key_by_hash(keys.hash_key(token))
        # The lookup is by hash, so timing reveals nothing about the key; compare_digest double-checks the match.
        if row is None or row["revoked_at"] is not None or not keys.hashes_match(row["key_hash"], token):
            return None
        return Principal(row["tenant_id"], row["tenant_uuid"], Role(row["role"]), row["id"], "api_key")


@dataclass(frozen=True, slots=True)
class Tenant:
    id: int
    uuid: str
    name: str


@dataclass(frozen=True, slots=True)
class IssuedKey:
    id: str
    tenant_uuid: str
    role: Role
    name: str
    key: str  # shown once, never stored


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class TenantService:
    def __init__(self, connection: Connection) -> None:
        self.repository = AuthRepository(connection)

    async def create_tenant(self, name: str) -> Tenant:
        name = name.strip()
        if not name or len(name) > 255:
            raise validation_failed([Violation("name", "The tenant name must be 1 to 255 characters.")])
        if await self.repository.find_tenant(name=name) is not None:
            raise validation_failed([Violation("name", "This tenant name is already used.")])
        tenant_uuid = str(uuid.uuid4())
        tenant_id = await self.repository.insert_tenant(tenant_uuid, name, _now())
        return Tenant(tenant_id, tenant_uuid, name)

    async def list_tenants(self) -> list[Tenant]:
        return [Tenant(row["id"], row["uuid"], row["name"]) for row in await self.repository.list_tenants()]

    async def get_tenant(self, tenant_uuid: str) -> Tenant:
        row = await self.repository.find_tenant(uuid=tenant_uuid)
        if row is None:
            raise not_found(f"No tenant {tenant_uuid}.")
        return Tenant(row["id"], row["uuid"], row["name"])

    async def create_key(self, tenant_uuid: str, role: Role, name: str | None = None) -> IssuedKey:
        tenant = await self.get_tenant(tenant_uuid)
        key = keys.generate_key()
        key_id = str(uuid.uuid4())
        label = (name or f"{role.value} key").strip()[:255]
        await self.repository.insert_key(
            {
                "id": key_id,
                "tenant_id": tenant.id,
                "name": label,
                "role": role.value,
                "key_hash": keys.hash_key(key),
                "display_prefix": keys.display_prefix(key),
                "created_at": _now(),
            }
        )
        return IssuedKey(key_id, tenant.uuid, role, label, key)

    async def list_keys(self, tenant_uuid: str) -> list[dict[str, object]]:
        tenant = await self.get_tenant(tenant_uuid)
        return [dict(row) for row in await self.repository.list_keys(tenant.id)]

    async def revoke_key(self, key_id: str, *, tenant_id: int | None = None) -> None:
        """Revoke at once; with ``tenant_id`` (the HTTP API), only a key of that tenant can be found."""
        if not is_generated_id(key_id) or not await self.repository.revoke_key(key_id, _now(), tenant_id=tenant_id):
            raise not_found("No such active API key.")

    async def bootstrap(self) -> IssuedKey | None:
        """On an empty database: the tenant ``default`` and one admin key. Otherwise nothing."""
        if await self.repository.count_tenants() > 0:
            return None
        tenant = await self.create_tenant(DEFAULT_TENANT)
        return await self.create_key(tenant.uuid, Role.ADMIN, "bootstrap admin key")


__all__ = ["ApiKeyResolver", "AppError", "IssuedKey", "Tenant", "TenantService"]
