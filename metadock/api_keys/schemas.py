"""Request and response shapes of ``/api/v1/api-keys`` (Laravel's conventions: ``{"data": ...}``)."""

from __future__ import annotations

import msgspec
from msgspec import UNSET, UnsetType

from metadock.kit.principal import Role


class ApiKeyCreate(msgspec.Struct, kw_only=True):
    role: Role
    name: str | None = None


class ApiKeyOut(msgspec.Struct, kw_only=True):
    id: str
    name: str
    role: str
    prefix: str
    created_at: str
    revoked_at: str | None
    key: str | UnsetType = UNSET  # only in the answer to its creation


class ApiKeyEnvelope(msgspec.Struct):
    data: ApiKeyOut


class ApiKeyList(msgspec.Struct):
    data: list[ApiKeyOut]
