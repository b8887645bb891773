"""Request and response shapes of ``/metadatas``, field for field as DigitalState names them."""

from __future__ import annotations

from typing import Any

import msgspec
from msgspec import UNSET, UnsetType


class MetadataCreate(msgspec.Struct, rename="camel", kw_only=True):
    """POST body. Read-only fields a client echoes back (``id``, ``createdAt``, ``tenant``...) are ignored."""

    owner: str
    title: dict[str, str]
    slug: str
    type: str
    version: int
    uuid: str | UnsetType = UNSET
    owner_uuid: str | UnsetType | None = UNSET
    data: Any = UNSET


class MetadataUpdate(msgspec.Struct, rename="camel", kw_only=True):
    """PUT body: a partial update (the seed's example sends only ``data`` and ``version``); ``version`` is required."""

    version: int
    # The seed lists it in the PUT body; a resource's uuid never changes, so it is read and ignored.
    uuid: str | UnsetType = UNSET
    owner: str | UnsetType = UNSET
    title: dict[str, str] | UnsetType = UNSET
    slug: str | UnsetType = UNSET
    type: str | UnsetType = UNSET
    owner_uuid: str | UnsetType | None = UNSET
    data: Any = UNSET


class MetadataOut(msgspec.Struct, rename="camel"):
    id: int
    uuid: str
    created_at: str  # ISO 8601 with offset, second precision: 2018-07-18T19:20:17+00:00
    updated_at: str
    owner: str
    owner_uuid: str | None
    title: dict[str, str]
    slug: str
    type: str
    data: Any
    version: int
    tenant: str
