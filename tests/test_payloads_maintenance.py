"""Operator jobs: ``metadock payloads prune`` (retention) and ``metadock payloads fsck`` (store/database consistency).

Run through the real ``metadock`` command in a subprocess where the operator would, and through the maintenance
functions where a test needs to bend time (fsck's grace period, prune's batch size).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import subprocess
import time
from pathlib import Path
from typing import Any

from litestar.testing import TestClient

from metadock.kit.db import Database
from metadock.payloads import maintenance
from metadock.settings import Settings
from tests.factories import (
    PAYLOADS,
    TenantKeys,
    add_payload_records,
    backdate_payload,
    capture_payload,
    laravel_error,
    payload_store,
    put_object,
    remove_object,
    stored_bytes,
    stored_keys,
)
from tests.live import METADOCK

DAY = dt.timedelta(days=1)


def metadock(settings: Settings, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run the ``metadock`` command against the same database and store as the test's app."""
    environment = {name: value for name, value in os.environ.items() if not name.startswith("METADOCK_")}
    environment |= {"METADOCK_DATABASE_URL": settings.database_url, "METADOCK_STORE_URL": settings.resolved_store_url}
    if settings.s3_endpoint_url:
        environment["METADOCK_S3_ENDPOINT_URL"] = settings.s3_endpoint_url  # AWS_* come from os.environ
    environment |= env
    return subprocess.run([METADOCK, *args], env=environment, capture_output=True, text=True, timeout=120, check=False)


def _record(client: TestClient[object], tenant: TenantKeys, record_id: int) -> dict[str, Any]:
    response = client.get(f"{PAYLOADS}/{record_id}", headers=tenant.headers())
    assert response.status_code == 200, response.text
    record: dict[str, Any] = response.json()["data"]
    return record


def _meta(client: TestClient[object], tenant: TenantKeys, record_id: int) -> dict[str, Any]:
    meta: dict[str, Any] = client.get(f"{PAYLOADS}/{record_id}/meta", headers=tenant.headers()).json()["data"]
    return meta


def _download(client: TestClient[object], tenant: TenantKeys, record_id: int) -> Any:
    return client.get(f"{PAYLOADS}/{record_id}/download", headers=tenant.headers())


def _fsck(settings: Settings, *, repair: bool, grace: dt.timedelta | None = None) -> maintenance.FsckReport:
    async def run() -> maintenance.FsckReport:
        database = Database(settings.database_url, pool_size=1)
        try:
            store = payload_store(settings)
            if grace is None:
                return await maintenance.fsck(database, store, repair=repair)
            return await maintenance.fsck(database, store, repair=repair, grace=grace)
        finally:
            await database.dispose()

    return asyncio.run(run())


def _prune(settings: Settings, *, older_than_days: int, batch_size: int) -> int:
    async def run() -> int:
        database = Database(settings.database_url, pool_size=1)
        try:
            store = payload_store(settings)
            return await maintenance.prune(database, store, older_than_days=older_than_days, batch_size=batch_size)
        finally:
            await database.dispose()

    return asyncio.run(run())


def _age_file(settings: Settings, key: str, age: dt.timedelta) -> None:
    path = payload_store(settings).local_path(key)
    assert path is not None
    moment = time.time() - age.total_seconds()
    os.utime(path, (moment, moment))


# Prune ------------------------------------------------------------------------------------------------------------


def test_prune_expires_old_payloads_and_leaves_newer_ones(
    store_client: TestClient[object], store_settings: Settings, tenant: TenantKeys, other_tenant: TenantKeys
) -> None:
    client, settings = store_client, store_settings
    now = dt.datetime.now(dt.UTC)
    old = [capture_payload(client, tenant.headers(), f"old {n}".encode()) for n in range(2)]
    theirs_old = capture_payload(client, other_tenant.headers(), b"their old one")
    recent = capture_payload(client, tenant.headers(), b"recent")
    borderline = capture_payload(client, tenant.headers(), b"29 days old")
    [too_large] = add_payload_records(
        settings.database_url, tenant.uuid, [{"dropped": True, "dropped_reason": "too_large", "stored_at": None}]
    )
    for record in [*old, theirs_old, too_large]:
        backdate_payload(settings.database_url, record["id"], now - 40 * DAY)
    backdate_payload(settings.database_url, borderline["id"], now - 29 * DAY)

    result = metadock(settings, "payloads", "prune", "--older-than", "30")

    assert result.returncode == 0, result.stderr
    assert "Pruned 3 payloads older than 30 days." in result.stdout
    for owner, record in [(tenant, old[0]), (tenant, old[1]), (other_tenant, theirs_old)]:
        pruned = _record(client, owner, record["id"])
        assert pruned["dropped"] == "1"
        assert pruned["payload_size"] == record["payload_size"]
        assert pruned["updated_at"] > pruned["created_at"]
        meta = _meta(client, owner, record["id"])
        assert (meta["dropped"], meta["dropped_reason"]) == (True, "expired")
        assert "expired" in laravel_error(_download(client, owner, record["id"]), 410)["message"]
        assert stored_bytes(settings, record["payload_store_reference"]) is None
    for record, data in [(recent, b"recent"), (borderline, b"29 days old")]:
        assert _record(client, tenant, record["id"])["dropped"] == "0"
        assert _download(client, tenant, record["id"]).content == data
    assert _meta(client, tenant, too_large["id"])["dropped_reason"] == "too_large"
    assert stored_keys(settings) == {recent["payload_store_reference"], borderline["payload_store_reference"]}

    again = metadock(settings, "payloads", "prune", "--older-than", "30")

    assert again.returncode == 0, again.stderr
    assert "Pruned 0 payloads older than 30 days." in again.stdout
    assert _record(client, tenant, recent["id"])["dropped"] == "0"
    assert _meta(client, tenant, old[0]["id"])["dropped_reason"] == "expired"


