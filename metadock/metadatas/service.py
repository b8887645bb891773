"""Metadata resources: validation, optimistic locking, and the mapping between stored rows and the API's shape."""

from __future__ import annotations

import datetime as dt
import uuid as uuidlib
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import msgspec
from msgspec import UNSET

from metadock.kit.db import Connection, Database
from metadock.kit.errors import AppError, Violation, conflict, not_found, validation_failed
from metadock.kit.export import export_rows
from metadock.kit.principal import Principal
from metadock.kit.query import ListQuery, Page
from metadock.kit.read_ahead import ScopedRead
from metadock.metadatas.repository import Duplicate, DuplicateValue, MetadataRepository
from metadock.metadatas.schemas import MetadataCreate, MetadataOut, MetadataUpdate
from metadock.webhooks import outbox

MAX_TEXT = 255
MAX_LOCALE = 35  # BCP 47 tags fit comfortably
MAX_VERSION = 2**31 - 1  # versions start at 1 in a 32-bit column
ALREADY_USED = "This value is already used."
NO_NUL = "This value should not contain NUL characters."


def _now() -> dt.datetime:
    # DigitalState stores second precision; so do we, so that a timestamp a client read filters back exactly.
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def _title_search(title: dict[str, str]) -> str:
    return "\n".join(title.values()).casefold()


