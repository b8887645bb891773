"""A tenant's API keys (issue, list, revoke) and the resolver that turns a presented key into a principal."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from metadock.api_keys import keys
from metadock.api_keys.repository import ApiKeyRepository, credential_query, revoke_in_any_tenant
from metadock.kit.db import Connection
from metadock.kit.errors import not_found
from metadock.kit.ids import is_generated_id
from metadock.kit.principal import CredentialLookup, Principal, Role


class ApiKeyResolver:
    def recognizes(self, token: str) -> bool:
        return keys.looks_like_key(token)

    def lookup(self, token: str) -> CredentialLookup:
        def principal(row: Mapping[str, Any] | None) -> Principal | None:
            # The lookup is by hash, so timing reveals nothing about the key; compare_digest double-checks the match.
            if row is None or row["revoked_at"] is not None or not keys.hashes_match(row["key_hash"], token):
                return None
            return Principal(
                row["tenant_id"],
                row["tenant_uuid"],
                Role(row["role"]),
                row["id"],
                "api_key",
                content_search=bool(row["content_search"]),
            )

        return CredentialLookup(credential_query(keys.hash_key(token)), principal)

    async def resolve(self, token: str, connection: Connection) -> Principal | None:
        lookup = self.lookup(token)
        return lookup.principal(await connection.fetch_one(lookup.query.statement, lookup.query.parameters))


@dataclass(frozen=True, slots=True)
class IssuedKey:
    id: str
    role: Role
    name: str
    key: str  # shown once, never stored


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class ApiKeyService:
    """The API keys of one tenant."""

    def __init__(self, connection: Connection, tenant_id: int) -> None:
        self.repository = ApiKeyRepository(connection, tenant_id)

    async def create(self, role: Role, name: str | None = None) -> IssuedKey:
        key = keys.generate_key()
        key_id = str(uuid.uuid4())
        label = (name or f"{role.value} key").strip()[:255]
        await self.repository.insert(
            {
                "id": key_id,
                "name": label,
                "role": role.value,
                "key_hash": keys.hash_key(key),
                "display_prefix": keys.display_prefix(key),
                "created_at": _now(),
            }
        )
        return IssuedKey(key_id, role, label, key)

    async def list(self) -> list[dict[str, Any]]:
        return [dict(row) for row in await self.repository.list_all()]

    async def revoke(self, key_id: str) -> None:
        """Revoke at once; only a key of this tenant can be found."""
        if not is_generated_id(key_id) or not await self.repository.revoke(key_id, _now()):
            raise not_found("No such active API key.")


async def revoke_key_in_any_tenant(connection: Connection, key_id: str) -> None:
    """The operator's revocation (``metadock keys revoke``), by key id alone."""
    if not is_generated_id(key_id) or not await revoke_in_any_tenant(connection, key_id, _now()):
        raise not_found("No such active API key.")
