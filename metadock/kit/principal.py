"""Who is calling: the principal every credential kind resolves to, the role ladder, and what resolves one."""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from metadock.kit.db import Connection
from metadock.kit.read_ahead import CredentialQuery


class Role(enum.StrEnum):
    READER = "reader"
    WRITER = "writer"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _RANKS[self]

    def allows(self, required: Role) -> bool:
        return self.rank >= required.rank


_RANKS = {Role.READER: 0, Role.WRITER: 1, Role.ADMIN: 2}


@dataclass(frozen=True, slots=True)
class Principal:
    tenant_id: int
    tenant_uuid: str
    role: Role
    credential_id: str  # the API key's id, or the user's id for a JWT
    credential_kind: str = "api_key"  # "api_key" or "jwt"
    token_id: str | None = None  # a JWT's jti, so that logout can revoke it
    token_expires_at: dt.datetime | None = None
    # The tenant's content search switch (tenants.content_search), read with the credential: no round trip of its own.
    content_search: bool = True


@dataclass(frozen=True, slots=True)
class CredentialLookup:
    """A credential found by one statement (``query``, which a read can be fused with: ``kit/read_ahead.py``), and
    ``principal``: whom its row (None: no row) stands for, or None for a credential that is not accepted."""

    query: CredentialQuery
    principal: Callable[[Mapping[str, Any] | None], Principal | None]


class CredentialResolver(Protocol):
    """One kind of credential (an API key, a login JWT): the first resolver that recognises a token decides."""

    def recognizes(self, token: str) -> bool: ...

    async def resolve(self, token: str, connection: Connection) -> Principal | None: ...

    def lookup(self, token: str) -> CredentialLookup | None:
        """The token's lookup as one statement, when its kind is decided by one row (None: resolve it instead)."""
        ...
