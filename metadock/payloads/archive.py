"""A run's payloads as one ZIP, streamed: never the archive in memory or on disk, never a transaction while it streams.

The archive holds ``step-<flow_step_id>/payload-<id>.<ext>`` for every stored payload of the run, then
``manifest.json`` listing every record (dropped ones too, with ``file: null``) and its ``/meta`` fields. Records are
read in id order, a page at a time, each page in its own short transaction: bytes then stream from the store with no
database connection held. The archive covers the run's records up to the newest one when the request began, so a
run still capturing gives a consistent archive (its later records are in the next download).

Compression: deflate, per member, through ``stream_zip.ZIP_AUTO`` (ZIP32 while sizes and offsets fit, ZIP64 past
4 GiB). Already-compressed types are deflated at level 0 (stored blocks: a copy, no CPU spent squeezing what does not
squeeze). A truly uncompressed ("stored") member would need its CRC-32 before its bytes, which Metadock does not keep,
so it would mean buffering the payload; deflate needs no such thing.

``async_stream_zip`` deflates in the default thread pool, one output chunk per job: a slow client holds no thread
between chunks, and the coroutines it waits on (page reads, store reads) never need that pool themselves.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any, Final

import msgspec
from stream_zip import ZIP_64, ZIP_AUTO, AsyncMemberFile, async_stream_zip

from metadock.kit.db import Connection, Database
from metadock.kit.errors import not_found
from metadock.payloads.repository import PayloadRepository
from metadock.payloads.schemas import PayloadMeta, PayloadRecord
from metadock.payloads.service import parse_record_id, to_meta, to_record
from metadock.payloads.store import ObjectNotFound, PayloadStore
from metadock.payloads.tag_repository import TagRepository

RECORDS_PER_PAGE: Final = 500
MANIFEST_NAME: Final = "manifest.json"
_FILE_MODE: Final = 0o644
_TEXT_LEVEL: Final = 6
_ALREADY_COMPRESSED_LEVEL: Final = 0

# Member names come from our ids and this table only: nothing the client sent picks a path in the archive.
EXTENSIONS: Final = {
    "application/json": "json",
    "text/json": "json",
    "application/xml": "xml",
    "text/xml": "xml",
    "text/csv": "csv",
    "text/plain": "txt",
    "text/html": "html",
    "application/yaml": "yaml",
    "application/x-yaml": "yaml",
    "text/yaml": "yaml",
    "application/edi-x12": "edi",
    "application/edifact": "edi",
    "application/pdf": "pdf",
    "application/zip": "zip",
    "application/gzip": "gz",
    "application/x-gzip": "gz",
    "image/png": "png",
    "image/jpeg": "jpg",
}
_COMPRESSED_EXTENSIONS: Final = frozenset({"pdf", "zip", "gz", "png", "jpg"})
_COMPRESSED_FAMILIES: Final = ("image/", "audio/", "video/")


def _media_type(content_type: str) -> str:
    return content_type.split(";")[0].strip().lower()


def extension_of(content_type: str) -> str:
    media_type = _media_type(content_type)
    known = EXTENSIONS.get(media_type)
    if known is not None:
        return known
    # Structured-syntax suffixes (RFC 6839): application/vnd.api+json is JSON, application/soap+xml is XML.
    for suffix in ("json", "xml"):
        if media_type.endswith(f"+{suffix}"):
            return suffix
    return "bin"


def member_name(row: Any) -> str:
    return f"step-{int(row['flow_step_id'])}/payload-{int(row['id'])}.{extension_of(row['content_type'])}"


def _deflate_level(content_type: str) -> int:
    already = extension_of(content_type) in _COMPRESSED_EXTENSIONS or _media_type(content_type).startswith(
        _COMPRESSED_FAMILIES
    )
    return _ALREADY_COMPRESSED_LEVEL if already else _TEXT_LEVEL


def _captured_at(row: Any) -> dt.datetime:
    return dt.datetime.fromisoformat(str(row["created_at"]))


class ManifestEntry(msgspec.Struct):
    # The member holding the bytes; null when they are not in the archive: dropped (``meta.dropped_reason`` says
    # why) or, for ``missing_from_store``, a live record whose bytes the store no longer had.
    file: str | None
    missing_from_store: bool
    record: PayloadRecord
    meta: PayloadMeta


async def _prefetched(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    yield first
    async for chunk in rest:
        yield chunk


class RunArchive:
    """One run's archive for one tenant; :meth:`chunks` is the ZIP, produced as the client reads it."""

    def __init__(
        self, database: Database, store: PayloadStore, tenant_id: int, run_id: int, through_id: int, store_kind: str
    ) -> None:
        self.database = database
        self.store = store
        self.tenant_id = tenant_id
        self.run_id = run_id
        self.through_id = through_id
        self.store_kind = store_kind
        self._missing: set[int] = set()  # live records whose bytes were gone: as many as there are, usually none

    @classmethod
    async def open(
        cls, connection: Connection, database: Database, store: PayloadStore, tenant_id: int, raw_run_id: str
    ) -> RunArchive:
        """The archive of the run, or 404 (Laravel's ``message``) for a run with no record in the caller's tenant."""
        run_id = parse_record_id(raw_run_id)
        through_id = await PayloadRepository(connection, tenant_id).run_last_id(run_id) if run_id else None
        if run_id is None or through_id is None:
            raise not_found(f"No payloads for flow run {raw_run_id[:40]!r}.")
        return cls(database, store, tenant_id, run_id, int(through_id), store.kind)

    def file_name(self) -> str:
        return f"flow-run-{self.run_id}-payloads.zip"

    def chunks(self) -> AsyncIterator[bytes]:
        return aiter(async_stream_zip(self._members()))

    async def _pages(self) -> AsyncIterator[list[Any]]:
        """The run's records a page at a time; each page's transaction ends before the caller sees the page."""
        after_id = 0
        while True:
            async with self.database.transaction() as connection:
                repository = PayloadRepository(connection, self.tenant_id)
                rows = await repository.run_page(
                    self.run_id, after_id=after_id, through_id=self.through_id, limit=RECORDS_PER_PAGE
                )
            if not rows:
                return
            yield rows
            after_id = int(rows[-1]["id"])

    async def _members(self) -> AsyncIterator[AsyncMemberFile]:
        async for rows in self._pages():
            for row in rows:
                if row["dropped"]:
                    continue
                bytes_ = await self._open(row)
                if bytes_ is None:
                    continue
                method = ZIP_AUTO(int(row["size"]), level=_deflate_level(row["content_type"]))
                yield member_name(row), _captured_at(row), _FILE_MODE, method, bytes_
        yield MANIFEST_NAME, dt.datetime.now(dt.UTC), _FILE_MODE, ZIP_64, self._manifest()

    async def _open(self, row: Any) -> AsyncIterator[bytes] | None:
        """The payload's bytes, first chunk already read: a missing object is skipped (and noted in the manifest)
        before its member begins, never a member cut short."""
        try:
            chunks = await self.store.open(row["store_key"])
            first = await anext(chunks, b"")
        except ObjectNotFound:
            self._missing.add(int(row["id"]))
            return None
        return _prefetched(first, chunks)

    async def _manifest(self) -> AsyncIterator[bytes]:
        """``{"flow_run_id": …, "records": [...]}``, a page of entries at a time (a second walk over the records)."""
        yield b'{"flow_run_id":%d,"records":[' % self.run_id
        separator = b""
        async for rows in self._pages():
            async with self.database.transaction() as connection:  # ends before the page is written out
                tags = await TagRepository(connection, self.tenant_id).of_many([int(row["id"]) for row in rows])
            entries = []
            for row in rows:
                missing = int(row["id"]) in self._missing
                stored = not row["dropped"] and not missing
                entry = ManifestEntry(
                    file=member_name(row) if stored else None,
                    missing_from_store=missing,
                    record=to_record(row),
                    meta=to_meta(row, self.store_kind),
                )
                entry.meta.tags = tags.get(int(row["id"]), {})
                entries.append(msgspec.json.encode(entry))
            yield separator + b",".join(entries)
            separator = b","
        yield b"]}"
