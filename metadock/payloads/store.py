"""The payload object store: one small async API over a local directory or an S3 bucket, both through obstore.

Keys are made here (:meth:`PayloadStore.new_key`), never taken from a client, and every method refuses any other
shape, so nothing a client sends can choose a path.

Crash safety. An object becomes visible under its key only once it is complete:

* small payloads (up to :data:`PART_BYTES`) are sent in one PUT, which both backends apply atomically (the file store
  writes a staging file and renames it);
* larger ones go through a multipart upload. On S3 the object appears only when the upload is completed. In the file
  store obstore writes the parts into a staging file ``<dir>/<name>#<n>`` next to the final path and renames it over
  the key when complete.

A process killed mid-upload therefore leaves at most hidden leftovers: staging files, which :meth:`list_keys`,
:meth:`stat` and :meth:`open` never see and which :meth:`PayloadStore.remove_stale_uploads` deletes, or an
incomplete S3 multipart upload, which costs storage until the bucket's lifecycle rule ``AbortIncompleteMultipartUpload``
(a day: ``metadock store lifecycle`` sets it) removes it; obstore cannot list those uploads itself.

Keys (:meth:`PayloadStore.new_key`) are ``payloads/<tenant id>/<yyyy>/<mm>/<dd>/<ab>/<32 hex>``: one common first
segment for one lifecycle rule, the tenant and the capture's day for an operator's prefix, a random part that spreads
objects. Keys of the older ``ab/cd/<32 hex>`` shape keep working everywhere.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import errno
import logging
import os
import re
import secrets
import time
from collections.abc import AsyncIterable, AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

import obstore as obs
from obstore.store import LocalStore, S3Store

if TYPE_CHECKING:
    from obstore import GetOptions
    from obstore.store import ObjectStore, S3Config

from metadock.payloads.s3_options import RETRY, client_options
from metadock.payloads.store_types import (
    InvalidKey,
    ObjectInfo,
    ObjectNotFound,
    ObjectTooLarge,
    PutResult,
    RangeNotSatisfiable,
    StoreError,
    StoreFull,
    StoreUnavailable,
)
from metadock.payloads.upload_meter import PART_BYTES, UploadMeter

__all__ = [
    "KEY_ROOT",
    "PART_BYTES",
    "InvalidKey",
    "ObjectInfo",
    "ObjectNotFound",
    "ObjectTooLarge",
    "PayloadStore",
    "PutResult",
    "RangeNotSatisfiable",
    "StoreError",
    "StoreFull",
    "StoreUnavailable",
    "check_key",
    "open_store",
]

logger = logging.getLogger("metadock.payloads.store")

KIB = 1024
MIB = 1024 * KIB
# Parts in flight per upload. Memory per upload stays near (this + 3) * PART_BYTES whatever the payload's size.
UPLOAD_CONCURRENCY = 2
# Reads are handed out in chunks at least this large: few enough Python round trips to keep the loop idle.
READ_CHUNK_BYTES = 256 * KIB

# Every key made today: ``payloads/<tenant id>/<yyyy>/<mm>/<dd>/<ab>/<ab…32 hex>``, the UTC date the capture began.
# The common first segment is what one S3 lifecycle rule filters on (see payloads/lifecycle.py).
KEY_ROOT = "payloads/"
_DATED_KEY = re.compile(
    r"\Apayloads/(0|[1-9][0-9]{0,18})/([0-9]{4})/([0-9]{2})/([0-9]{2})/([0-9a-f]{2})/([0-9a-f]{32})\Z"
)
# Keys made before the capture date was in them (``ab/cd/abcd<28 hex>``): still read, deleted, listed and checked.
_LEGACY_KEY = re.compile(r"\A([0-9a-f]{2})/([0-9a-f]{2})/([0-9a-f]{32})\Z")
# obstore's file store stages an upload as "<final name>#<n>" in the final directory.
_STAGING_NAME = re.compile(r"\A[0-9a-f]{32}#[0-9]+\Z")
# The errors that mean "out of space" on a disk (ENOSPC, EDQUOT) or from an S3 server (MinIO's 507, SeaweedFS).
_FULL_MARKERS = ("os error 28", "os error 122", "No space left", "Insufficient Storage", "no free volumes left")


def _is_key(key: str) -> bool:
    dated = _DATED_KEY.fullmatch(key)
    if dated is not None:
        if dated[6][:2] != dated[5]:
            return False
        try:
            dt.date(int(dated[2]), int(dated[3]), int(dated[4]))
        except ValueError:
            return False
        return True
    legacy = _LEGACY_KEY.fullmatch(key)
    return legacy is not None and legacy[3][:4] == legacy[1] + legacy[2]


def check_key(key: str) -> str:
    """Return ``key`` if it has a generated shape (dated, or the older ``ab/cd/abcd<28 hex>``), else raise
    :class:`InvalidKey`."""
    if not isinstance(key, str) or not _is_key(key):
        raise InvalidKey("not a payload key")
    return key


async def _no_chunks() -> AsyncIterator[bytes]:
    return
    yield  # pragma: no cover - makes this an async generator


def _is_full(error: BaseException) -> bool:
    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    text = str(error)
    return any(marker in text for marker in _FULL_MARKERS)


def _unlink_present(paths: list[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


class PayloadStore:
    """Streams payload bytes in and out of one backend. Build it with :func:`open_store`."""

    def __init__(self, backend: ObjectStore, kind: Literal["file", "s3"], *, root: Path | None, url: str) -> None:
        self._backend = backend
        self.kind: Literal["file", "s3"] = kind
        self.url = url  # where the bytes are, for logs and tools: never credentials
        self._root = root

    def __repr__(self) -> str:
        return f"PayloadStore({self.url})"

    @staticmethod
    def new_key(tenant_id: int = 0, captured_at: dt.datetime | None = None) -> str:
        """A fresh key ``payloads/<tenant id>/<yyyy>/<mm>/<dd>/<ab>/<ab…32 random hex>``.

        Built from the server's own facts only (the authenticated tenant's id and the clock, UTC; ``0`` for bytes
        written outside a tenant, by tools and tests), never from client input. The date lets an operator list or
        remove a day's bytes by prefix; the random directory spreads a busy day over 256 directories or prefixes.
        """
        if tenant_id < 0:
            raise ValueError("a tenant id is not negative")
        day = (captured_at or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
        name = secrets.token_hex(16)
        return f"{KEY_ROOT}{tenant_id}/{day:%Y/%m/%d}/{name[:2]}/{name}"

    def local_path(self, key: str) -> Path | None:
        """Where the file store keeps ``key`` (for sendfile); None on S3. The file may not exist."""
        check_key(key)
        return None if self._root is None else self._root / key

    async def put_stream(self, key: str, chunks: AsyncIterable[bytes], *, max_bytes: int | None) -> PutResult:
        """Store ``chunks`` under ``key``, never holding more than a few parts in memory.

        Raises :class:`ObjectTooLarge` past ``max_bytes``, :class:`StoreUnavailable` if the backend fails; either
        way no object is left under ``key``. An exception raised by ``chunks`` itself propagates as it is.
        """
        check_key(key)
        if max_bytes is not None and max_bytes < 0:
            raise ValueError("max_bytes must not be negative")
        self._require_root()
        meter = UploadMeter(chunks, max_bytes)
        try:
            first = await meter.read_part()
            if meter.exhausted:
                # The whole payload fits in one part: one PUT beats a three-request multipart upload.
                await obs.put_async(self._backend, key, first, use_multipart=False)
            else:
                await obs.put_async(
                    self._backend,
                    key,
                    meter.parts(first),
                    use_multipart=True,
                    chunk_size=PART_BYTES,
                    max_concurrency=UPLOAD_CONCURRENCY,
                )
        except Exception as error:
            # The failure came from our side of the iterator: obstore aborted the upload before completing it.
            if meter.too_large:
                raise ObjectTooLarge(meter.max_bytes or 0) from None
            if meter.source_error is error:
                raise
            if meter.source_error is not None:  # obstore's abort failed too and replaced it
                raise meter.source_error from error
            # obstore aborted the upload too; this also removes an object whose completion raced with the failure.
            await self._discard(key)
            raise self._unavailable(error, "could not be written") from error
        # A cancelled put (BaseException) skips the clean-up above: awaiting again would be cancelled too. The
        # object then either never appeared or is complete and unreferenced, which fsck reports.
        return PutResult(key=key, size=meter.size, sha256=meter.hash.hexdigest())

    async def stat(self, key: str) -> ObjectInfo:
        check_key(key)
        try:
            meta = await obs.head_async(self._backend, key)
        except FileNotFoundError:
            raise self._missing() from None
        except Exception as error:
            raise self._unavailable(error, "could not be read") from error
        return ObjectInfo(size=meta["size"], last_modified=meta["last_modified"])

    async def open(
        self, key: str, *, start: int = 0, end: int | None = None, chunk_size: int = READ_CHUNK_BYTES
    ) -> AsyncIterator[bytes]:
        """Stream bytes ``[start, end)`` of ``key`` in chunks of at least ``chunk_size`` (the last may be shorter).

        Like slicing, an ``end`` past the object's end is cut to it and ``start == size`` gives nothing, but a
        ``start`` past the end raises :class:`RangeNotSatisfiable`. :class:`ObjectNotFound` is raised here, before
        any byte is sent; a failure once streaming raises :class:`StoreUnavailable` from the iterator.
        """
        check_key(key)
        if start < 0 or (end is not None and end < start):
            raise ValueError("a range needs 0 <= start <= end")
        if end == start:
            await self._check_start(key, start)
            return _no_chunks()
        options: GetOptions = {}
        if end is not None:
            options["range"] = (start, end)
        elif start > 0:
            options["range"] = {"offset": start}
        try:
            result = await obs.get_async(self._backend, key, options=options)
        except FileNotFoundError:
            raise self._missing() from None
        except Exception as error:
            if "range" in options:
                # Both backends refuse a range starting at or past the end; stat tells which case this is.
                size = (await self.stat(key)).size
                if start == size:
                    return _no_chunks()
                if start > size:
                    raise RangeNotSatisfiable(size) from None
            raise self._unavailable(error, "could not be read") from error
        return self._stream(result.stream(min_chunk_size=chunk_size))

    async def _stream(self, stream: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
        try:
            async for chunk in stream:
                yield chunk
        except Exception as error:
            raise self._unavailable(error, "could not be read") from error

    async def _check_start(self, key: str, start: int) -> None:
        size = (await self.stat(key)).size
        if start > size:
            raise RangeNotSatisfiable(size)

    async def delete(self, key: str) -> None:
        """Remove ``key``; removing a missing object succeeds."""
        check_key(key)
        self._require_root()
        try:
            await obs.delete_async(self._backend, key)
        except FileNotFoundError:
            pass
        except Exception as error:
            raise self._unavailable(error, "could not be written") from error

    async def delete_many(self, keys: list[str]) -> None:
        """Remove every one of ``keys`` (missing ones succeed) in a few calls: one thread hop for a file store (an
        obstore call per key cost more than the unlink), DeleteObjects requests of up to 1,000 keys on S3."""
        for key in keys:
            check_key(key)
        self._require_root()
        try:
            if self._root is not None:
                await asyncio.to_thread(_unlink_present, [self._root / key for key in keys])
            elif keys:
                await obs.delete_async(self._backend, keys)
        except Exception as error:
            raise self._unavailable(error, "could not be written") from error

    async def list_keys(self) -> AsyncIterator[tuple[str, dt.datetime]]:
        """Every stored key with its last modification, in no set order; staging files and foreign names are skipped."""
        self._require_root()
        try:
            async for batch in obs.list(self._backend, chunk_size=1000):
                for meta in batch:
                    if _is_key(meta["path"]):
                        yield meta["path"], meta["last_modified"]
        except Exception as error:
            raise self._unavailable(error, "could not be listed") from error

    async def remove_stale_uploads(self, *, older_than: dt.timedelta) -> int:
        """Delete the file store's staging files left by uploads killed more than ``older_than`` ago; return how many.

        Live uploads keep writing their staging file, so an ``older_than`` well above the longest upload (an hour)
        is safe. On S3 this does nothing: incomplete multipart uploads are for the bucket's lifecycle rule.
        """
        if self._root is None:
            return 0
        self._require_root()
        root = self._root

        def sweep() -> int:
            cutoff = time.time() - older_than.total_seconds()
            removed = 0
            for directory, _dirs, names in os.walk(root):
                for name in names:
                    path = os.path.join(directory, name)
                    try:
                        if _STAGING_NAME.fullmatch(name) and os.stat(path).st_mtime < cutoff:
                            os.unlink(path)
                            removed += 1
                    except FileNotFoundError:
                        continue  # finished or removed meanwhile
            return removed

        try:
            return await asyncio.to_thread(sweep)
        except OSError as error:
            raise self._unavailable(error, "could not be cleaned") from error

    async def _discard(self, key: str) -> None:
        try:
            await obs.delete_async(self._backend, key)
        except FileNotFoundError:
            pass
        except Exception as error:  # noqa: BLE001 - best effort: the caller reports the original failure
            logger.warning("payload store %s: removing a failed upload failed: %r", self.url, error)

    def _require_root(self) -> None:
        # obstore would recreate a vanished directory (an unmounted volume, say) and write beside the real data.
        if self._root is not None and not self._root.is_dir():
            logger.warning("payload store %s: the directory is missing", self.url)
            raise StoreUnavailable("the payload store is unavailable")

    def _missing(self) -> StoreError:
        # In a vanished directory every object is "missing": that is an outage, not a 404.
        self._require_root()
        return ObjectNotFound()

    def _unavailable(self, error: BaseException, what: str) -> StoreUnavailable:
        logger.warning("payload store %s: %s: %r", self.url, what, error)
        if _is_full(error):
            return StoreFull("the payload store is full")
        return StoreUnavailable(f"the payload store {what}")


def open_store(url: str, *, endpoint_url: str | None = None) -> PayloadStore:
    """Open ``file:///absolute/dir`` (created if missing) or ``s3://bucket/prefix``.

    S3 credentials and region come from the standard ``AWS_*`` environment variables; ``endpoint_url`` points at a
    non-AWS server (plain http only on loopback). A relative ``file://./dir`` is taken from the working directory,
    as the settings do.
    """
    scheme = url.partition("://")[0].lower() if "://" in url else ""
    if scheme == "file":
        raw = url[len("file://") :]
        if not raw or "?" in raw or "#" in raw:
            raise ValueError("a file store URL is file:///absolute/directory")
        root = Path(raw).resolve()
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            logger.warning("payload store %s: cannot create the directory: %r", root, error)
            raise StoreUnavailable("the payload store directory cannot be created") from error
        return PayloadStore(LocalStore(root), "file", root=root, url=f"file://{root}")
    if scheme == "s3":
        parts = urlsplit(url)
        if not parts.hostname or parts.username or parts.password or parts.port or parts.query or parts.fragment:
            raise ValueError("an S3 store URL is s3://bucket/optional/prefix")
        bucket = parts.netloc
        prefix = parts.path.strip("/")
        config: S3Config = {}
        if endpoint_url:
            config["endpoint"] = endpoint_url
        backend = S3Store(
            bucket,
            prefix=prefix or None,
            config=config,
            client_options=client_options(endpoint_url or None),
            retry_config=RETRY,
        )
        return PayloadStore(backend, "s3", root=None, url=f"s3://{bucket}/{prefix}".rstrip("/"))
    raise ValueError("the store URL must start with file:// or s3://")
