"""Record retention: ``metadock payloads prune --records-older-than DAYS`` (and ``METADOCK_RECORD_RETENTION_DAYS``)
deletes old records with their bytes; totals, deep pages and fsck stay right, also when it is interrupted or runs
while captures go on. SQLite hands the freed space back to the file system.

Through the real ``metadock`` command where the operator would run it, and through ``maintenance.prune_records``
where a test needs a batch size or an interruption between batches.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import sqlite3
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import func, insert, select, update

from metadock.kit.db import Database
from metadock.kit.repository import ANCHORS
from metadock.payloads import maintenance
from metadock.payloads.repository import PayloadMaintenanceRepository
from metadock.payloads.table import payload_counts, payload_metadata
from metadock.settings import Settings
from tests.factories import (
    PAYLOADS,
    TenantKeys,
    add_payload_records,
    capture_payload,
    payload_store,
    run_in_transaction,
    stored_bytes,
    stored_keys,
)
from tests.test_payloads_maintenance import metadock

DAY = dt.timedelta(days=1)
_c = payload_metadata.c


def _backdate(database_url: str, record_ids: Iterable[int], moment: dt.datetime) -> None:
    ids = list(record_ids)

    async def work(connection: Any) -> None:
        await connection.execute(update(payload_metadata).where(_c.id.in_(ids)).values(created_at=moment))

    run_in_transaction(database_url, work)


def _totals_and_counts(database_url: str) -> tuple[dict[int, int], dict[int, int]]:
    """Each tenant's kept total, and its rows counted."""

    async def work(connection: Any) -> tuple[dict[int, int], dict[int, int]]:
        totals = await connection.fetch_all(select(payload_counts.c.tenant_id, payload_counts.c.total))
        counted = await connection.fetch_all(select(_c.tenant_id, func.count().label("rows")).group_by(_c.tenant_id))
        return (
            {row["tenant_id"]: row["total"] for row in totals if row["total"]},
            {row["tenant_id"]: row["rows"] for row in counted},
        )

    return run_in_transaction(database_url, work)


def _assert_totals_exact(database_url: str) -> None:
    totals, counted = _totals_and_counts(database_url)
    assert totals == counted


def _with_database(settings: Settings, job: Callable[[Database], Any]) -> Any:
    async def run() -> Any:
        database = Database(settings.database_url, pool_size=2)
        try:
            return await job(database)
        finally:
            await database.dispose()

    return asyncio.run(run())


def _prune_records(
    settings: Settings,
    *,
    older_than_days: int,
    batch_size: int = maintenance.BATCH,
    started: dt.datetime | None = None,
    after_batch: Callable[[int], None] | None = None,
) -> int:
    store = payload_store(settings)
    return int(
        _with_database(
            settings,
            lambda database: maintenance.prune_records(
                database,
                store,
                older_than_days=older_than_days,
                batch_size=batch_size,
                started=started,
                after_batch=after_batch,
            ),
        )
    )


def _fsck(settings: Settings) -> maintenance.FsckReport:
    store = payload_store(settings)
    report: maintenance.FsckReport = _with_database(
        settings, lambda database: maintenance.fsck(database, store, repair=False, grace=dt.timedelta(0))
    )
    return report


def _listed(client: TestClient[object], tenant: TenantKeys, **params: str) -> dict[str, Any]:
    response = client.get(PAYLOADS, params=params, headers=tenant.headers("reader"))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_prune_deletes_old_records_and_their_bytes_and_keeps_totals_exact(
    store_client: TestClient[object], store_settings: Settings, tenant: TenantKeys, other_tenant: TenantKeys
) -> None:
    client, settings = store_client, store_settings
    now = dt.datetime.now(dt.UTC)
    old = [capture_payload(client, tenant.headers(), f"old {n}".encode()) for n in range(3)]
    theirs_old = capture_payload(client, other_tenant.headers(), b"their old one")
    recent = capture_payload(client, tenant.headers(), b"recent")
    borderline = capture_payload(client, tenant.headers(), b"29 days old")
    [too_large] = add_payload_records(
        settings.database_url, tenant.uuid, [{"dropped": True, "dropped_reason": "too_large", "stored_at": None}]
    )
    _backdate(settings.database_url, [record["id"] for record in [*old, theirs_old, too_large]], now - 40 * DAY)
    _backdate(settings.database_url, [borderline["id"]], now - 29 * DAY)
    # One of them had its bytes pruned already, as a 30-day byte retention would have done.
    assert metadock(settings, "payloads", "prune", "--older-than", "35").returncode == 0

    result = metadock(settings, "payloads", "prune", "--records-older-than", "30")

    assert result.returncode == 0, result.stderr
    assert "Deleted 5 records older than 30 days." in result.stdout
    for owner, record in [*((tenant, record) for record in [*old, too_large]), (other_tenant, theirs_old)]:
        assert client.get(f"{PAYLOADS}/{record['id']}", headers=owner.headers()).status_code == 404
        assert client.get(f"{PAYLOADS}/{record['id']}/download", headers=owner.headers()).status_code == 404
    for record, data in [(recent, b"recent"), (borderline, b"29 days old")]:
        assert client.get(f"{PAYLOADS}/{record['id']}/download", headers=tenant.headers()).content == data
    assert stored_keys(settings) == {recent["payload_store_reference"], borderline["payload_store_reference"]}
    assert _listed(client, tenant)["meta"]["total"] == 2
    assert _listed(client, other_tenant)["meta"]["total"] == 0
    _assert_totals_exact(settings.database_url)
    report = _fsck(settings)
    assert (report.orphaned_keys, report.missing_records) == ([], [])

    again = metadock(settings, "payloads", "prune", "--records-older-than", "30")

    assert again.returncode == 0, again.stderr
    assert "Deleted 0 records older than 30 days." in again.stdout
    assert [row["id"] for row in _listed(client, tenant)["data"]] == [recent["id"], borderline["id"]]


