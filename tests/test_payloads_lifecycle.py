"""Object-store lifecycle (issue 14 item 4): ``metadock store lifecycle`` against the real S3 server, and bytes that
a lifecycle rule (or an operator) removed behind Metadock's back, on both databases and both stores.

Nothing here waits for a rule to fire (S3 counts days): the objects are deleted straight on the server, with a
client of the test's own, exactly as a lifecycle rule would leave them: the record live, the object gone.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import json
import os
import subprocess
import sys
import uuid
import zipfile
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import botocore.session
import obstore as obs
import pytest
from botocore.config import Config
from litestar.testing import TestClient
from obstore.store import S3Store
from sqlalchemy import update

from metadock.app import create_app
from metadock.kit.db import Connection, Database
from metadock.payloads import maintenance
from metadock.payloads.table import payload_metadata
from metadock.settings import Settings
from tests.console.helpers import PASSWORD, create_people, csrf_of
from tests.factories import (
    PAYLOADS,
    TenantKeys,
    add_payload_records,
    capture_payload,
    laravel_error,
    payload_store,
    run_in_transaction,
    stored_bytes,
)
from tests.live import METADOCK
from tests.s3server import ACCESS_KEY, REGION, SECRET_KEY, S3Server

RETENTION_DAYS = 30
DAY = dt.timedelta(days=1)


def _metadock(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    environment = {name: value for name, value in os.environ.items() if not name.startswith("METADOCK_")}
    return subprocess.run(
        [METADOCK, *args], env=environment | env, capture_output=True, text=True, timeout=120, check=False
    )


def _s3_env(server: S3Server, store_url: str, days: int) -> dict[str, str]:
    return {
        **server.aws_env(),
        "METADOCK_STORE_URL": store_url,
        "METADOCK_S3_ENDPOINT_URL": server.endpoint,
        "METADOCK_PAYLOAD_RETENTION_DAYS": str(days),
    }


def _s3_client(server: S3Server) -> Any:
    """The test's own S3 client, to read back what the command set: never Metadock's code."""
    config = Config(s3={"addressing_style": "path"}, request_checksum_calculation="when_required")
    return botocore.session.get_session().create_client(
        "s3",
        endpoint_url=server.endpoint,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        region_name=REGION,
        config=config,
    )


def _rules(client: Any, bucket: str) -> list[dict[str, Any]]:
    try:
        return list(client.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"])
    except client.exceptions.ClientError as error:
        if error.response["Error"]["Code"] != "NoSuchLifecycleConfiguration":
            raise
        return []


@pytest.fixture
def s3_client(s3_server: S3Server) -> Iterator[Any]:
    """The test server's bucket lifecycle, emptied before and after (it is one document for the whole bucket)."""
    client = _s3_client(s3_server)
    client.delete_bucket_lifecycle(Bucket=s3_server.bucket)
    yield client
    client.delete_bucket_lifecycle(Bucket=s3_server.bucket)


# The command ------------------------------------------------------------------------------------------------------


