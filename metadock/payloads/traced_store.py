"""The payload store with a client span around each read and write; used only when tracing is on (``app.py``), so
the plain :class:`PayloadStore` carries no tracing code at all."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from opentelemetry.trace import SpanKind, Tracer

from metadock.payloads.store import READ_CHUNK_BYTES, ObjectInfo, PayloadStore, PutResult

if TYPE_CHECKING:
    from collections.abc import AsyncIterable, AsyncIterator


class TracedPayloadStore(PayloadStore):
    def __init__(self, store: PayloadStore, tracer: Tracer) -> None:
        # The same backend, kind, root and URL as the store it stands in for.
        super().__init__(store._backend, store.kind, root=store._root, url=store.url)
        self._tracer = tracer

    @classmethod
    def around(cls, store: PayloadStore, tracer: Tracer) -> TracedPayloadStore:
        return cls(store, tracer)

    def _span(self, operation: str, key: str | None = None, **attributes: Any) -> Any:
        # The key is a random name (no tenant data in it): what finds the object in the store's own logs.
        fields: dict[str, Any] = {"metadock.store.kind": self.kind, "metadock.store.operation": operation}
        if key is not None:
            fields["metadock.store.key"] = key
        fields.update(attributes)
        return self._tracer.start_as_current_span(f"store {operation}", kind=SpanKind.CLIENT, attributes=fields)

    async def put_stream(self, key: str, chunks: AsyncIterable[bytes], *, max_bytes: int | None) -> PutResult:
        with self._span("put", key) as span:
            result = await super().put_stream(key, chunks, max_bytes=max_bytes)
            span.set_attribute("metadock.store.bytes", result.size)
            return result

    async def stat(self, key: str) -> ObjectInfo:
        with self._span("stat", key):
            return await super().stat(key)

    async def open(
        self, key: str, *, start: int = 0, end: int | None = None, chunk_size: int = READ_CHUNK_BYTES
    ) -> AsyncIterator[bytes]:
        # Opening is what can fail before a byte is sent (missing object, bad range); the streaming that follows
        # belongs to the response.
        with self._span("open", key):
            return await super().open(key, start=start, end=end, chunk_size=chunk_size)

    async def delete(self, key: str) -> None:
        with self._span("delete", key):
            await super().delete(key)

    async def delete_many(self, keys: list[str]) -> None:
        with self._span("delete_many", None, **{"metadock.store.keys": len(keys)}):
            await super().delete_many(keys)
