"""HTTP handlers of ``/api/v1/payload-metadata``: Patchworks' shapes, Laravel's conventions."""

from __future__ import annotations

import datetime as dt
import mimetypes
from collections.abc import AsyncIterator
from typing import Any

from litestar import Controller, Request, Response, delete, get, post
from litestar.background_tasks import BackgroundTask
from litestar.params import FromPath
from litestar.response import Stream
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from metadock.context import context_of
from metadock.dialects.laravel.paginator import PageUrls, paginate
from metadock.kit.authentication import principal_of
from metadock.kit.errors import AppError
from metadock.kit.export import export_response, parse_export_format
from metadock.kit.openapi import DOCS
from metadock.kit.pathsend import PathSendResponse, server_sends_files
from metadock.kit.query import ListQuery
from metadock.kit.ranges import Unsatisfiable, etag_matches, parse_range
from metadock.kit.read_ahead import READ_AHEAD
from metadock.kit.request import query_pairs
from metadock.kit.unit_of_work import RequestUnitOfWork, UnitOfWork
from metadock.payloads import openapi as docs
from metadock.payloads.archive import RunArchive
from metadock.payloads.capture import CaptureService, parse_capture_params
from metadock.payloads.query import parse_list_query
from metadock.payloads.schemas import PayloadMetaEnvelope, PayloadRecord, PayloadRecordEnvelope, PayloadRecordList
from metadock.payloads.service import DownloadTarget, PayloadService, gone
from metadock.payloads.store import ObjectNotFound, PayloadStore, RangeNotSatisfiable

_SAFE_EXTENSIONS = {".json", ".xml", ".csv", ".txt", ".html", ".yaml", ".pdf", ".zip", ".gz", ".edi"}


def _file_name(target: DownloadTarget) -> str:
    """Built only from our own id and a known extension, so it needs no quoting and carries no client text."""
    # Any known extension of the type, not just the first: that one depends on the host's mime.types (application/xml
    # is ".xsl" on Debian).
    candidates = mimetypes.guess_all_extensions(target.content_type.split(";")[0].strip())
    extension = next((candidate for candidate in candidates if candidate in _SAFE_EXTENSIONS), ".bin")
    return f"payload-{target.record_id}{extension}"


def _declared_length(request: Request[Any, Any, Any]) -> int | None:
    raw = request.headers.get("content-length")
    return int(raw) if raw and raw.isdigit() else None


def _content_search(request: Request[Any, Any, Any]) -> bool:
    """``filter[search]`` is allowed: the deployment runs content search and the caller's tenant has it on (the
    tenant's switch came with the credential); otherwise it is a filter not allowed, as any other."""
    return context_of(request).settings.content_search and principal_of(request).content_search


async def _service(request: Request[Any, Any, Any], unit: UnitOfWork) -> PayloadService:
    return PayloadService(await unit.connection(), principal_of(request), context_of(request).store.kind)