def test_lifecycle_prints_one_rule_on_the_payloads_prefix_for_the_retention() -> None:
    env = {"METADOCK_STORE_URL": "s3://bucket/some/prefix", "METADOCK_S3_ENDPOINT_URL": "http://127.0.0.1:1"}

    printed = _metadock("store", "lifecycle", env=env | {"METADOCK_PAYLOAD_RETENTION_DAYS": "30"})

    assert printed.returncode == 0, printed.stderr
    assert json.loads(printed.stdout) == {  # nothing but the JSON on stdout: `> rule.json` for the AWS CLI
        "Rules": [
            {
                "ID": "metadock:some/prefix/payloads/",
                "Status": "Enabled",
                "Filter": {"Prefix": "some/prefix/payloads/"},
                "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
                "Expiration": {"Days": 30},
            }
        ]
    }
    assert "bucket bucket" in printed.stderr

    forever = _metadock("store", "lifecycle", env=env | {"METADOCK_PAYLOAD_RETENTION_DAYS": "0"})

    assert forever.returncode == 0, forever.stderr
    (rule,) = json.loads(forever.stdout)["Rules"]
    assert "Expiration" not in rule
    assert rule["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}
    assert "keep forever" in forever.stderr


def test_lifecycle_on_a_file_store_explains_that_prune_does_the_work(tmp_path: Path) -> None:
    env = {"METADOCK_STORE_URL": f"file://{tmp_path}", "METADOCK_PAYLOAD_RETENTION_DAYS": "7"}

    printed = _metadock("store", "lifecycle", env=env)
    applied = _metadock("store", "lifecycle", "--apply", env=env)

    assert printed.returncode == 0, printed.stderr
    assert "no lifecycle" in printed.stdout
    assert "metadock payloads prune" in printed.stdout
    assert applied.returncode == 1
    assert "not S3" in applied.stderr


def test_lifecycle_apply_sets_the_rule_on_the_real_s3_server_and_keeps_other_rules(
    s3_server: S3Server, s3_client: Any
) -> None:
    bucket = s3_server.bucket
    prefix = f"app-{uuid.uuid4().hex}"
    # Another tool's rule, already on the bucket: a lifecycle configuration is one document, so it must survive.
    foreign = {"ID": "other-tool", "Status": "Enabled", "Filter": {"Prefix": "logs/"}, "Expiration": {"Days": 3}}
    s3_client.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [foreign]})

    applied = _metadock("store", "lifecycle", "--apply", env=_s3_env(s3_server, s3_server.store_url(prefix), 30))

    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "1 other rules kept" in applied.stdout
    ours = {
        "ID": f"metadock:{prefix}/payloads/",
        "Status": "Enabled",
        "Filter": {"Prefix": f"{prefix}/payloads/"},
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
        "Expiration": {"Days": 30},
    }
    assert {rule["ID"]: rule for rule in _rules(s3_client, bucket)} == {"other-tool": foreign, ours["ID"]: ours}

    # Applied again with another retention: the rule is replaced, not added twice.
    again = _metadock("store", "lifecycle", "--apply", env=_s3_env(s3_server, s3_server.store_url(prefix), 7))

    assert again.returncode == 0, again.stdout + again.stderr
    rules = {rule["ID"]: rule for rule in _rules(s3_client, bucket)}
    assert rules == {"other-tool": foreign, ours["ID"]: ours | {"Expiration": {"Days": 7}}}


def test_lifecycle_apply_reports_what_the_s3_server_answered(s3_server: S3Server, s3_client: Any) -> None:
    missing = f"s3://no-such-bucket-{uuid.uuid4().hex[:12]}/x"

    failed = _metadock("store", "lifecycle", "--apply", env=_s3_env(s3_server, missing, 30))

    assert failed.returncode == 1
    assert "NoSuchBucket" in failed.stderr
    assert SECRET_KEY not in failed.stderr + failed.stdout
    assert "Traceback" not in failed.stderr


# Bytes removed behind Metadock's back -----------------------------------------------------------------------------


@pytest.fixture
def retained(store_settings: Settings) -> Settings:
    return store_settings.model_copy(update={"payload_retention_days": RETENTION_DAYS})


@pytest.fixture
def retained_client(retained: Settings) -> Iterator[TestClient[object]]:
    with TestClient(create_app(retained)) as client:  # type: ignore[arg-type]
        yield client


def _remove_behind_the_back(settings: Settings, key: str) -> None:
    """Delete the object with a client of the test's own (a lifecycle rule's or an operator's doing)."""
    url = settings.resolved_store_url
    if url.startswith("file://"):
        (Path(url.removeprefix("file://")) / key).unlink()
        return
    parts = urlsplit(url)
    assert settings.s3_endpoint_url is not None
    raw = S3Store(
        parts.netloc,
        endpoint=settings.s3_endpoint_url,
        access_key_id=ACCESS_KEY,
        secret_access_key=SECRET_KEY,
        region=REGION,
        client_options={"allow_http": True},
    )
    full_key = f"{parts.path.strip('/')}/{key}"
    obs.delete(raw, full_key)
    with pytest.raises(FileNotFoundError):
        obs.head(raw, full_key)


def _age(database_url: str, record_id: int, days: float) -> None:
    """Move a capture back ``days`` days, its expiry with it (as if captured then with this retention)."""
    captured = dt.datetime.now(dt.UTC) - dt.timedelta(days=days)

    async def work(connection: Connection) -> None:
        values = {"created_at": captured, "updated_at": captured, "stored_at": captured}
        values["expires_at"] = captured + dt.timedelta(days=RETENTION_DAYS)
        await connection.execute(update(payload_metadata).where(payload_metadata.c.id == record_id).values(values))

    run_in_transaction(database_url, work)