def _contains_nul(value: Any) -> bool:
    """Whether a NUL character hides anywhere in a JSON value: PostgreSQL can store none in text or jsonb."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


def _check_text(name: str, value: str, violations: list[Violation]) -> None:
    if "\x00" in value:
        violations.append(Violation(name, NO_NUL))
    elif not value.strip():
        violations.append(Violation(name, "This value should not be blank."))
    elif len(value) > MAX_TEXT:
        violations.append(Violation(name, f"This value is too long. It should have {MAX_TEXT} characters or less."))


def _check_title(title: dict[str, str], violations: list[Violation]) -> None:
    if not title:
        violations.append(Violation("title", "This value should not be blank."))
    for locale, text in title.items():
        if "\x00" in locale or "\x00" in text:
            violations.append(Violation("title", NO_NUL))
        elif not locale or len(locale) > MAX_LOCALE:
            violations.append(Violation(f"title[{locale}]", "This locale is not valid."))
        elif len(text) > MAX_TEXT:
            violations.append(
                Violation(f"title[{locale}]", f"This value is too long. It should have {MAX_TEXT} characters or less.")
            )


def _check_uuid(name: str, value: str, violations: list[Violation]) -> str:
    try:
        return str(uuidlib.UUID(value))
    except ValueError:
        violations.append(Violation(name, "This value is not a valid UUID."))
        return value


def _duplicate_error(error: DuplicateValue) -> AppError:
    return validation_failed([Violation("slug" if error.which is Duplicate.SLUG else "uuid", ALREADY_USED)])


def canonical_uuid(value: str) -> str | None:
    try:
        return str(uuidlib.UUID(value))
    except ValueError:
        return None


class MetadataService:
    def __init__(self, connection: Connection, principal: Principal) -> None:
        self.principal = principal
        self.repository = MetadataRepository(connection, principal.tenant_id)

    def _out(self, row: Any) -> MetadataOut:
        # The repository reads the timestamps as the API prints them already (ISO 8601, seconds, ``+00:00``).
        return MetadataOut(
            id=row["id"],
            uuid=row["uuid"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            owner=row["owner"],
            owner_uuid=row["owner_uuid"],
            title=row["title"],
            slug=row["slug"],
            type=row["type"],
            data=row["data"],
            version=row["version"],
            tenant=self.principal.tenant_uuid,
        )

    async def list(self, query: ListQuery) -> Page[MetadataOut]:
        rows, total = await self.repository.list_page(query)
        return Page([self._out(row) for row in rows], total)

    async def export(
        self, query: ListQuery, database: Database, batch_size: int
    ) -> AsyncIterator[Sequence[MetadataOut]]:
        """Every resource the query selects, in its order, a batch at a time: the first batch now (in the request's
        transaction), each next one in a short transaction of its own as the client reads (kit/export.py)."""
        tenant_id = self.repository.tenant_id
        batches = await export_rows(
            self.repository, lambda connection: MetadataRepository(connection, tenant_id), query, database, batch_size
        )

        async def resources() -> AsyncIterator[Sequence[MetadataOut]]:
            async for rows in batches:
                yield [self._out(row) for row in rows]

        return resources()

    @staticmethod
    def read_ahead_of_get(path: Mapping[str, Any]) -> ScopedRead | None:
        """The read :meth:`get` begins with, for ``GET /metadatas/{uuid}`` (``kit/read_ahead.py``)."""
        key = canonical_uuid(path["uuid"])
        return MetadataRepository.read_of_get(key) if key else None

    async def get(self, uuid: str) -> MetadataOut:
        key = canonical_uuid(uuid)
        row = await self.repository.get(key) if key else None
        if row is None:
            raise not_found()
        return self._out(row)

    async def create(self, body: MetadataCreate) -> MetadataOut:
        violations: list[Violation] = []
        for name, value in (("owner", body.owner), ("slug", body.slug), ("type", body.type)):
            _check_text(name, value, violations)
        _check_title(body.title, violations)
        resource_uuid = str(uuidlib.uuid4()) if body.uuid is UNSET else _check_uuid("uuid", body.uuid, violations)
        owner_uuid = (
            None if body.owner_uuid in (UNSET, None) else _check_uuid("ownerUuid", str(body.owner_uuid), violations)
        )
        if body.data is not UNSET and _contains_nul(body.data):
            violations.append(Violation("data", NO_NUL))
        if violations:
            raise validation_failed(violations)
        now = _now()
        values = {
            "uuid": resource_uuid,
            "owner": body.owner,
            "owner_uuid": owner_uuid,
            "title": body.title,
            "title_search": _title_search(body.title),
            "slug": body.slug,
            "type": body.type,
            "data": {} if body.data is UNSET else body.data,
            # A new resource starts at version 1 whatever the body says, as Doctrine's @Version does.
            "version": 1,
            "created_at": now,
            "updated_at": now,
        }
        try:
            created = self._out(await self.repository.insert(values))
        except DuplicateValue as error:
            raise _duplicate_error(error) from None
        await self._event(outbox.METADATA_CREATED, created)
        return created

    async def update(self, uuid: str, body: MetadataUpdate) -> MetadataOut:
        key = canonical_uuid(uuid)
        if key is None:
            raise not_found()
        violations: list[Violation] = []
        values: dict[str, Any] = {}
        for name, value in (("owner", body.owner), ("slug", body.slug), ("type", body.type)):
            if value is not UNSET:
                _check_text(name, value, violations)
                values[name] = value
        if body.title is not UNSET:
            _check_title(body.title, violations)
            values["title"] = body.title
            values["title_search"] = _title_search(body.title)
        if body.owner_uuid is not UNSET:
            values["owner_uuid"] = (
                None if body.owner_uuid is None else _check_uuid("ownerUuid", body.owner_uuid, violations)
            )
        if body.data is not UNSET:
            if _contains_nul(body.data):
                violations.append(Violation("data", NO_NUL))
            values["data"] = body.data
        if violations:
            # The item first, as API Platform: a missing or another tenant's item is not found, whatever the body.
            if await self.repository.current_version(key) is None:
                raise not_found()
            raise validation_failed(violations)
        values["updated_at"] = _now()
        try:
            # A version no stored row can have is simply stale (PostgreSQL would refuse to even compare it).
            row = (
                await self.repository.update_if_version(key, body.version, values)
                if 1 <= body.version <= MAX_VERSION
                else None
            )
        except DuplicateValue as error:
            raise _duplicate_error(error) from None
        if row is not None:
            updated = self._out(row)
            await self._event(outbox.METADATA_UPDATED, updated)
            return updated
        current = await self.repository.current_version(key)
        if current is None:
            raise not_found()
        raise conflict(f"The version {body.version} is stale; the current version is {current}.")

    async def delete(self, uuid: str) -> None:
        key = canonical_uuid(uuid)
        row = await self.repository.delete(key) if key is not None else None
        if row is None:
            raise not_found()
        await self._event(outbox.METADATA_DELETED, self._out(row))

    async def _event(self, event_type: str, resource: MetadataOut) -> None:
        """Queued in the change's transaction (webhooks/outbox.py); ``data`` is the resource as the API shows it."""
        data = msgspec.to_builtins(resource)
        now = dt.datetime.now(dt.UTC)  # the event's own time, to the microsecond
        await outbox.emit(self.repository.connection, self.principal.tenant_id, event_type, data, now)
