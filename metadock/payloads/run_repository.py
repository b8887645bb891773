"""Aggregate reads over payload records for the console: flow runs and hourly activity, always within one tenant.

Kept apart from :mod:`metadock.payloads.repository` (the API's hot paths): these are GROUP BY queries over a
tenant's records, and each must give the same answer on SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from sqlalchemy import BigInteger, Integer, case, cast, func, literal_column, select
from sqlalchemy.sql.elements import ColumnElement

from metadock.kit.repository import TenantScopedRepository
from metadock.payloads.table import payload_metadata

_c = payload_metadata.c

# What the console shows of each record of a run.
_RUN_RECORD_COLUMNS = (
    _c.id,
    _c.created_at,
    _c.flow_version_id,
    _c.flow_step_id,
    _c.flow_run_id,
    _c.flow_log_id,
    _c.size,
    _c.content_type,
    _c.dropped,
    _c.dropped_reason,
)

# Bytes that reached the store at capture: a payload dropped as too large never did (its size is the one announced).
_STORED_BYTES = case((_c.dropped_reason == "too_large", 0), else_=_c.size)
_DROPPED = case((_c.dropped.is_(True), 1), else_=0)


def _hour_bucket(dialect_name: str) -> ColumnElement[Any]:
    """The UTC hour a record was captured in, as text ``YYYY-MM-DDTHH`` on both databases (so buckets compare)."""
    if dialect_name == "postgresql":
        return func.to_char(func.timezone("UTC", _c.created_at), literal_column("'YYYY-MM-DD\"T\"HH24'"))
    # SQLite keeps the UTC time as naive ISO text; strftime reads it as is.
    return func.strftime("%Y-%m-%dT%H", _c.created_at)


class RunRepository(TenantScopedRepository):
    table = payload_metadata
    columns: ClassVar[dict[str, Any]] = {"id": _c.id, "flow_run_id": _c.flow_run_id}

    # The only two places that talk to the connection: the Connection API is changing under us (fetch_all, scalar).
    async def _rows(self, statement: Any) -> list[Any]:
        return list(await self.connection.fetch_all(statement))

    async def _scalar(self, statement: Any) -> Any:
        return await self.connection.scalar(statement)

    def _run_filters(self, run_id: int | None, step_id: int | None) -> list[ColumnElement[bool]]:
        clauses: list[ColumnElement[bool]] = []
        if run_id is not None:
            clauses.append(_c.flow_run_id == run_id)
        if step_id is not None:
            # Runs that have a payload of this step (all of their payloads are summarised, not only that step's).
            runs_with_step = self._select(_c.flow_run_id).where(_c.flow_step_id == step_id)
            clauses.append(_c.flow_run_id.in_(runs_with_step.scalar_subquery()))
        return clauses

    async def run_summaries(
        self,
        *,
        run_id: int | None,
        step_id: int | None,
        dropped_only: bool,
        limit: int,
        offset: int,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
    ) -> tuple[list[Any], int]:
        """One row per run (newest activity first) and the number of runs that match; ``since``/``until`` keep the
        runs active in that range (a run that began before it but was still capturing in it is kept, whole)."""
        dropped = func.sum(_DROPPED)
        grouped = (
            self._select(
                _c.flow_run_id.label("run_id"),
                func.min(_c.created_at).label("first_at"),
                func.max(_c.created_at).label("last_at"),
                func.count().label("payloads"),
                func.count(_c.flow_step_id.distinct()).label("steps"),
                cast(func.sum(_STORED_BYTES), BigInteger).label("bytes"),
                cast(dropped, Integer).label("dropped"),
            )
            .where(*self._run_filters(run_id, step_id))
            .group_by(_c.flow_run_id)
        )
        if dropped_only:
            grouped = grouped.having(dropped > 0)
        if since is not None:
            grouped = grouped.having(func.max(_c.created_at) >= since)
        if until is not None:
            grouped = grouped.having(func.min(_c.created_at) < until)
        page = grouped.order_by(func.max(_c.created_at).desc(), _c.flow_run_id.desc()).limit(limit).offset(offset)
        rows = await self._rows(page)
        total = int(await self._scalar(select(func.count()).select_from(grouped.subquery())))
        return rows, total

    async def run_records(self, run_id: int, limit: int, offset: int = 0) -> list[Any]:
        """A page of a run's records in capture order, with what the console shows of each."""
        statement = (
            self._select(*_RUN_RECORD_COLUMNS)
            .where(_c.flow_run_id == run_id)
            .order_by(_c.created_at, _c.id)
            .limit(limit)
            .offset(offset)
        )
        return await self._rows(statement)

    async def run_marks(self, run_id: int, limit: int) -> list[Any]:
        """What a run's timeline draws of each record (capture order): the few columns, for up to ``limit``."""
        statement = (
            self._select(_c.id, _c.created_at, _c.flow_step_id, _c.dropped)
            .where(_c.flow_run_id == run_id)
            .order_by(_c.created_at, _c.id)
            .limit(limit)
        )
        return await self._rows(statement)

    async def neighbour_ids(self, run_id: int, record_id: int) -> tuple[int | None, int | None]:
        """The run's payloads just before and after this one (by id, the order they were recorded in)."""
        in_run = _c.flow_run_id == run_id
        before = self._select(func.max(_c.id)).where(in_run, _c.id < record_id)
        after = self._select(func.min(_c.id)).where(in_run, _c.id > record_id)
        return await self._scalar(before), await self._scalar(after)

    async def newest_record_id(self) -> int:
        """The tenant's newest capture, for the runs page's "new captures" indicator (0 when there is none)."""
        return int(await self._scalar(self._select(func.coalesce(func.max(_c.id), 0))))

    async def hourly_activity(self, since: dt.datetime, until: dt.datetime, run_id: int | None) -> list[Any]:
        """Captures and stored bytes per UTC hour in ``[since, until)``; hours without captures are absent."""
        bucket = _hour_bucket(self.connection.dialect_name).label("hour")
        statement = (
            self._select(
                bucket, func.count().label("captures"), cast(func.sum(_STORED_BYTES), BigInteger).label("bytes")
            )
            .where(_c.created_at >= since, _c.created_at < until, *self._run_filters(run_id, None))
            .group_by(bucket)
            .order_by(bucket)
        )
        return await self._rows(statement)