def _run(settings: Settings, job: Callable[[Database], Any]) -> Any:
    async def run() -> Any:
        database = Database(settings.database_url, pool_size=1)
        try:
            return await job(database)
        finally:
            await database.dispose()

    return asyncio.run(run())


def _meta(client: TestClient[object], tenant: TenantKeys, record_id: int) -> dict[str, Any]:
    response = client.get(f"{PAYLOADS}/{record_id}/meta", headers=tenant.headers())
    assert response.status_code == 200, response.text
    meta: dict[str, Any] = response.json()["data"]
    return meta


def _console_page(client: TestClient[object], database_url: str, tenant: TenantKeys, record_id: int) -> Any:
    people = create_people(database_url, tenant.uuid)
    token = csrf_of(client.get("/console/login").text)
    client.post("/console/login", data={"email": people.reader, "password": PASSWORD, "csrf_token": token})
    return client.get(f"/console/payloads/{record_id}")


def _manifest(
    client: TestClient[object], tenant: TenantKeys, run_id: int, kept: tuple[int, bytes] | None = None
) -> dict[int, Any]:
    """The run archive's manifest entries by record id (and, given ``kept``, that record's member checked)."""
    archive = client.get(f"/api/v1/flow-runs/{run_id}/payloads.zip", headers=tenant.headers())
    assert archive.status_code == 200, archive.text
    with zipfile.ZipFile(io.BytesIO(archive.content)) as members:
        entries = {entry["record"]["id"]: entry for entry in json.loads(members.read("manifest.json"))["records"]}
        if kept is not None:
            assert members.read(entries[kept[0]]["file"]) == kept[1]
    return entries


def test_lifecycle_expired_bytes_answer_410_expired_and_fsck_marks_them(
    retained_client: TestClient[object], retained: Settings, tenant: TenantKeys
) -> None:
    client, settings = retained_client, retained
    expired = capture_payload(client, tenant.headers(), b"past the retention", flow_run_id=9)
    deleted = capture_payload(client, tenant.headers(), b"removed by an operator", flow_run_id=9)
    kept = capture_payload(client, tenant.headers(), b"kept", flow_run_id=9)
    _age(settings.database_url, expired["id"], RETENTION_DAYS + 1)  # what a lifecycle rule at the retention removes
    _age(settings.database_url, deleted["id"], 1)
    for record in (expired, deleted):
        assert record["payload_store_reference"].startswith("payloads/")
        _remove_behind_the_back(settings, record["payload_store_reference"])

    # Before any job ran: 410 in Laravel's shape, the reason as far as the record tells; /meta readable.
    for record, reason in ((expired, "expired"), (deleted, "deleted")):
        for headers in ({}, {"Range": "bytes=2-5"}):
            response = client.get(f"{PAYLOADS}/{record['id']}/download", headers=tenant.headers() | headers)
            assert reason in laravel_error(response, 410)["message"]
        assert _meta(client, tenant, record["id"])["dropped"] is False
    page = _console_page(client, settings.database_url, tenant, expired["id"])
    assert page.status_code == 410, page.text
    entries = _manifest(client, tenant, 9, kept=(kept["id"], b"kept"))
    assert [entries[record["id"]]["missing_from_store"] for record in (expired, deleted, kept)] == [True, True, False]
    assert entries[expired["id"]]["file"] is None

    store = payload_store(settings)
    report = _run(settings, lambda database: maintenance.fsck(database, store, repair=True, grace=dt.timedelta(0)))

    assert sorted(report.missing_records) == sorted([expired["id"], deleted["id"]])
    assert report.expired_records == {expired["id"]}
    for record, reason in ((expired, "expired"), (deleted, "deleted")):
        meta = _meta(client, tenant, record["id"])
        assert (meta["dropped"], meta["dropped_reason"]) == (True, reason)
        response = client.get(f"{PAYLOADS}/{record['id']}/download", headers=tenant.headers())
        assert reason in laravel_error(response, 410)["message"]
    assert client.get(f"{PAYLOADS}/{kept['id']}/download", headers=tenant.headers()).content == b"kept"
    with zipfile.ZipFile(
        io.BytesIO(client.get("/api/v1/flow-runs/9/payloads.zip", headers=tenant.headers()).content)
    ) as z:
        entries = {entry["record"]["id"]: entry for entry in json.loads(z.read("manifest.json"))["records"]}
    assert entries[expired["id"]]["meta"]["dropped_reason"] == "expired"
    assert entries[expired["id"]]["missing_from_store"] is False  # dropped now: known, not a surprise
    assert _run(settings, lambda database: maintenance.fsck(database, store, repair=False)).missing_records == []


