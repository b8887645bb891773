"""Response shapes of ``/api/v1/payload-metadata``, typed as the Patchworks contract types them."""

from __future__ import annotations

import msgspec

from metadock.dialects.laravel.schemas import PaginationLinks, PaginationMeta


class PayloadRecord(msgspec.Struct):
    """A record as Laravel serialises the model: ``payload_size`` and ``dropped`` are strings (uncast columns)."""

    id: int
    created_at: str  # Laravel's format: 2024-05-01T12:00:00.000000Z
    updated_at: str
    flow_version_id: int | None
    flow_step_id: int
    flow_run_id: int
    payload_store_reference: str
    payload_size: str
    dropped: str  # "0" or "1"
    flow_log_id: int | None


class PayloadRecordEnvelope(msgspec.Struct):
    data: PayloadRecord


class PayloadMeta(msgspec.Struct):
    id: int
    content_type: str
    size: int
    sha256: str | None
    dropped: bool
    dropped_reason: str | None  # null, "too_large", "expired" or "deleted"
    stored_at: str | None
    expires_at: str | None
    store: str  # "file" or "s3"
    tags: dict[str, str] = msgspec.field(default_factory=dict)  # name -> value (payloads/tags.py)


class PayloadMetaEnvelope(msgspec.Struct):
    data: PayloadMeta


class PayloadRecordList(msgspec.Struct):
    data: list[PayloadRecord]
    links: PaginationLinks
    meta: PaginationMeta