def test_prune_defaults_to_the_retention_setting(
    client: TestClient[object], settings: Settings, tenant: TenantKeys
) -> None:
    now = dt.datetime.now(dt.UTC)
    expired = capture_payload(client, tenant.headers(), b"11 days")
    kept = capture_payload(client, tenant.headers(), b"9 days")
    backdate_payload(settings.database_url, expired["id"], now - 11 * DAY)
    backdate_payload(settings.database_url, kept["id"], now - 9 * DAY)

    result = metadock(settings, "payloads", "prune", METADOCK_PAYLOAD_RETENTION_DAYS="10")

    assert result.returncode == 0, result.stderr
    assert "Pruned 1 payloads older than 10 days." in result.stdout
    assert _meta(client, tenant, expired["id"])["dropped_reason"] == "expired"
    assert _download(client, tenant, kept["id"]).content == b"9 days"


def test_retention_zero_keeps_payloads_forever(
    client: TestClient[object], settings: Settings, tenant: TenantKeys
) -> None:
    ancient = capture_payload(client, tenant.headers(), b"ancient")
    backdate_payload(settings.database_url, ancient["id"], dt.datetime.now(dt.UTC) - 3650 * DAY)

    result = metadock(settings, "payloads", "prune", METADOCK_PAYLOAD_RETENTION_DAYS="0")

    assert result.returncode == 0, result.stderr
    assert "nothing to prune" in result.stdout
    assert _download(client, tenant, ancient["id"]).content == b"ancient"


def test_prune_refuses_a_non_positive_age(client: TestClient[object], settings: Settings, tenant: TenantKeys) -> None:
    record = capture_payload(client, tenant.headers(), b"fresh")

    result = metadock(settings, "payloads", "prune", "--older-than", "0")

    assert result.returncode != 0
    assert _download(client, tenant, record["id"]).content == b"fresh"


def test_prune_works_through_every_batch(client: TestClient[object], settings: Settings, tenant: TenantKeys) -> None:
    records = [capture_payload(client, tenant.headers(), f"payload {n}".encode()) for n in range(5)]
    for record in records:
        backdate_payload(settings.database_url, record["id"], dt.datetime.now(dt.UTC) - 2 * DAY)

    assert _prune(settings, older_than_days=1, batch_size=2) == 5

    assert all(_meta(client, tenant, record["id"])["dropped_reason"] == "expired" for record in records)
    assert stored_keys(settings) == set()
    assert _prune(settings, older_than_days=1, batch_size=2) == 0


# fsck ---------------------------------------------------------------------------------------------------------------


def test_fsck_finds_and_removes_orphaned_bytes(
    store_client: TestClient[object], store_settings: Settings, tenant: TenantKeys, other_tenant: TenantKeys
) -> None:
    client, settings = store_client, store_settings
    mine = capture_payload(client, tenant.headers(), b"mine")
    theirs = capture_payload(client, other_tenant.headers(), b"theirs")
    orphan = put_object(settings, b"bytes whose record was never written")

    report = _fsck(settings, repair=False, grace=dt.timedelta(0))

    assert report.orphaned_keys == [orphan]
    assert report.missing_records == []
    assert stored_bytes(settings, orphan) is not None  # only reported

    repaired = _fsck(settings, repair=True, grace=dt.timedelta(0))

    assert repaired.orphaned_keys == [orphan]
    assert stored_bytes(settings, orphan) is None
    assert stored_keys(settings) == {mine["payload_store_reference"], theirs["payload_store_reference"]}
    assert _download(client, tenant, mine["id"]).content == b"mine"
    assert _download(client, other_tenant, theirs["id"]).content == b"theirs"
    clean = _fsck(settings, repair=False, grace=dt.timedelta(0))
    assert (clean.orphaned_keys, clean.missing_records) == ([], [])