def test_prune_marks_lifecycle_expired_bytes_expired_without_an_error(
    retained_client: TestClient[object], retained: Settings, tenant: TenantKeys
) -> None:
    client, settings = retained_client, retained
    gone = capture_payload(client, tenant.headers(), b"expired by the bucket's rule")
    still_there = capture_payload(client, tenant.headers(), b"past the retention, bytes still stored")
    young = capture_payload(client, tenant.headers(), b"young")
    for record in (gone, still_there):
        _age(settings.database_url, record["id"], RETENTION_DAYS + 1)
    _remove_behind_the_back(settings, gone["payload_store_reference"])
    store = payload_store(settings)

    pruned = _run(settings, lambda database: maintenance.prune(database, store, older_than_days=RETENTION_DAYS))

    assert pruned == 2
    for record in (gone, still_there):
        meta = _meta(client, tenant, record["id"])
        assert (meta["dropped"], meta["dropped_reason"]) == (True, "expired")
        response = client.get(f"{PAYLOADS}/{record['id']}/download", headers=tenant.headers())
        assert "expired" in laravel_error(response, 410)["message"]
    assert client.get(f"{PAYLOADS}/{young['id']}/download", headers=tenant.headers()).content == b"young"
    report = _run(settings, lambda database: maintenance.fsck(database, store, repair=False, grace=dt.timedelta(0)))
    assert (report.missing_records, report.orphaned_keys) == ([], [])


def test_serving_never_loads_botocore() -> None:
    """Only `store lifecycle --apply` pays for botocore's import; the app and the other commands never load it."""
    code = "import sys, metadock.app, metadock.cli, metadock.payloads.lifecycle; print('botocore' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "False"


def test_records_with_keys_of_the_older_shape_keep_working(
    retained_client: TestClient[object], retained: Settings, tenant: TenantKeys
) -> None:
    """Records written before keys carried their day (``ab/cd/<32 hex>``): downloaded, ranged, checked by fsck,
    pruned with their bytes, and a live one deleted with its bytes."""
    client, settings = retained_client, retained
    store = payload_store(settings)

    async def put(key: str, data: bytes) -> None:
        async def chunks() -> AsyncIterator[bytes]:
            yield data

        await store.put_stream(key, chunks(), max_bytes=None)

    old, deleted_key = "ab/cd/abcd" + "7" * 28, "ef/01/ef01" + "8" * 28
    asyncio.run(put(old, b"written by an older Metadock"))
    asyncio.run(put(deleted_key, b"to be deleted"))
    values = {"content_type": "text/plain", "sha256": None}
    record, other = add_payload_records(
        settings.database_url,
        tenant.uuid,
        [values | {"store_key": old, "size": 28}, values | {"store_key": deleted_key, "size": 13}],
    )

    assert client.get(f"{PAYLOADS}/{record['id']}/download", headers=tenant.headers()).content == (
        b"written by an older Metadock"
    )
    ranged = client.get(f"{PAYLOADS}/{record['id']}/download", headers=tenant.headers() | {"Range": "bytes=11-15"})
    assert (ranged.status_code, ranged.content) == (206, b"an ol")
    report = _run(settings, lambda database: maintenance.fsck(database, store, repair=False, grace=dt.timedelta(0)))
    assert (report.missing_records, report.orphaned_keys) == ([], [])

    assert client.delete(f"{PAYLOADS}/{other['id']}", headers=tenant.headers()).status_code == 204
    _age(settings.database_url, record["id"], RETENTION_DAYS + 1)
    pruned = _run(settings, lambda database: maintenance.prune(database, store, older_than_days=RETENTION_DAYS))

    assert pruned == 1
    assert _meta(client, tenant, record["id"])["dropped_reason"] == "expired"
    assert stored_bytes(settings, old) is None
    assert stored_bytes(settings, deleted_key) is None
