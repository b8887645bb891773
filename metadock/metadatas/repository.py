"""All SQL about metadata resources. Every statement starts from the tenant-scoped base."""

from __future__ import annotations

import enum
from typing import Any, ClassVar

from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError

from metadock.kit.query import ListQuery
from metadock.kit.repository import TenantScopedRepository
from metadock.metadatas.table import metadatas

_c = metadatas.c


class Duplicate(enum.Enum):
    UUID = "uuid"
    SLUG = "slug"


class DuplicateValue(Exception):
    def __init__(self, which: Duplicate) -> None:
        super().__init__(which.value)
        self.which = which


def _duplicate_of(error: IntegrityError) -> Duplicate:
    # Both drivers name the violated unique constraint or its columns in the message.
    return Duplicate.SLUG if "slug" in str(error.orig).lower() else Duplicate.UUID


class MetadataRepository(TenantScopedRepository):
    table = metadatas
    columns: ClassVar[dict[str, Any]] = {
        "id": _c.id,
        "uuid": _c.uuid,
        "owner": _c.owner,
        "owner_uuid": _c.owner_uuid,
        "title": _c.title_search,
        "slug": _c.slug,
        "type": _c.type,
        "created_at": _c.created_at,
        "updated_at": _c.updated_at,
    }

    async def list_page(self, query: ListQuery) -> tuple[list[Any], int]:
        return await self._page(query)

    async def get(self, uuid: str) -> Any | None:
        return await self._one_by("uuid", uuid)

    async def insert(self, values: dict[str, Any]) -> Any:
        statement = insert(metadatas).values(tenant_id=self.tenant_id, **values).returning(*metadatas.c)
        try:
            return await self.connection.fetch_one(statement)
        except IntegrityError as error:
            raise DuplicateValue(_duplicate_of(error)) from None

    async def update_if_version(self, uuid: str, expected_version: int, values: dict[str, Any]) -> Any | None:
        """One statement: the compare-and-set that makes optimistic locking safe across processes."""
        statement = (
            self._update()
            .where(_c.uuid == uuid, _c.version == expected_version)
            .values(version=_c.version + 1, **values)
            .returning(*metadatas.c)
        )
        try:
            return await self.connection.fetch_one(statement)
        except IntegrityError as error:
            raise DuplicateValue(_duplicate_of(error)) from None

    async def current_version(self, uuid: str) -> int | None:
        version = await self.connection.scalar(self._select(_c.version).where(_c.uuid == uuid))
        return None if version is None else int(version)

    async def delete(self, uuid: str) -> bool:
        return await self.connection.fetch_one(self._delete().where(_c.uuid == uuid).returning(_c.id)) is not None
