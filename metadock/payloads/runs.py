"""Flow runs and capture activity as the console shows them: summaries per run, a run's steps, hourly activity."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from metadock.kit.db import Connection
from metadock.kit.principal import Principal
from metadock.kit.query import Page
from metadock.payloads.run_repository import RunRepository

# A run with more records than this is shown in part (the page says so); the API lists every record.
MAX_RUN_RECORDS = 1000


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
    run_id: int
    steps: list[RunStep]  # in the order each step was first captured
    truncated: bool


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
        page: int,
        per_page: int,
    ) -> Page[RunSummary]:
        rows, total = await self.repository.run_summaries(
            run_id=run_id, step_id=step_id, dropped_only=dropped_only, limit=per_page, offset=(page - 1) * per_page
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

    async def run(self, run_id: int) -> RunDetail | None:
        rows = await self.repository.run_records(run_id, MAX_RUN_RECORDS + 1)
        if not rows:
            return None
        steps: dict[int, list[RunRecord]] = {}
        for row in rows[:MAX_RUN_RECORDS]:
            record = RunRecord(
                id=row["id"],
                created_at=row["created_at"],
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
        return RunDetail(run_id, ordered, truncated=len(rows) > MAX_RUN_RECORDS)

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
