"""Payload records: reading, inspecting, downloading and deleting, always within the caller's tenant."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from metadock.kit.db import Connection, Database
from metadock.kit.errors import AppError, not_found
from metadock.kit.export import export_rows
from metadock.kit.principal import Principal
from metadock.kit.query import ListQuery, Page
from metadock.kit.read_ahead import ScopedRead
from metadock.payloads.repository import PayloadRepository
from metadock.payloads.schemas import PayloadMeta, PayloadRecord
from metadock.webhooks import outbox

DROPPED_MESSAGES = {
    "too_large": "The payload was dropped: it exceeded the maximum payload size.",
    "expired": "The payload is no longer available: it expired under the retention policy.",
    "deleted": "The payload is no longer available: its bytes were deleted.",
}


def to_record(row: Any) -> PayloadRecord:
    # The repository reads every timestamp of a record as Laravel's text already (``…T…Z``, UTC).
    return PayloadRecord(
        id=row["id"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        flow_version_id=row["flow_version_id"],
        flow_step_id=row["flow_step_id"],
        flow_run_id=row["flow_run_id"],
        payload_store_reference=row["store_key"],
        payload_size=str(row["size"]),
        dropped="1" if row["dropped"] else "0",
        flow_log_id=row["flow_log_id"],
    )


def to_meta(row: Any, store_kind: str) -> PayloadMeta:
    return PayloadMeta(
        id=row["id"],
        content_type=row["content_type"],
        size=row["size"],
        sha256=row["sha256"],
        dropped=bool(row["dropped"]),
        dropped_reason=row["dropped_reason"],
        stored_at=row["stored_at"],
        expires_at=row["expires_at"],
        store=store_kind,
    )


def parse_record_id(raw: str) -> int | None:
    """Route-model binding: anything but a positive integer id simply finds nothing."""
    # isascii: str.isdigit() also accepts "²" (which int() refuses) and "１" (which it reads as 1).
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 18 and int(raw) > 0 else None


def gone(reason: str | None) -> AppError:
    return AppError(410, DROPPED_MESSAGES.get(reason or "", "The payload is no longer available."))


@dataclass(frozen=True, slots=True)
class DownloadTarget:
    record_id: int
    store_key: str
    size: int
    sha256: str | None
    content_type: str
    expires_at: str | None = None  # Laravel's text, as the record reads it

    def missing_reason(self, now: dt.datetime) -> str:
        """Why the store no longer has the bytes, as far as Metadock can tell: past their retention, a lifecycle rule
        (or prune, racing this read) expired them; before it, someone deleted them."""
        if self.expires_at is not None and dt.datetime.fromisoformat(self.expires_at) <= now:
            return "expired"
        return "deleted"


async def _records(batches: AsyncIterator[list[Any]]) -> AsyncIterator[Sequence[PayloadRecord]]:
    async for rows in batches:
        yield [to_record(row) for row in rows]


class PayloadService:
    def __init__(self, connection: Connection, principal: Principal, store_kind: str) -> None:
        self.repository = PayloadRepository(connection, principal.tenant_id)
        self.store_kind = store_kind

    async def record(self, values: dict[str, Any]) -> PayloadRecord:
        return to_record(await self.repository.insert(values))

    async def list(self, query: ListQuery) -> Page[PayloadRecord]:
        rows, total = await self.repository.list_page(query)
        return Page([to_record(row) for row in rows], total)

    async def export(
        self, query: ListQuery, database: Database, batch_size: int
    ) -> AsyncIterator[Sequence[PayloadRecord]]:
        """Every record the query selects, in its order, a batch at a time: the first batch now (in the request's
        transaction), each next one in a short transaction of its own as the client reads (kit/export.py). Covers
        the records up to the tenant's newest when the export begins (README: export consistency)."""
        tenant_id = self.repository.tenant_id
        rows = await export_rows(
            self.repository, lambda connection: PayloadRepository(connection, tenant_id), query, database, batch_size
        )
        return _records(rows)

    @staticmethod
    def read_ahead_of_record(path: Mapping[str, Any]) -> ScopedRead | None:
        """The read that :meth:`get`, :meth:`meta` and :meth:`download_target` begin with, for the routes of one
        record (``kit/read_ahead.py``)."""
        record_id = parse_record_id(path["payload_metadatum"])
        return PayloadRepository.read_of_get(record_id) if record_id is not None else None

    async def _row(self, raw_id: str) -> Any:
        record_id = parse_record_id(raw_id)
        row = await self.repository.get(record_id) if record_id is not None else None
        if row is None:
            raise not_found(f"No query results for payload metadata {raw_id[:40]!r}.")
        return row

    async def get(self, raw_id: str) -> PayloadRecord:
        return to_record(await self._row(raw_id))

    async def meta(self, raw_id: str) -> PayloadMeta:
        row = await self._row(raw_id)
        meta = to_meta(row, self.store_kind)
        meta.tags = await self.repository.tags(row["id"])
        return meta

    async def download_target(self, raw_id: str) -> DownloadTarget:
        row = await self._row(raw_id)
        if row["dropped"]:
            raise gone(row["dropped_reason"])
        return DownloadTarget(
            row["id"], row["store_key"], row["size"], row["sha256"], row["content_type"], row["expires_at"]
        )

    async def delete(self, raw_id: str) -> str | None:
        """Remove the record; returns the store key whose bytes the caller removes once this transaction commits."""
        record_id = parse_record_id(raw_id)
        deleted = await self.repository.delete(record_id) if record_id is not None else None
        if deleted is None:
            raise not_found(f"No query results for payload metadata {raw_id[:40]!r}.")
        await self._deleted_event(deleted)
        return None if deleted["dropped"] else str(deleted["store_key"])

    async def _deleted_event(self, row: Any) -> None:
        """``payload.dropped`` with the reason ``deleted``, queued in the deletion's transaction."""
        now = dt.datetime.now(dt.UTC)
        values = {**row, "dropped": True, "dropped_reason": "deleted", "updated_at": now}
        _, data = outbox.payload_event(values, row["id"])
        await outbox.emit(self.repository.connection, self.repository.tenant_id, outbox.PAYLOAD_DROPPED, data, now)