def test_record_retention_setting_and_zero_days(
    client: TestClient[object], settings: Settings, tenant: TenantKeys
) -> None:
    now = dt.datetime.now(dt.UTC)
    ancient = capture_payload(client, tenant.headers(), b"ancient")
    _backdate(settings.database_url, [ancient["id"]], now - 3650 * DAY)
    fresh = capture_payload(client, tenant.headers(), b"fresh")

    # The default keeps records forever (only bytes are pruned).
    kept = metadock(settings, "payloads", "prune")
    assert "Deleted" not in kept.stdout
    assert client.get(f"{PAYLOADS}/{ancient['id']}", headers=tenant.headers()).status_code == 200

    by_setting = metadock(settings, "payloads", "prune", METADOCK_RECORD_RETENTION_DAYS="365")
    assert "Deleted 1 records older than 365 days." in by_setting.stdout, by_setting.stderr
    assert client.get(f"{PAYLOADS}/{ancient['id']}", headers=tenant.headers()).status_code == 404

    everything = metadock(settings, "payloads", "prune", "--records-older-than", "0")
    assert "Deleted 1 records older than 0 days." in everything.stdout, everything.stderr
    assert client.get(f"{PAYLOADS}/{fresh['id']}", headers=tenant.headers()).status_code == 404
    assert _listed(client, tenant)["meta"]["total"] == 0
    assert stored_keys(settings) == set()


def test_deep_pages_from_anchors_stay_exact_after_a_prune(
    client: TestClient[object], settings: Settings, tenant: TenantKeys, spaced_anchors: None
) -> None:
    draw = random.Random(3)
    specs = [{"flow_run_id": draw.choice([1, 2])} for _ in range(200)]
    records = add_payload_records(settings.database_url, tenant.uuid, specs)
    queries = [{"page": str(page), "per_page": "10"} for page in range(1, 22)]
    queries += [{"filter[flow_run_id]": "2", "page": str(page), "per_page": "7"} for page in range(1, 16)]
    for params in queries:
        _listed(client, tenant, **params)
    assert ANCHORS.count() > 0  # deep pages were served from anchors, which the prune must retire
    # The oldest 120 by capture time are the first ones by id, the rest are newer.
    _backdate(settings.database_url, [record["id"] for record in records[:120]], dt.datetime.now(dt.UTC) - 10 * DAY)

    assert _prune_records(settings, older_than_days=5, batch_size=50) == 120

    remaining = records[120:]
    for params in queries:
        body = _listed(client, tenant, **params)
        wanted = [r for r in remaining if "filter[flow_run_id]" not in params or r["flow_run_id"] == 2]
        page, per_page = int(params["page"]), int(params["per_page"])
        expected = [r["id"] for r in wanted[(page - 1) * per_page : page * per_page]]
        assert ([row["id"] for row in body["data"]], body["meta"]["total"]) == (expected, len(wanted)), params


def test_an_interrupted_prune_leaves_a_consistent_state_and_its_rerun_finishes(
    client: TestClient[object], settings: Settings, tenant: TenantKeys
) -> None:
    records = [capture_payload(client, tenant.headers(), f"payload {n}".encode()) for n in range(12)]
    kept = capture_payload(client, tenant.headers(), b"kept")
    _backdate(settings.database_url, [record["id"] for record in records], dt.datetime.now(dt.UTC) - 2 * DAY)
    # A byte prune killed after marking a batch dropped and before removing its bytes.
    marked = _with_database(
        settings,
        lambda database: _mark_dropped_only(database, dt.datetime.now(dt.UTC) - DAY, limit=4),
    )
    assert len(marked) == 4
    assert all(stored_bytes(settings, key) is not None for key in marked)

    def stop_after_the_first_batch(deleted: int) -> None:
        raise KeyboardInterrupt(f"stopped after {deleted}")

    with pytest.raises(KeyboardInterrupt):
        _prune_records(settings, older_than_days=1, batch_size=5, after_batch=stop_after_the_first_batch)

    remaining = _listed(client, tenant, per_page="100")
    assert remaining["meta"]["total"] == len(remaining["data"]) == 13 - 5
    _assert_totals_exact(settings.database_url)
    report = _fsck(settings)
    assert (report.orphaned_keys, report.missing_records) == ([], [])
    assert not any(stored_bytes(settings, key) for key in marked)  # bytes of the killed byte prune went too

    assert _prune_records(settings, older_than_days=1, batch_size=5) == 7
    assert _prune_records(settings, older_than_days=1, batch_size=5) == 0
    assert [row["id"] for row in _listed(client, tenant)["data"]] == [kept["id"]]
    assert stored_keys(settings) == {kept["payload_store_reference"]}
    _assert_totals_exact(settings.database_url)


