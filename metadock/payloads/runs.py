"""Flow runs and capture activity as the console shows them: summaries per run, a run's steps, hourly activity."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from metadock.kit.db import Connection
from metadock.kit.principal import Principal
from metadock.kit.query import Page
from metadock.payloads.run_repository import RunRepository

# A run's page lists this many records at a time (paged); its timeline draws at most MAX_TIMELINE_RECORDS.
RUN_RECORDS_PER_PAGE = 200
MAX_TIMELINE_RECORDS = 20_000


@dataclass(frozen=True, slots=True)
class RunSummary:
    run_id: int
    first_at: dt.datetime
    last_at: dt.datetime
    payloads: int
    steps: int
    bytes: int
    dropped: int


@dataclass(frozen=True, slots=True)
class RunRecord:
    id: int
    created_at: dt.datetime
    flow_step_id: int
    flow_version_id: int | None
    flow_log_id: int | None
    size: int
    content_type: str
    dropped: bool
    dropped_reason: str | None


@dataclass(frozen=True, slots=True)
class RunStep:
    step_id: int
    records: list[RunRecord]


@dataclass(frozen=True, slots=True)
class RunDetail:
    summary: RunSummary
    steps: list[RunStep]  # this page's records, by step in the order each step was first captured on the page
    page: int
    per_page: int

    @property
    def run_id(self) -> int:
        return self.summary.run_id

    @property
    def last_page(self) -> int:
        return max(1, -(-self.summary.payloads // self.per_page))


@dataclass(frozen=True, slots=True)
class RunMark:
    id: int
    created_at: dt.datetime
    step_id: int
    dropped: bool


@dataclass(frozen=True, slots=True)
class HourActivity:
    hour: dt.datetime  # start of the UTC hour
    captures: int
    bytes: int


def _hour_from_bucket(bucket: str) -> dt.datetime:
    return dt.datetime.strptime(bucket, "%Y-%m-%dT%H").replace(tzinfo=dt.UTC)


def _as_utc(moment: Any) -> dt.datetime:
    # Aggregates (min/max) lose the column's type on SQLite, so the naive UTC text or datetime comes back as is.
    if isinstance(moment, str):
        moment = dt.datetime.fromisoformat(moment)
    assert isinstance(moment, dt.datetime)
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


class RunService:
    def __init__(self, connection: Connection, principal: Principal) -> None:
        self.repository = RunRepository(connection, principal.tenant_id)

    async def list_runs(
        self,
        *,
        run_id: int | None = None,
        step_id: int | None = None,
        dropped_only: bool = False,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        page: int,
        per_page: int,
    ) -> Page[RunSummary]:
        rows, total = await self.repository.run_summaries(
            run_id=run_id,
            step_id=step_id,
            dropped_only=dropped_only,
            limit=per_page,
            offset=(page - 1) * per_page,
            since=since,
            until=until,
        )
        items = [
            RunSummary(
                run_id=int(row["run_id"]),
                first_at=_as_utc(row["first_at"]),
                last_at=_as_utc(row["last_at"]),
                payloads=int(row["payloads"]),
                steps=int(row["steps"]),
                bytes=int(row["bytes"] or 0),
                dropped=int(row["dropped"] or 0),
            )
            for row in rows
        ]
        return Page(items, total)

    async def run(self, run_id: int, *, page: int = 1, per_page: int = RUN_RECORDS_PER_PAGE) -> RunDetail | None:
        """A run's summary and one page of its records (capture order), or None for a run this tenant lacks."""
        summaries = await self.list_runs(run_id=run_id, page=1, per_page=1)
        if not summaries.items:
            return None
        rows = await self.repository.run_records(run_id, per_page, (page - 1) * per_page)
        steps: dict[int, list[RunRecord]] = {}
        for row in rows:
            record = RunRecord(
                id=row["id"],
                created_at=_as_utc(row["created_at"]),
                flow_step_id=row["flow_step_id"],
                flow_version_id=row["flow_version_id"],
                flow_log_id=row["flow_log_id"],
                size=row["size"],
                content_type=row["content_type"],
                dropped=bool(row["dropped"]),
                dropped_reason=row["dropped_reason"],
            )
            steps.setdefault(record.flow_step_id, []).append(record)
        ordered = [RunStep(step, records) for step, records in steps.items()]
        return RunDetail(summaries.items[0], ordered, page, per_page)

    async def marks(self, run_id: int) -> list[RunMark]:
        """Every record of a run (up to MAX_TIMELINE_RECORDS) as its timeline draws it."""
        rows = await self.repository.run_marks(run_id, MAX_TIMELINE_RECORDS)
        return [
            RunMark(int(row["id"]), _as_utc(row["created_at"]), int(row["flow_step_id"]), bool(row["dropped"]))
            for row in rows
        ]

    async def neighbour_ids(self, run_id: int, record_id: int) -> tuple[int | None, int | None]:
        return await self.repository.neighbour_ids(run_id, record_id)

    async def newest_record_id(self) -> int:
        return await self.repository.newest_record_id()

    async def hourly_activity(
        self, *, since: dt.datetime, until: dt.datetime, run_id: int | None = None
    ) -> list[HourActivity]:
        """Every hour of ``[since, until)`` (whole UTC hours), zero where nothing was captured."""
        start = since.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)
        rows = await self.repository.hourly_activity(start, until, run_id)
        counted = {_hour_from_bucket(row["hour"]): (int(row["captures"]), int(row["bytes"] or 0)) for row in rows}
        hours: list[HourActivity] = []
        moment = start
        while moment < until:
            captures, size = counted.get(moment, (0, 0))
            hours.append(HourActivity(moment, captures, size))
            moment += dt.timedelta(hours=1)
        return hours
