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
        self, *, run_id: int | None, step_id: int | None, dropped_only: bool, limit: int, offset: int
    ) -> tuple[list[Any], int]:
        """One row per run (newest activity first) and the number of runs that match."""
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
        page = grouped.order_by(func.max(_c.created_at).desc(), _c.flow_run_id.desc()).limit(limit).offset(offset)
        rows = await self.connection.fetch_all(page)
        total = int(await self.connection.scalar(select(func.count()).select_from(grouped.subquery())))
        return rows, total

    async def run_records(self, run_id: int, limit: int) -> list[Any]:
        """A run's records in capture order, with what the console shows of each."""
        statement = (
            self._select(*_RUN_RECORD_COLUMNS)
            .where(_c.flow_run_id == run_id)
            .order_by(_c.created_at, _c.id)
            .limit(limit)
        )
        return await self.connection.fetch_all(statement)

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
        return await self.connection.fetch_all(statement)
