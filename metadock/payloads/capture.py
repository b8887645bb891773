"""Capture: stream a payload's bytes into the store, then describe them in a record.

Bytes are written first and the record second, so a crash at any point leaves at worst bytes without a record
(which ``metadock payloads fsck --repair`` removes), never a record without bytes; if the record cannot be
committed, :class:`CaptureService` removes the bytes (unless the connection was lost during the COMMIT itself: the
record may exist then, so its bytes stay). The HTTP handler and any other way in (a bulk import, a
console upload) call the service.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

from metadock.dialects.laravel.query import parse_bounded_int
from metadock.kit.db import CommitOutcomeUnknown, Connection, commit_refused
from metadock.kit.errors import Violation, validation_failed
from metadock.kit.principal import Principal
from metadock.payloads.capture_tags import CaptureTags
from metadock.payloads.metrics import CaptureMetrics
from metadock.payloads.schemas import PayloadRecord
from metadock.payloads.search import CaptureSearch
from metadock.payloads.service import PayloadService
from metadock.payloads.store import ObjectTooLarge, PayloadStore
from metadock.payloads.tags import parse_tag_params

logger = logging.getLogger("metadock.payloads")

DEFAULT_CONTENT_TYPE = "application/octet-stream"
_TOKEN = r"[A-Za-z0-9!#$%&'*+.^_`|~-]+"  # noqa: S105 - RFC 9110's "token", not a secret
_MEDIA_TYPE = re.compile(rf'^{_TOKEN}/{_TOKEN}(\s*;\s*{_TOKEN}=({_TOKEN}|"[^"\\\x00-\x1f\x7f]*"))*$')
MAX_ID = 2**63 - 1


@dataclass(frozen=True, slots=True)
class CaptureParams:
    flow_run_id: int
    flow_step_id: int
    flow_version_id: int | None
    flow_log_id: int | None
    content_type: str
    tags: dict[str, str] = field(default_factory=dict)  # tag[<name>]=<value> (payloads/tags.py)


def parse_capture_params(params: Iterable[tuple[str, str]], content_type: str | None) -> CaptureParams:
    """Laravel-style validation of the capture request: 422 with every problem at once."""
    items = list(params)
    raw = dict(items)
    violations: list[Violation] = []
    values: dict[str, int | None] = {}
    for name in ("flow_run_id", "flow_step_id", "flow_version_id", "flow_log_id"):
        given = raw.get(name)
        required = name in ("flow_run_id", "flow_step_id")
        # An optional id is absent or an integer, as the document says: ``flow_log_id=`` is refused like any other
        # non-integer (a required one left empty is missing, as Laravel's required rule reads it).
        if given is None or (given == "" and required):
            if required:
                violations.append(Violation(name, f"The {name.replace('_', ' ')} field is required."))
            values[name] = None
            continue
        values[name] = parse_bounded_int(name, given, minimum=1, maximum=MAX_ID, violations=violations)
    media_type = (content_type or DEFAULT_CONTENT_TYPE).strip()
    if len(media_type) > 255 or not _MEDIA_TYPE.match(media_type):
        violations.append(Violation("content_type", "The Content-Type header must be a valid media type."))
    tags = parse_tag_params(items, violations)
    if violations:
        raise validation_failed(violations, status=422)
    run_id, step_id = values["flow_run_id"], values["flow_step_id"]
    assert run_id is not None
    assert step_id is not None
    return CaptureParams(run_id, step_id, values["flow_version_id"], values["flow_log_id"], media_type, tags)


@dataclass(frozen=True, slots=True)
class ReceivedPayload:
    params: CaptureParams
    key: str
    size: int
    sha256: str | None
    dropped_reason: str | None  # "too_large" when the bytes were not kept
    head: list[bytes] | None = None  # the whole payload's chunks, when it fit the kept head (tags', search's)

    def head_within(self, limit: int) -> list[bytes] | None:
        """The whole payload, if it is at most ``limit`` bytes (one head serves consumers of different limits)."""
        return self.head if self.head is not None and limit > 0 and self.size <= limit else None

    @property
    def stored(self) -> bool:
        return self.dropped_reason is None


async def _drain(chunks: AsyncIterator[bytes], already: int) -> int:
    """Read (and discard) the rest of a chunked body found too large, so the request completes and its size is known."""
    size = already
    async for chunk in chunks:
        size += len(chunk)
    return size


class _Counted:
    """Counts what the store consumed, so a too-large body can be drained from where the store stopped; keeps the
    chunks of a body of at most ``keep`` bytes: one bounded head for every reader of the whole payload (tag rules,
    payloads/tags.py; content search, payloads/search.py), the largest of their limits."""

    def __init__(self, chunks: AsyncIterable[bytes], keep: int = 0) -> None:
        self.iterator = aiter(chunks)
        self.size = 0
        self.keep = keep
        self.head: list[bytes] = []

    def __aiter__(self) -> _Counted:
        return self

    async def __anext__(self) -> bytes:
        chunk = await anext(self.iterator)
        self.size += len(chunk)
        if self.size <= self.keep:
            self.head.append(chunk)
        return chunk


class Transactions(Protocol):
    """Where the record's transaction comes from: the request's unit of work, or a database (a command)."""

    def transaction(self) -> AbstractAsyncContextManager[Connection]: ...


class CaptureService:
    def __init__(
        self,
        store: PayloadStore,
        metrics: CaptureMetrics,
        *,
        max_bytes: int,
        retention_days: int,
        tag_extract_max_bytes: int = 0,
        content_search_max_bytes: int = 0,  # 0: content search off (the deployment's switch; the tenant's: principal)
    ) -> None:
        self.store = store
        self.metrics = metrics
        self.max_bytes = max_bytes
        self.retention_days = retention_days
        self.tag_extract_max_bytes = tag_extract_max_bytes
        self.content_search_max_bytes = content_search_max_bytes

    async def capture(
        self,
        chunks: AsyncIterable[bytes],
        declared_length: int | None,
        params: CaptureParams,
        principal: Principal,
        transactions: Transactions,
    ) -> PayloadRecord:
        """Bytes first; then the record, in a transaction begun only now, so that no database connection is held
        while a large body streams in. Store failures propagate as the store raised them (503, 507)."""
        tags = CaptureTags(params.tags, principal.tenant_id, self.tag_extract_max_bytes)
        # The tenant's switch came with its credential (kit/principal.py): off, nothing is kept nor written.
        search_bytes = self.content_search_max_bytes if principal.content_search else 0
        search = CaptureSearch(principal.tenant_id, params.content_type, search_bytes)
        keep = max(tags.head_limit, search.head_limit)
        received = await self._receive(chunks, declared_length, params, principal.tenant_id, keep)
        committing = False
        try:
            async with transactions.transaction() as connection:
                values = self._record_values(received, dt.datetime.now(dt.UTC))
                record = await PayloadService(connection, principal, self.store.kind).record(values)
                await tags.write(connection, record.id, params.content_type, received.head_within(tags.head_limit))
                # In this transaction (a savepoint): the entry commits with its record or not at all, and an error
                # indexing it is logged, never the capture's (payloads/search.py).
                await search.write(connection, record.id, received.head_within(search.head_limit))
                committing = True
        except CommitOutcomeUnknown:
            # The record may have committed (its answer lost with the connection): its bytes stay. At worst they
            # are bytes without a record, which fsck removes; never a record without its bytes.
            logger.warning("capture: commit outcome unknown, bytes kept under %s", received.key)
            raise
        except BaseException as error:
            # Surely no record: the transaction failed before its COMMIT, or the database refused the COMMIT. Any
            # other failure as it ended (a cancellation, the connection failing as it was given back) may come
            # after the commit was made, so the bytes stay, as for an unknown outcome.
            if received.stored and (not committing or commit_refused(error)):
                await self.store.delete(received.key)
            elif received.stored:
                logger.warning("capture: failed as its commit ended (%r), bytes kept under %s", error, received.key)
            raise
        self.metrics.observe(stored=received.stored, size=received.size)
        return record

    async def _receive(
        self,
        chunks: AsyncIterable[bytes],
        declared_length: int | None,
        params: CaptureParams,
        tenant_id: int,
        keep: int = 0,
    ) -> ReceivedPayload:
        # The key carries the day the capture began (UTC), so an S3 lifecycle rule and an operator can find it.
        key = self.store.new_key(tenant_id, dt.datetime.now(dt.UTC))
        counted = _Counted(chunks, keep)
        if declared_length is not None and declared_length > self.max_bytes:
            # Known too large from its Content-Length: not one byte is read (the server discards the body).
            return ReceivedPayload(params, key, declared_length, None, "too_large")
        try:
            result = await self.store.put_stream(key, counted, max_bytes=self.max_bytes)
        except ObjectTooLarge:
            return ReceivedPayload(params, key, await _drain(counted.iterator, counted.size), None, "too_large")
        head = counted.head if keep and result.size <= keep else None
        return ReceivedPayload(params, result.key, result.size, result.sha256, None, head)

    def _record_values(self, received: ReceivedPayload, now: dt.datetime) -> dict[str, Any]:
        params = received.params
        expires_at = now + dt.timedelta(days=self.retention_days) if self.retention_days and received.stored else None
        return {
            "flow_run_id": params.flow_run_id,
            "flow_step_id": params.flow_step_id,
            "flow_version_id": params.flow_version_id,
            "flow_log_id": params.flow_log_id,
            "store_key": received.key,
            "size": received.size,
            "sha256": received.sha256,
            "content_type": params.content_type,
            "dropped": not received.stored,
            "dropped_reason": received.dropped_reason,
            "created_at": now,
            "updated_at": now,
            "stored_at": now if received.stored else None,
            "expires_at": expires_at,
        }
