"""Metering an upload: the caller's chunks counted, hashed, stopped past the size limit and regrouped into parts of
:data:`PART_BYTES`, so that memory per upload stays bounded whatever the payload's size (``store.PayloadStore``).
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterable, AsyncIterator

from metadock.payloads.store_types import ObjectTooLarge

# S3's smallest allowed part. Payloads up to this size go in a single PUT; bigger ones are cut into parts of exactly
# this size (some S3-compatible servers, e.g. R2, insist on equal parts).
PART_BYTES = 5 * 1024 * 1024


class UploadMeter:
    """Pulls the caller's chunks, counts and hashes them, stops past the limit, and regroups them into parts.

    The flags tell :meth:`PayloadStore.put_stream` why an upload ended: obstore hands back an exception raised in
    the iterator it consumes, but raises its own instead if aborting the upload fails too.
    """

    def __init__(self, chunks: AsyncIterable[bytes], max_bytes: int | None) -> None:
        self._source = aiter(chunks)
        self.max_bytes = max_bytes
        self._pending = bytearray()
        self.hash = hashlib.sha256()
        self.size = 0
        self.exhausted = False
        self.too_large = False
        self.source_error: BaseException | None = None

    async def read_part(self) -> bytes:
        """The next PART_BYTES bytes (fewer only at the end)."""
        while not self.exhausted and len(self._pending) < PART_BYTES:
            try:
                chunk = await anext(self._source)
            except StopAsyncIteration:
                self.exhausted = True
                break
            except BaseException as error:
                self.source_error = error
                raise
            self.size += len(chunk)
            if self.max_bytes is not None and self.size > self.max_bytes:
                self.too_large = True
                self._pending.clear()
                raise ObjectTooLarge(self.max_bytes)
            self.hash.update(chunk)
            self._pending += chunk
        with memoryview(self._pending) as view:
            part = bytes(view[:PART_BYTES])
        del self._pending[:PART_BYTES]
        return part

    async def parts(self, first: bytes) -> AsyncIterator[bytes]:
        yield first
        while not (self.exhausted and not self._pending):
            part = await self.read_part()
            if part:
                yield part