def test_fsck_leaves_bytes_of_a_capture_in_flight_alone(settings: Settings) -> None:
    # Just written, no record yet: a capture about to write its record looks exactly like this.
    young = put_object(settings, b"in flight")

    report = _fsck(settings, repair=True)

    assert report.orphaned_keys == []
    assert stored_bytes(settings, young) == b"in flight"


def test_fsck_marks_records_whose_bytes_vanished(
    store_client: TestClient[object], store_settings: Settings, tenant: TenantKeys
) -> None:
    client, settings = store_client, store_settings
    lost = capture_payload(client, tenant.headers(), b"lost")
    kept = capture_payload(client, tenant.headers(), b"kept")
    remove_object(settings, lost["payload_store_reference"])

    report = _fsck(settings, repair=False, grace=dt.timedelta(0))

    assert report.missing_records == [lost["id"]]
    assert report.orphaned_keys == []
    assert _record(client, tenant, lost["id"])["dropped"] == "0"  # only reported

    _fsck(settings, repair=True, grace=dt.timedelta(0))

    assert _record(client, tenant, lost["id"])["dropped"] == "1"
    meta = _meta(client, tenant, lost["id"])
    assert (meta["dropped"], meta["dropped_reason"]) == (True, "deleted")
    assert "deleted" in laravel_error(_download(client, tenant, lost["id"]), 410)["message"]
    assert _record(client, tenant, kept["id"])["dropped"] == "0"
    assert _download(client, tenant, kept["id"]).content == b"kept"


def test_a_record_whose_bytes_vanished_downloads_as_410_even_before_fsck(
    store_client: TestClient[object], store_settings: Settings, tenant: TenantKeys
) -> None:
    record = capture_payload(store_client, tenant.headers(), b"soon gone")
    remove_object(store_settings, record["payload_store_reference"])

    response = _download(store_client, tenant, record["id"])

    assert "deleted" in laravel_error(response, 410)["message"]


def test_the_fsck_command_reports_then_repairs(
    client: TestClient[object], settings: Settings, tenant: TenantKeys
) -> None:
    hour_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    orphan = put_object(settings, b"orphan")
    _age_file(settings, orphan, dt.timedelta(hours=1))
    lost = capture_payload(client, tenant.headers(), b"lost")
    backdate_payload(settings.database_url, lost["id"], hour_ago)
    remove_object(settings, lost["payload_store_reference"])
    healthy = capture_payload(client, tenant.headers(), b"healthy")
    backdate_payload(settings.database_url, healthy["id"], hour_ago)
    _age_file(settings, healthy["payload_store_reference"], dt.timedelta(hours=1))

    checked = metadock(settings, "payloads", "fsck")

    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert f"orphaned bytes: {orphan}\n" in checked.stdout
    assert f"record without bytes: {lost['id']} (deleted)\n" in checked.stdout
    assert "1 orphaned objects, 1 records without bytes" in checked.stdout
    assert healthy["payload_store_reference"] not in checked.stdout
    assert stored_bytes(settings, orphan) == b"orphan"
    assert _record(client, tenant, lost["id"])["dropped"] == "0"

    repaired = metadock(settings, "payloads", "fsck", "--repair")

    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    assert f"orphaned bytes: {orphan} (removed)" in repaired.stdout
    assert f"record without bytes: {lost['id']} (marked dropped: deleted)" in repaired.stdout
    assert stored_bytes(settings, orphan) is None
    assert _meta(client, tenant, lost["id"])["dropped_reason"] == "deleted"
    assert _download(client, tenant, healthy["id"]).content == b"healthy"

    again = metadock(settings, "payloads", "fsck")

    assert again.returncode == 0, again.stdout + again.stderr
    assert "0 orphaned objects, 0 records without bytes" in again.stdout


def test_fsck_repair_removes_leftovers_of_killed_uploads(settings: Settings) -> None:
    root = Path(settings.resolved_store_url.removeprefix("file://"))
    name = "ab" + "cd" + "0" * 28
    stale = root / "ab" / "cd" / f"{name}#1"
    live = root / "ab" / "cd" / f"{name}#2"
    stale.parent.mkdir(parents=True)
    for path in (stale, live):
        path.write_bytes(b"part of an upload")
    moment = time.time() - dt.timedelta(hours=7).total_seconds()
    os.utime(stale, (moment, moment))

    report = _fsck(settings, repair=True)

    assert report.stale_uploads_removed == 1
    assert not stale.exists()
    assert live.exists()  # an upload still being written
    assert report.orphaned_keys == []  # staging files are not objects
