"""The console's aggregate reads (runs, a run's steps, hourly activity) on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from typing import Any

from metadock.kit.db import Connection
from metadock.kit.principal import Principal, Role
from metadock.payloads.runs import RunService
from metadock.tenants.service import TenantService
from tests.factories import TenantKeys, add_payload_records, run_in_transaction

T0 = dt.datetime(2026, 11, 20, 10, 15, tzinfo=dt.UTC)
TOO_LARGE = {"dropped": True, "dropped_reason": "too_large"}


def _at(minutes: int) -> dict[str, Any]:
    moment = T0 + dt.timedelta(minutes=minutes)
    return {"created_at": moment, "updated_at": moment, "stored_at": moment}


def _seed(database_url: str, tenant: TenantKeys) -> None:
    add_payload_records(
        database_url,
        tenant.uuid,
        [
            {"flow_run_id": 7, "flow_step_id": 2, "size": 10, **_at(0)},
            {"flow_run_id": 7, "flow_step_id": 1, "size": 20, **_at(5)},
            {"flow_run_id": 7, "flow_step_id": 2, "size": 30, **_at(50)},  # 11:05
            {"flow_run_id": 7, "flow_step_id": 3, "size": 999, **_at(65), **TOO_LARGE},
            {"flow_run_id": 8, "flow_step_id": 1, "size": 5, **_at(180)},  # 13:xx, the newest run
            {"flow_run_id": 9, "flow_step_id": 4, "size": 1, **_at(-60 * 24)},  # a day before
        ],
    )


def _service_run(database_url: str, tenant_uuid: str, work: Any) -> Any:
    async def run(connection: Connection) -> Any:
        tenant = await TenantService(connection).get_tenant(tenant_uuid)
        return await work(RunService(connection, Principal(tenant.id, tenant.uuid, Role.READER, "test")))

    return run_in_transaction(database_url, run)


def test_runs_are_summarised_newest_first_with_sizes_steps_and_drops(
    database_url: str, tenant: TenantKeys, other_tenant: TenantKeys
) -> None:
    _seed(database_url, tenant)
    add_payload_records(database_url, other_tenant.uuid, [{"flow_run_id": 7, "size": 1000, **_at(500)}])

    page = _service_run(database_url, tenant.uuid, lambda service: service.list_runs(page=1, per_page=10))

    assert page.total == 3
    assert [run.run_id for run in page.items] == [8, 7, 9]
    run7 = page.items[1]
    assert (run7.payloads, run7.steps, run7.bytes, run7.dropped) == (4, 3, 60, 1)  # the dropped 999 never stored
    assert run7.first_at == T0
    assert run7.last_at == T0 + dt.timedelta(minutes=65)


def test_runs_filter_and_page(database_url: str, tenant: TenantKeys) -> None:
    _seed(database_url, tenant)

    def runs(**kwargs: Any) -> tuple[list[int], int]:
        page = _service_run(database_url, tenant.uuid, lambda service: service.list_runs(**kwargs))
        return [run.run_id for run in page.items], page.total

    assert runs(page=1, per_page=2) == ([8, 7], 3)
    assert runs(page=2, per_page=2) == ([9], 3)
    assert runs(run_id=7, page=1, per_page=10) == ([7], 1)
    assert runs(step_id=1, page=1, per_page=10) == ([8, 7], 2)
    assert runs(dropped_only=True, page=1, per_page=10) == ([7], 1)
    assert runs(run_id=12345, page=1, per_page=10) == ([], 0)


def test_a_runs_steps_come_in_capture_order(database_url: str, tenant: TenantKeys, other_tenant: TenantKeys) -> None:
    _seed(database_url, tenant)
    detail = _service_run(database_url, tenant.uuid, lambda service: service.run(7))

    assert [step.step_id for step in detail.steps] == [2, 1, 3]
    assert [record.size for record in detail.steps[0].records] == [10, 30]
    assert detail.steps[2].records[0].dropped_reason == "too_large"
    assert detail.last_page == 1
    assert (detail.summary.payloads, detail.summary.dropped) == (4, 1)
    assert _service_run(database_url, other_tenant.uuid, lambda service: service.run(7)) is None


def test_a_run_is_paged_in_capture_order_and_marked_to_the_millisecond(
    database_url: str, tenant: TenantKeys, other_tenant: TenantKeys
) -> None:
    _seed(database_url, tenant)
    add_payload_records(database_url, other_tenant.uuid, [{"flow_run_id": 7, **_at(1)}])
    second = _service_run(database_url, tenant.uuid, lambda service: service.run(7, page=2, per_page=3))
    assert second.last_page == 2
    assert [record.size for step in second.steps for record in step.records] == [999]  # the fourth capture
    add_payload_records(
        database_url, tenant.uuid, [{"flow_run_id": 7, **_at(0), "created_at": T0 + dt.timedelta(milliseconds=7)}]
    )
    marks = _service_run(database_url, tenant.uuid, lambda service: service.marks(7))
    assert len(marks) == 5  # this tenant's records of run 7 only
    assert (marks[1].created_at - marks[0].created_at) == dt.timedelta(milliseconds=7)
    assert [mark.dropped for mark in marks] == [False, False, False, False, True]


def test_runs_are_filtered_by_the_time_they_were_active(database_url: str, tenant: TenantKeys) -> None:
    _seed(database_url, tenant)

    def runs(**kwargs: Any) -> list[int]:
        page = _service_run(database_url, tenant.uuid, lambda service: service.list_runs(page=1, per_page=10, **kwargs))
        return [run.run_id for run in page.items]

    # Run 7 captured from 10:15 to 11:20: a range that only overlaps its end still finds it, whole.
    assert runs(since=T0 + dt.timedelta(minutes=60), until=T0 + dt.timedelta(minutes=70)) == [7]
    assert runs(since=T0 + dt.timedelta(minutes=66)) == [8]
    assert runs(until=T0) == [9]  # a day before; run 7 began exactly at T0, so is not before it
    assert _service_run(database_url, tenant.uuid, lambda service: service.newest_record_id()) > 0


def test_hourly_activity_counts_captures_and_stored_bytes_per_utc_hour(
    database_url: str, tenant: TenantKeys, other_tenant: TenantKeys
) -> None:
    _seed(database_url, tenant)
    add_payload_records(database_url, other_tenant.uuid, [{"flow_run_id": 7, "size": 1000, **_at(0)}])
    since, until = T0 - dt.timedelta(hours=1), T0 + dt.timedelta(hours=4)

    hours = _service_run(database_url, tenant.uuid, lambda s: s.hourly_activity(since=since, until=until))
    by_hour = {hour.hour.hour: (hour.captures, hour.bytes) for hour in hours}

    assert hours[0].hour == dt.datetime(2026, 11, 20, 9, tzinfo=dt.UTC)
    assert len(hours) == 6  # 09..14 (the last one begun), the empty hours included
    assert by_hour == {9: (0, 0), 10: (2, 30), 11: (2, 30), 12: (0, 0), 13: (1, 5), 14: (0, 0)}

    run_hours = _service_run(database_url, tenant.uuid, lambda s: s.hourly_activity(since=since, until=until, run_id=8))
    assert [(hour.hour.hour, hour.captures) for hour in run_hours if hour.captures] == [(13, 1)]
