"""Comparing two payloads of a run: read both (bounded), diff them in a thread, render a bounded number of rows."""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import Request, Response, get

from metadock.console.diff import Comparison, compare, compare_lines
from metadock.console.params import OptionalText
from metadock.console.payload_view import content_kind, read_bytes
from metadock.console.rendering import render_in_thread
from metadock.console.views_payloads import payloads_of
from metadock.context import context_of
from metadock.kit.errors import AppError, bad_request
from metadock.kit.unit_of_work import RequestUnitOfWork
from metadock.payloads.schemas import PayloadMeta

COMPARE_BYTES = 1024 * 1024  # of each payload


def _refuse_dropped(metas: list[PayloadMeta]) -> None:
    dropped = [meta for meta in metas if meta.dropped]
    if dropped:
        which = ", ".join(f"#{meta.id} ({meta.dropped_reason or 'dropped'})" for meta in dropped)
        # An empty side would look like a real difference ("9 lines differ"): say plainly there is nothing to compare.
        raise AppError(409, f"Payload {which} was dropped: its bytes were never kept, so there is nothing to compare.")


def _comparison(
    sides: list[tuple[bytes, bool]], metas: list[PayloadMeta], json_aware: bool, changes_only: bool
) -> Comparison:
    """All the CPU work of the page (formatting both sides, matching, word highlights), for one thread."""
    (left, left_note), (right, right_note) = (
        compare_lines(data, meta.content_type, eof=eof, json_aware=json_aware)
        for (data, eof), meta in zip(sides, metas, strict=True)
    )
    result = compare(left, right, changes_only=changes_only)
    note = left_note or right_note
    return Comparison(result.rows, result.changed, result.truncated, note)


@get("/compare")
async def compare_page(
    request: Request[Any, Any, Any],
    unit: RequestUnitOfWork,
    left: OptionalText = None,
    right: OptionalText = None,
    view: OptionalText = None,
    mode: OptionalText = None,
) -> Response[Any]:
    if not left or not right:
        raise bad_request("Choose two payloads to compare.")
    async with unit.transaction() as connection:
        service = payloads_of(request, connection)
        records = [await service.get(left), await service.get(right)]
        metas = [await service.meta(left), await service.meta(right)]
    if records[0].flow_run_id != records[1].flow_run_id:
        raise bad_request("Only two payloads of the same run can be compared.")
    _refuse_dropped(metas)
    store = context_of(request).store
    sides = [
        await read_bytes(store, record.payload_store_reference, meta.size, 0, COMPARE_BYTES)
        for record, meta in zip(records, metas, strict=True)
    ]
    binary = any(
        content_kind(meta.content_type, data) == "binary" for (data, _), meta in zip(sides, metas, strict=True)
    )
    changes_only = view != "full"
    json_aware = mode == "json"
    comparison = None
    if not binary:
        # Off the event loop: a large diff must never delay a capture or a health check on this worker.
        comparison = await asyncio.to_thread(_comparison, sides, metas, json_aware, changes_only)
    return await render_in_thread(
        request,
        "compare.html",
        records=records,
        metas=metas,
        diff=comparison,
        binary=binary,
        cut=any(not eof for _, eof in sides),
        changes_only=changes_only,
        json_aware=json_aware,
    )