async def _mark_dropped_only(database: Database, cutoff: dt.datetime, *, limit: int) -> list[str]:
    async with database.transaction() as connection:
        rows = await PayloadMaintenanceRepository(connection).drop_expired_batch(cutoff, limit, dt.datetime.now(dt.UTC))
    return [row["store_key"] for row in rows]


def test_prune_while_captures_run_loses_no_new_capture(
    client: TestClient[object], settings: Settings, tenant: TenantKeys
) -> None:
    old = add_payload_records(settings.database_url, tenant.uuid, [{} for _ in range(400)])
    started = dt.datetime.now(dt.UTC)
    errors: list[BaseException] = []

    def prune() -> None:
        try:
            _prune_records(settings, older_than_days=0, batch_size=20, started=started)
        except BaseException as error:  # noqa: BLE001 - reported by the test's thread
            errors.append(error)

    pruner = threading.Thread(target=prune)
    pruner.start()
    captured = []
    while pruner.is_alive() or len(captured) < 20:
        captured.append(capture_payload(client, tenant.headers(), f"new {len(captured)}".encode()))
    pruner.join()

    assert errors == []
    listed = _listed(client, tenant, per_page="1000")
    assert [row["id"] for row in listed["data"]] == [record["id"] for record in captured]
    assert listed["meta"]["total"] == len(captured)
    assert not {record["id"] for record in old} & {row["id"] for row in listed["data"]}
    for n, record in enumerate(captured):
        download = client.get(f"{PAYLOADS}/{record['id']}/download", headers=tenant.headers())
        assert download.content == f"new {n}".encode()
    _assert_totals_exact(settings.database_url)


def _file_size(path: Path) -> int:
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path.stat().st_size


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # PostgreSQL's files are autovacuum's
def test_the_sqlite_file_shrinks_after_pruning_most_records(settings: Settings, tenant: TenantKeys) -> None:
    path = Path(settings.database_url.removeprefix("sqlite:///"))
    long_ago = dt.datetime.now(dt.UTC) - 100 * DAY
    [template] = add_payload_records(settings.database_url, tenant.uuid, [{}])

    async def fill(database: Database) -> None:
        async with database.transaction() as connection:
            tenant_id = await connection.scalar(select(_c.tenant_id).where(_c.id == template["id"]))
            rows = [
                {
                    "tenant_id": tenant_id,
                    "flow_run_id": n,
                    "flow_step_id": n % 7,
                    "store_key": f"{n:02x}"[-2:] + "/00/" + f"{n:032x}",
                    "size": 2,
                    "content_type": "application/json; profile=" + "x" * 150,
                    "dropped": True,
                    "dropped_reason": "too_large",
                    "created_at": long_ago if n % 10 else dt.datetime.now(dt.UTC),
                    "updated_at": long_ago,
                }
                for n in range(30_000)
            ]
            await connection.execute(insert(payload_metadata), rows)
        await maintenance.recount_totals(database)

    _with_database(settings, fill)
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA auto_vacuum").fetchone() == (2,)  # INCREMENTAL, set for a new database
    before = _file_size(path)

    assert _prune_records(settings, older_than_days=30) == 27_000

    after = _file_size(path)
    assert after < before * 0.4, (before, after)
    _assert_totals_exact(settings.database_url)


def test_db_vacuum_converts_an_older_sqlite_file_and_runs_on_postgresql(settings: Settings) -> None:
    path = Path(settings.database_url.removeprefix("sqlite:///"))
    if settings.database_url.startswith("sqlite"):
        with sqlite3.connect(path) as connection:  # as a file created before auto_vacuum was set
            connection.execute("PRAGMA auto_vacuum=NONE")
            connection.execute("VACUUM")
            assert connection.execute("PRAGMA auto_vacuum").fetchone() == (0,)

    result = metadock(settings, "db", "vacuum")

    assert result.returncode == 0, result.stderr
    assert "Database vacuumed." in result.stdout
    if settings.database_url.startswith("sqlite"):
        with sqlite3.connect(path) as connection:
            assert connection.execute("PRAGMA auto_vacuum").fetchone() == (2,)