async def _prefetched(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    yield first
    async for chunk in rest:
        yield chunk


async def _open(store: PayloadStore, target: DownloadTarget, start: int, end: int) -> AsyncIterator[bytes]:
    """Open and read the first chunk before answering, so a missing object is a clean 410, not a cut stream."""
    try:
        chunks = await store.open(target.store_key, start=start, end=end)
        first = await anext(chunks, b"")
    except (ObjectNotFound, RangeNotSatisfiable):
        raise gone(target.missing_reason(dt.datetime.now(dt.UTC))) from None
    return _prefetched(first, chunks)


async def download_response(request: Request[Any, Any, Any], target: DownloadTarget) -> Response[Any]:
    """The bytes of a payload exactly as captured, with ETag, Range and If-None-Match; shared with the web console."""
    etag = f'"{target.sha256}"'
    headers = {
        "ETag": etag,
        "Accept-Ranges": "bytes",
        "Content-Disposition": f'attachment; filename="{_file_name(target)}"',
        # The bytes are the client's: never let a browser sniff or run them.
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
    }
    if etag_matches(request.headers.get("if-none-match"), etag):
        return Response(None, status_code=304, headers=headers)
    try:
        byte_range = parse_range(request.headers.get("range"), target.size)
    except Unsatisfiable:
        raise AppError(
            416, "The requested range is not satisfiable.", headers={"Content-Range": f"bytes */{target.size}"}
        ) from None
    start, end = (byte_range.start, byte_range.end) if byte_range else (0, target.size)
    store = context_of(request).store
    headers["Content-Length"] = str(end - start)
    # Exactly as captured: given only a media type, Litestar would append "; charset=utf-8" to a text/* type,
    # a claim about the client's bytes that may be false (a latin-1 CSV, say).
    headers["Content-Type"] = target.content_type
    local_path = store.local_path(target.store_key) if byte_range is None else None
    if local_path is not None and server_sends_files(request) and local_path.is_file():
        # The whole file from the file store: the server sends it itself, no byte through the event loop.
        return PathSendResponse(local_path, size=target.size, media_type=target.content_type, headers=headers)
    chunks = await _open(store, target, start, end)
    if byte_range is None:
        return Stream(chunks, media_type=target.content_type, headers=headers)
    headers["Content-Range"] = byte_range.content_range(target.size)
    return Stream(chunks, status_code=206, media_type=target.content_type, headers=headers)


class PayloadController(Controller):
    path = "/api/v1/payload-metadata"
    tags = ["Payload Metadata"]  # noqa: RUF012 - Litestar declares it as a plain attribute

    @get("/", summary="List Payload Metadata", opt={DOCS: docs.LIST})
    async def list_payload_metadata(
        self, request: Request[Any, Any, Any], unit: RequestUnitOfWork
    ) -> PayloadRecordList:
        params = query_pairs(request)
        query: ListQuery = parse_list_query(params, content_search=_content_search(request))
        service = await _service(request, unit)
        page = await service.list(query)
        urls = PageUrls(str(request.base_url).rstrip("/") + request.url.path.rstrip("/"), params)
        links, meta = paginate(urls, page=query.page, per_page=query.per_page, total=page.total, count=len(page.items))
        return PayloadRecordList(data=page.items, links=links, meta=meta)

    @get("/export", summary="Export Payload Metadata (Metadock)", opt={DOCS: docs.EXPORT})
    async def export_payload_metadata(self, request: Request[Any, Any, Any], unit: RequestUnitOfWork) -> Stream:
        """Every record the list's filters select, streamed (no pages). Its first batch is read here, in the
        request's transaction, which ends when this returns; the rest in short transactions as the client reads."""
        params = query_pairs(request)
        export_format = parse_export_format(params)
        context = context_of(request)
        # The list's grammar and allow-lists; page and per_page play no part.
        query = parse_list_query(params, content_search=_content_search(request))
        service = await _service(request, unit)
        batches = await service.export(query, context.database, context.settings.export_batch_size)
        return export_response(export_format, batches, PayloadRecord, "payload-metadata")

    @post(
        "/",
        status_code=HTTP_201_CREATED,
        request_max_body_size=None,
        summary="Capture a payload (Metadock)",
        # Begins at first use, as every write does by default, whatever the body's size: see kit/unit_of_work.py for
        # what continuing authentication's transaction across the store write cost.
        opt={DOCS: docs.CAPTURE},
    )
    async def capture_payload(
        self, request: Request[Any, Any, Any], unit: RequestUnitOfWork
    ) -> Response[PayloadRecordEnvelope]:
        context = context_of(request)
        params = parse_capture_params(request.query_params.multi_items(), request.headers.get("content-type"))
        service = CaptureService(
            context.store,
            context.capture_metrics,
            max_bytes=context.settings.max_payload_bytes,
            retention_days=context.settings.payload_retention_days,
            tag_extract_max_bytes=context.settings.tag_extract_max_bytes,
            content_search_max_bytes=context.settings.content_search_max_bytes
            if context.settings.content_search
            else 0,
        )
        record = await service.capture(request.stream(), _declared_length(request), params, principal_of(request), unit)
        return Response(PayloadRecordEnvelope(record), status_code=HTTP_201_CREATED)

    @get(
        "/{payload_metadatum:str}",
        summary="Get Payload Metadata",
        opt={DOCS: docs.GET, READ_AHEAD: PayloadService.read_ahead_of_record},
    )
    async def get_payload_metadata(
        self, request: Request[Any, Any, Any], payload_metadatum: FromPath[str], unit: RequestUnitOfWork
    ) -> PayloadRecordEnvelope:
        service = await _service(request, unit)
        return PayloadRecordEnvelope(await service.get(payload_metadatum))

    @get(
        "/{payload_metadatum:str}/meta",
        summary="Get Meta",
        opt={DOCS: docs.META, READ_AHEAD: PayloadService.read_ahead_of_record},
    )
    async def get_payload_meta(
        self, request: Request[Any, Any, Any], payload_metadatum: FromPath[str], unit: RequestUnitOfWork
    ) -> PayloadMetaEnvelope:
        service = await _service(request, unit)
        return PayloadMetaEnvelope(await service.meta(payload_metadatum))

    @get(
        "/{payload_metadatum:str}/download",
        summary="Download Payload Metadata",
        opt={DOCS: docs.DOWNLOAD, READ_AHEAD: PayloadService.read_ahead_of_record},
    )
    async def download_payload(
        self, request: Request[Any, Any, Any], payload_metadatum: FromPath[str], unit: RequestUnitOfWork
    ) -> Response[Any]:
        service = await _service(request, unit)
        target = await service.download_target(payload_metadatum)
        return await download_response(request, target)

    @delete(
        "/{payload_metadatum:str}",
        status_code=HTTP_204_NO_CONTENT,
        summary="Delete a payload (Metadock)",
        opt={DOCS: docs.DELETE},
    )
    async def delete_payload(
        self, request: Request[Any, Any, Any], payload_metadatum: FromPath[str], unit: RequestUnitOfWork
    ) -> Response[None]:
        service = await _service(request, unit)
        key = await service.delete(payload_metadatum)
        # The bytes go after the response, i.e. after the record's deletion has committed: a crash in between
        # leaves orphaned bytes for fsck, never a record without bytes.
        background = BackgroundTask(context_of(request).store.delete, key) if key else None
        return Response(None, status_code=HTTP_204_NO_CONTENT, background=background)


class RunArchiveController(Controller):
    path = "/api/v1/flow-runs"
    tags = ["Payload Metadata"]  # noqa: RUF012 - Litestar declares it as a plain attribute

    @get("/{flow_run_id:str}/payloads.zip", summary="Download a run's payloads (Metadock)", opt={DOCS: docs.RUN_ZIP})
    async def download_run_payloads(
        self, request: Request[Any, Any, Any], flow_run_id: FromPath[str], unit: RequestUnitOfWork
    ) -> Stream:
        context = context_of(request)
        archive = await RunArchive.open(
            await unit.connection(), context.database, context.store, principal_of(request).tenant_id, flow_run_id
        )
        # The request's transaction ends when this returns; the archive reads its pages in transactions of its own.
        headers = {
            "Content-Disposition": f'attachment; filename="{archive.file_name()}"',
            "X-Content-Type-Options": "nosniff",
        }
        return Stream(archive.chunks(), media_type="application/zip", headers=headers)
