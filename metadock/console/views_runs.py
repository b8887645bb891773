"""Runs, payloads, their comparison and the activity chart: read-only pages over the payload services."""

from __future__ import annotations

import datetime as dt
import math
from typing import Annotated, Any

from litestar import Request, Response, get
from litestar.params import FromPath, QueryParameter

from metadock.console.chart import activity_chart
from metadock.console.diff import side_by_side
from metadock.console.payload_view import PREVIEW_BYTES, pretty_text, preview
from metadock.console.rendering import render, see_other
from metadock.console.session import current_principal
from metadock.context import context_of
from metadock.kit.db import Connection
from metadock.kit.errors import AppError, bad_request, not_found
from metadock.kit.unit_of_work import RequestUnitOfWork
from metadock.payloads.http import download_response
from metadock.payloads.runs import RunService
from metadock.payloads.service import PayloadService, parse_record_id
from metadock.payloads.store import ObjectNotFound

RUNS_PER_PAGE = 25
CHART_DAYS = 7

OptionalText = Annotated[str | None, QueryParameter(required=False)]


def _optional_id(raw: str | None, name: str) -> int | None:
    if raw is None or not raw.strip():
        return None
    value = parse_record_id(raw.strip())
    if value is None:
        raise bad_request(f"The {name} must be a positive whole number.")
    return value


def _page_number(raw: str | None) -> int:
    value = _optional_id(raw, "page")
    return min(value or 1, 100_000)


def _pages(page: int, total: int, per_page: int) -> dict[str, int]:
    return {"page": page, "last": max(1, math.ceil(total / per_page)), "total": total}


async def _read_preview(request: Request[Any, Any, Any], store_key: str, size: int) -> tuple[bytes, bool]:
    """The first PREVIEW_BYTES of a payload, and whether it was cut there."""
    store = context_of(request).store
    end = min(size, PREVIEW_BYTES)
    try:
        chunks = await store.open(store_key, start=0, end=end)
        data = b"".join([chunk async for chunk in chunks])
    except ObjectNotFound:
        raise AppError(410, "The payload's bytes are gone from the store.") from None
    return data[:end], size > PREVIEW_BYTES


def _payloads(request: Request[Any, Any, Any], connection: Connection) -> PayloadService:
    return PayloadService(connection, current_principal(request), context_of(request).store.kind)


@get("/")
async def overview(request: Request[Any, Any, Any], unit: RequestUnitOfWork) -> Response[Any]:
    principal = current_principal(request)
    until = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0) + dt.timedelta(hours=1)
    async with unit.transaction() as connection:
        service = RunService(connection, principal)
        runs = await service.list_runs(page=1, per_page=10)
        hours = await service.hourly_activity(since=until - dt.timedelta(days=CHART_DAYS), until=until)
    chart = activity_chart(hours, f"this tenant over the last {CHART_DAYS} days")
    return render(request, "overview.html", runs=runs, chart=chart)


@get("/runs")
async def runs_list(
    request: Request[Any, Any, Any],
    unit: RequestUnitOfWork,
    run: OptionalText = None,
    step: OptionalText = None,
    dropped: OptionalText = None,
    page: OptionalText = None,
) -> Response[Any]:
    run_id, step_id, page_number = _optional_id(run, "run id"), _optional_id(step, "step id"), _page_number(page)
    async with unit.transaction() as connection:
        runs = await RunService(connection, current_principal(request)).list_runs(
            run_id=run_id, step_id=step_id, dropped_only=bool(dropped), page=page_number, per_page=RUNS_PER_PAGE
        )
    filters = {"run": run or "", "step": step or "", "dropped": "1" if dropped else ""}
    return render(
        request, "runs.html", runs=runs, filters=filters, pages=_pages(page_number, runs.total, RUNS_PER_PAGE)
    )


@get("/runs/{run_id:str}")
async def run_detail(request: Request[Any, Any, Any], unit: RequestUnitOfWork, run_id: FromPath[str]) -> Response[Any]:
    number = parse_record_id(run_id)
    async with unit.transaction() as connection:
        service = RunService(connection, current_principal(request))
        detail = await service.run(number) if number is not None else None
        if detail is None:
            raise not_found("No such run.")
        records = [record for step in detail.steps for record in step.records]
        last = max(record.created_at for record in records)
        until = last.replace(minute=0, second=0, microsecond=0) + dt.timedelta(hours=1)
        first = min(record.created_at for record in records)
        since = max(first, until - dt.timedelta(days=CHART_DAYS))
        since = min(since, until - dt.timedelta(hours=24))
        hours = await service.hourly_activity(since=since, until=until, run_id=number)
    chart = activity_chart(hours, f"run {number}")
    return render(request, "run.html", run=detail, chart=chart, payload_count=len(records))


@get("/payloads")
async def find_payload(id: OptionalText = None) -> Response[Any]:  # noqa: A002 - the form's field name
    """The overview's "open payload #" box."""
    record_id = _optional_id(id, "payload id")
    if record_id is None:
        return see_other("/console/runs")
    return see_other(f"/console/payloads/{record_id}")


@get("/payloads/{payload_id:str}")
async def payload_page(
    request: Request[Any, Any, Any], unit: RequestUnitOfWork, payload_id: FromPath[str]
) -> Response[Any]:
    async with unit.transaction() as connection:
        service = _payloads(request, connection)
        record = await service.get(payload_id)
        meta = await service.meta(payload_id)
        siblings = await RunService(connection, current_principal(request)).run(record.flow_run_id)
    content = None
    if not meta.dropped:
        data, truncated = await _read_preview(request, record.payload_store_reference, meta.size)
        content = preview(data, meta.content_type, truncated=truncated)
    others = [r for step in (siblings.steps if siblings else []) for r in step.records if r.id != record.id]
    return render(request, "payload.html", record=record, meta=meta, content=content, others=others)


@get("/payloads/{payload_id:str}/download")
async def payload_download(
    request: Request[Any, Any, Any], unit: RequestUnitOfWork, payload_id: FromPath[str]
) -> Response[Any]:
    """The API's download (same headers, ranges and exact bytes), authenticated by the console session."""
    async with unit.transaction() as connection:
        target = await _payloads(request, connection).download_target(payload_id)
    return await download_response(request, target)


@get("/compare")
async def compare(
    request: Request[Any, Any, Any], unit: RequestUnitOfWork, left: OptionalText = None, right: OptionalText = None
) -> Response[Any]:
    if not left or not right:
        raise bad_request("Choose two payloads to compare.")
    async with unit.transaction() as connection:
        service = _payloads(request, connection)
        records = [await service.get(left), await service.get(right)]
        metas = [await service.meta(left), await service.meta(right)]
    if records[0].flow_run_id != records[1].flow_run_id:
        raise bad_request("Only two payloads of the same run can be compared.")
    sides: list[list[str] | None] = []
    cut = False
    for record, meta in zip(records, metas, strict=True):
        if meta.dropped:
            sides.append([])
            continue
        data, truncated = await _read_preview(request, record.payload_store_reference, meta.size)
        cut = cut or truncated
        sides.append(pretty_text(data, meta.content_type))
    binary = any(side is None for side in sides)
    diff = None if binary else side_by_side(sides[0] or [], sides[1] or [])
    return render(request, "compare.html", records=records, metas=metas, diff=diff, binary=binary, cut=cut)
