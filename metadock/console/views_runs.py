"""Runs as an operator reads them: the overview, the filtered list of runs, a run's timeline and paged payloads."""

from __future__ import annotations

import datetime as dt
from typing import Any

from litestar import Request, Response, get
from litestar.params import FromPath
from litestar.response import Stream

from metadock.console.chart import activity_chart
from metadock.console.params import (
    QUICK_RANGES,
    OptionalText,
    optional_id,
    optional_time,
    page_number,
    pages,
    time_zone,
    utc_iso,
    wall_clock,
)
from metadock.console.rendering import render
from metadock.console.session import current_principal
from metadock.console.timeline import run_timeline
from metadock.context import context_of
from metadock.kit.errors import bad_request, not_found
from metadock.kit.unit_of_work import RequestUnitOfWork
from metadock.payloads.archive import RunArchive
from metadock.payloads.runs import RunService
from metadock.payloads.service import parse_record_id

RUNS_PER_PAGE = 25
CHART_DAYS = 7


@get("/")
async def overview(request: Request[Any, Any, Any], unit: RequestUnitOfWork) -> Response[Any]:
    principal = current_principal(request)
    until = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0) + dt.timedelta(hours=1)
    async with unit.transaction() as connection:
        service = RunService(connection, principal)
        runs = await service.list_runs(page=1, per_page=10)
        hours = await service.hourly_activity(since=until - dt.timedelta(days=CHART_DAYS), until=until)
    chart = activity_chart(hours, f"this tenant over the last {CHART_DAYS} days")
    return render(request, "overview.html", runs=runs, chart=chart, filtered=False)


@get("/runs")
async def runs_list(
    request: Request[Any, Any, Any],
    unit: RequestUnitOfWork,
    run: OptionalText = None,
    step: OptionalText = None,
    dropped: OptionalText = None,
    page: OptionalText = None,
    range: OptionalText = None,  # noqa: A002 - the form's field name
    since: OptionalText = None,
    until: OptionalText = None,
    tz: OptionalText = None,
) -> Response[Any]:
    run_id, step_id, page_no = optional_id(run, "run id"), optional_id(step, "step id"), page_number(page)
    zone = time_zone(tz)
    start, end = optional_time(since, "from", zone), optional_time(until, "to", zone)
    if range:
        if range not in QUICK_RANGES:
            raise bad_request("Choose a range: last hour, 24 hours or 7 days.")
        start, end = dt.datetime.now(dt.UTC) - QUICK_RANGES[range], None
    if start and end and start >= end:
        raise bad_request("The 'from' time must be before the 'to' time.")
    async with unit.transaction() as connection:
        service = RunService(connection, current_principal(request))
        runs = await service.list_runs(
            run_id=run_id,
            step_id=step_id,
            dropped_only=bool(dropped),
            since=start,
            until=end,
            page=page_no,
            per_page=RUNS_PER_PAGE,
        )
        newest = await service.newest_record_id()
    filters = {
        "run": run or "",
        "step": step or "",
        "dropped": "1" if dropped else "",
        "range": range or "",
        # Links carry the times in UTC (``…Z``); the inputs show them in the zone they were typed in, and console.js
        # in the browser's (from data-utc).
        "since": "" if range else utc_iso(start),
        "until": "" if range else utc_iso(end),
        "tz": "" if zone is dt.UTC else str(zone),
    }
    inputs = {"since": "" if range else wall_clock(start, zone), "until": "" if range else wall_clock(end, zone)}
    paging = pages(page_no, runs.total, RUNS_PER_PAGE)
    return render(
        request,
        "runs.html",
        runs=runs,
        filters=filters,
        inputs=inputs,
        filtered=any(value for key, value in filters.items() if key != "tz"),
        pages=paging,
        past_last=runs.total > 0 and page_no > paging["last"],
        newest=newest,
    )


@get("/runs/newest")
async def runs_newest(request: Request[Any, Any, Any], unit: RequestUnitOfWork) -> Response[Any]:
    """The newest capture's id, polled by the runs page (one indexed max(), no run aggregates) for its indicator."""
    async with unit.transaction() as connection:
        newest = await RunService(connection, current_principal(request)).newest_record_id()
    return Response({"newest": newest}, headers={"Cache-Control": "no-store"})


@get("/runs/{run_id:str}")
async def run_detail(
    request: Request[Any, Any, Any], unit: RequestUnitOfWork, run_id: FromPath[str], page: OptionalText = None
) -> Response[Any]:
    number, page_no = parse_record_id(run_id), page_number(page)
    async with unit.transaction() as connection:
        service = RunService(connection, current_principal(request))
        detail = await service.run(number, page=page_no) if number is not None else None
        if detail is None:
            raise not_found(f"There is no run {run_id} in this tenant.")
        marks = await service.marks(detail.run_id)
    if page_no > detail.last_page:
        raise not_found(f"Run {detail.run_id} has {detail.last_page} pages of payloads; there is no page {page_no}.")
    stored = [record for step in detail.steps for record in step.records if not record.dropped]
    return render(
        request,
        "run.html",
        run=detail,
        summary=detail.summary,
        timeline=run_timeline(marks, detail.summary.payloads),
        pages=pages(page_no, detail.summary.payloads, detail.per_page),
        default_pair=[record.id for record in stored[:2]],  # never a dropped payload: it has nothing to compare
    )


@get("/runs/{run_id:str}/payloads.zip")
async def run_archive(request: Request[Any, Any, Any], unit: RequestUnitOfWork, run_id: FromPath[str]) -> Stream:
    """The API's run archive (``/api/v1/flow-runs/{id}/payloads.zip``: the same members and manifest, streamed by the
    same :class:`RunArchive`), authenticated by the console session, as a payload's download is."""
    context = context_of(request)
    async with unit.transaction() as connection:  # ends before the archive streams; it reads pages on its own
        archive = await RunArchive.open(
            connection, context.database, context.store, current_principal(request).tenant_id, run_id
        )
    headers = {
        "Content-Disposition": f'attachment; filename="{archive.file_name()}"',
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-store",
    }
    return Stream(archive.chunks(), media_type="application/zip", headers=headers)
