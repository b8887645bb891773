"""A payload's page: its details, a bounded slice of its content pretty-printed ("show more" fetches the next slice
from where this one stopped), its download, and its neighbours in the run."""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import Request, Response, get
from litestar.enums import MediaType
from litestar.params import FromPath

from metadock.console.params import OptionalText, optional_id
from metadock.console.payload_view import ContentSlice, content_slice, read_bytes
from metadock.console.pretty import Cursor
from metadock.console.rendering import CONTENT_SECURITY_POLICY, render, see_other, templates
from metadock.console.session import current_principal
from metadock.context import context_of
from metadock.kit.db import Connection
from metadock.kit.unit_of_work import RequestUnitOfWork
from metadock.payloads.http import download_response
from metadock.payloads.runs import RunService
from metadock.payloads.schemas import PayloadMeta, PayloadRecord
from metadock.payloads.service import PayloadService

# console.js builds a collapsible tree from the whole document (parsed by the browser, expanded lazily) up to this.
TREE_MAX_BYTES = 4 * 1024 * 1024


def payloads_of(request: Request[Any, Any, Any], connection: Connection) -> PayloadService:
    return PayloadService(connection, current_principal(request), context_of(request).store.kind)


async def _slice(
    request: Request[Any, Any, Any], record: PayloadRecord, meta: PayloadMeta, at: Cursor
) -> ContentSlice | None:
    if meta.dropped:
        return None
    data, eof = await read_bytes(context_of(request).store, record.payload_store_reference, meta.size, at.offset)
    # Formatting is CPU work on up to a slice of hostile bytes: off the event loop, so captures never wait on it.
    return await asyncio.to_thread(content_slice, data, meta.content_type, at, eof=eof)


@get("/payloads")
async def find_payload(id: OptionalText = None) -> Response[Any]:  # noqa: A002 - the form's field name
    """The overview's "open payload #" box."""
    record_id = optional_id(id, "payload id")
    if record_id is None:
        return see_other("/console/runs")
    return see_other(f"/console/payloads/{record_id}")


@get("/payloads/{payload_id:str}")
async def payload_page(
    request: Request[Any, Any, Any], unit: RequestUnitOfWork, payload_id: FromPath[str], at: OptionalText = None
) -> Response[Any]:
    async with unit.transaction() as connection:
        service = payloads_of(request, connection)
        record = await service.get(payload_id)
        meta = await service.meta(payload_id)
        runs = RunService(connection, current_principal(request))
        siblings = await runs.run(record.flow_run_id)  # the run's first page: what the compare menu offers
        previous, following = await runs.neighbour_ids(record.flow_run_id, record.id)
    content = await _slice(request, record, meta, Cursor.decode(at))
    others = [r for step in (siblings.steps if siblings else []) for r in step.records if r.id != record.id]
    neighbours = {"prev": previous, "next": following}
    return render(
        request,
        "payload.html",
        record=record,
        meta=meta,
        content=content,
        others=others,
        neighbours=neighbours,
        tree_max_bytes=TREE_MAX_BYTES,
        base_url=str(request.base_url).rstrip("/"),
    )


@get("/payloads/{payload_id:str}/slice")
async def payload_slice(
    request: Request[Any, Any, Any], unit: RequestUnitOfWork, payload_id: FromPath[str], at: OptionalText = None
) -> Response[Any]:
    """The next slice as an HTML fragment, appended by console.js under the previous one ("show more")."""
    async with unit.transaction() as connection:
        service = payloads_of(request, connection)
        record = await service.get(payload_id)
        meta = await service.meta(payload_id)
    content = await _slice(request, record, meta, Cursor.decode(at))
    html = templates.get_template("_slice.html").render(record=record, content=content)
    return Response(
        html,
        media_type=MediaType.HTML,
        headers={"Content-Security-Policy": CONTENT_SECURITY_POLICY, "Cache-Control": "no-store"},
    )


@get("/payloads/{payload_id:str}/download")
async def payload_download(
    request: Request[Any, Any, Any], unit: RequestUnitOfWork, payload_id: FromPath[str]
) -> Response[Any]:
    """The API's download (same headers, ranges and exact bytes), authenticated by the console session."""
    async with unit.transaction() as connection:
        target = await payloads_of(request, connection).download_target(payload_id)
    return await download_response(request, target)
