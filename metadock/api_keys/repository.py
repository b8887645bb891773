"""All SQL about API keys. A tenant's keys are reached from the tenant-scoped base statement; the two lookups that
cross tenants are named for it: the credential lookup (a key is what tells which tenant is calling) and the
operator's revocation by key id (the CLI)."""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import CTE

from metadock.api_keys.table import api_keys
from metadock.kit.db import Connection
from metadock.kit.read_ahead import CredentialQuery
from metadock.kit.repository import TenantScopedRepository
from metadock.tenants.table import tenants

# Built once: this runs on every request that carries an API key.
_KEY_BY_HASH = (
    select(
        api_keys.c.id,
        api_keys.c.role,
        api_keys.c.key_hash,
        api_keys.c.revoked_at,
        tenants.c.id.label("tenant_id"),
        tenants.c.uuid.label("tenant_uuid"),
        tenants.c.content_search,
    )
    .join(tenants, tenants.c.id == api_keys.c.tenant_id)
    .where(api_keys.c.key_hash == bindparam("key_hash"))
)


def _usable_tenant(credential: CTE) -> ColumnElement[Any]:
    """The tenant a read fetched with the key may be scoped to: none for a revoked key."""
    return select(credential.c.tenant_id).where(credential.c.revoked_at.is_(None)).scalar_subquery()


def credential_query(key_hash: str) -> CredentialQuery:
    """The key with this hash, whichever tenant it belongs to, with its tenant: authentication's lookup."""
    return CredentialQuery(_KEY_BY_HASH, {"key_hash": key_hash}, _usable_tenant)


async def find_credential_in_any_tenant(connection: Connection, key_hash: str) -> Any | None:
    """:func:`credential_query`, run alone."""
    return await connection.fetch_one(_KEY_BY_HASH, {"key_hash": key_hash})


async def revoke_in_any_tenant(connection: Connection, key_id: str, revoked_at: dt.datetime) -> bool:
    """The operator's revocation by key id alone (``metadock keys revoke``)."""
    statement = update(api_keys).where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
    return bool(await connection.write(statement.values(revoked_at=revoked_at)))


class ApiKeyRepository(TenantScopedRepository):
    table: ClassVar = api_keys
    columns: ClassVar = {"id": api_keys.c.id, "created_at": api_keys.c.created_at}

    async def insert(self, values: dict[str, Any]) -> None:
        await self.connection.write(insert(api_keys).values(tenant_id=self.tenant_id, **values))

    async def list_all(self) -> list[Any]:
        statement = self._select(
            api_keys.c.id,
            api_keys.c.name,
            api_keys.c.role,
            api_keys.c.display_prefix,
            api_keys.c.created_at,
            api_keys.c.revoked_at,
        ).order_by(api_keys.c.created_at, api_keys.c.id)
        return await self.connection.fetch_all(statement)

    async def revoke(self, key_id: str, revoked_at: dt.datetime) -> bool:
        statement = self._update().where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
        return bool(await self.connection.write(statement.values(revoked_at=revoked_at)))
