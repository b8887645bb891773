"""``GET /api/v1/flow-runs/{id}/payloads.zip``: a run's payloads and their manifest as one streamed ZIP.

The archive must unzip to exactly the captured bytes under ``step-<step>/payload-<id>.<ext>``, list every record
(dropped ones too) in ``manifest.json``, stay inside the caller's tenant, and cover runs larger than one page.
"""

from __future__ import annotations

import asyncio
import io
import json
import random
import zipfile
from typing import Any

import pytest
from litestar.testing import TestClient

from metadock.kit.db import Database
from metadock.payloads import archive
from metadock.settings import Settings
from metadock.tenants.service import TenantService
from tests.factories import (
    TenantKeys,
    add_payload_records,
    capture_payload,
    laravel_error,
    payload_store,
    put_object,
    remove_object,
    run_in_transaction,
)

Client = TestClient[object]
BINARY = random.Random(16).randbytes(600_000)  # more than two store read chunks (256 KiB), incompressible


def _zip_url(run_id: int | str) -> str:
    return f"/api/v1/flow-runs/{run_id}/payloads.zip"


def _archive(client: Client, tenant: TenantKeys, run_id: int | str) -> zipfile.ZipFile:
    response = client.get(_zip_url(run_id), headers=tenant.headers("reader"))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    assert response.headers["content-disposition"] == f'attachment; filename="flow-run-{run_id}-payloads.zip"'
    bundle = zipfile.ZipFile(io.BytesIO(response.content))
    assert bundle.testzip() is None  # every member's CRC matches its bytes
    return bundle


def _manifest(bundle: zipfile.ZipFile) -> dict[str, Any]:
    manifest: dict[str, Any] = json.loads(bundle.read("manifest.json"))
    return manifest


def test_the_archive_holds_every_stored_payload_of_the_run_exactly(
    store_client: Client, tenant: TenantKeys, database_url: str
) -> None:
    writer = tenant.headers("writer")
    captured = [
        (capture_payload(store_client, writer, b'{"order": 1}', flow_run_id=7, flow_step_id=1), b'{"order": 1}'),
        (
            capture_payload(
                store_client, writer, b"<a/>", content_type="application/xml", flow_run_id=7, flow_step_id=2
            ),
            b"<a/>",
        ),
        (
            capture_payload(
                store_client, writer, b"a,b\n1,2\n", content_type="text/csv", flow_run_id=7, flow_step_id=2
            ),
            b"a,b\n1,2\n",
        ),
        (
            capture_payload(
                store_client, writer, BINARY, content_type="application/x-custom", flow_run_id=7, flow_step_id=3
            ),
            BINARY,
        ),
        (capture_payload(store_client, writer, b"", content_type="text/plain", flow_run_id=7, flow_step_id=3), b""),
    ]
    capture_payload(store_client, writer, b"another run", flow_run_id=8, flow_step_id=1)
    (dropped,) = add_payload_records(
        database_url,
        tenant.uuid,
        [{"flow_run_id": 7, "flow_step_id": 4, "dropped": True, "dropped_reason": "too_large", "size": 10**9}],
    )

    bundle = _archive(store_client, tenant, 7)

    expected = {
        f"step-{record['flow_step_id']}/payload-{record['id']}.{extension}": data
        for (record, data), extension in zip(captured, ["json", "xml", "csv", "bin", "txt"], strict=True)
    }
    assert bundle.namelist() == [*expected, "manifest.json"]
    for name, data in expected.items():
        assert bundle.read(name) == data, name
    manifest = _manifest(bundle)
    assert manifest["flow_run_id"] == 7
    entries = manifest["records"]
    assert [entry["record"]["id"] for entry in entries] == [record["id"] for record, _ in captured] + [dropped["id"]]
    assert [entry["file"] for entry in entries] == [*expected, None]
    assert [entry["record"] for entry in entries[:-1]] == [record for record, _ in captured]
    assert entries[-1]["meta"]["dropped"] is True
    assert entries[-1]["meta"]["dropped_reason"] == "too_large"
    assert entries[0]["meta"]["content_type"] == "application/json"
    assert entries[3]["meta"]["size"] == len(BINARY)
    assert not any(entry["missing_from_store"] for entry in entries)


def test_a_run_of_another_tenant_or_no_run_is_a_404_and_callers_need_a_credential(
    client: Client, tenant: TenantKeys, other_tenant: TenantKeys
) -> None:
    capture_payload(client, other_tenant.headers("writer"), flow_run_id=5)
    for run_id in ("5", "6", "abc", "0", "-5", "99999999999999999999"):
        response = client.get(_zip_url(run_id), headers=tenant.headers("reader"))
        laravel_error(response, 404)
    laravel_error(client.get(_zip_url(5)), 401)
    assert client.get(_zip_url(5), headers=other_tenant.headers("reader")).status_code == 200


def test_bytes_missing_from_the_store_are_left_out_and_said_so(
    client: Client, tenant: TenantKeys, settings: Settings
) -> None:
    writer = tenant.headers("writer")
    kept = capture_payload(client, writer, b"kept", flow_run_id=3)
    lost = capture_payload(client, writer, b"lost", flow_run_id=3)
    remove_object(settings, lost["payload_store_reference"])

    bundle = _archive(client, tenant, 3)

    assert bundle.namelist() == [f"step-1/payload-{kept['id']}.json", "manifest.json"]
    entries = _manifest(bundle)["records"]
    assert [(entry["file"], entry["missing_from_store"]) for entry in entries] == [
        (f"step-1/payload-{kept['id']}.json", False),
        (None, True),
    ]


def test_a_run_of_many_pages_streams_whole(
    client: Client, tenant: TenantKeys, settings: Settings, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Small pages, so the archive crosses many page boundaries (and a record's manifest entry its page's) cheaply.
    monkeypatch.setattr(archive, "RECORDS_PER_PAGE", 7)
    bodies = [random.Random(seed).randbytes(4_000 + seed) for seed in range(10)]
    keys = [put_object(settings, body) for body in bodies]
    specs = [
        {
            "flow_run_id": 9,
            "flow_step_id": index % 3 + 1,
            "store_key": keys[index % 10],
            "size": len(bodies[index % 10]),
            "content_type": "application/octet-stream",
        }
        for index in range(150)
    ]
    records = add_payload_records(database_url, tenant.uuid, specs)

    bundle = _archive(client, tenant, 9)

    names = [f"step-{record['flow_step_id']}/payload-{record['id']}.bin" for record in records]
    assert bundle.namelist() == [*names, "manifest.json"]
    for index, name in enumerate(names):
        assert bundle.read(name) == bodies[index % 10]
    assert [entry["record"]["id"] for entry in _manifest(bundle)["records"]] == [record["id"] for record in records]


def test_no_connection_is_held_while_an_archive_streams(
    client: Client, tenant: TenantKeys, settings: Settings, database_url: str
) -> None:
    """Three archives begun at once on a database of two connections: if a paused archive kept its page's
    transaction, the third could never read its first page."""
    for run_id in (1, 2, 3):
        for _ in range(2):
            capture_payload(
                client, tenant.headers("writer"), BINARY, content_type="application/gzip", flow_run_id=run_id
            )

    async def tenant_id(connection: Any) -> int:
        return (await TenantService(connection).get_tenant(tenant.uuid)).id

    owner = run_in_transaction(database_url, tenant_id)

    async def stream_three() -> list[bytes]:
        database = Database(database_url, pool_size=1)
        assert database.max_connections == 2
        store = payload_store(settings)
        try:
            streams = []
            for run_id in (1, 2, 3):
                async with database.transaction() as connection:
                    run = await archive.RunArchive.open(connection, database, store, owner, str(run_id))
                streams.append(run.chunks())
            first, second, third = streams
            started = [await anext(first), await anext(second)]  # both paused mid-archive
            whole_third = b"".join([chunk async for chunk in third])
            rest = [b"".join([chunk async for chunk in stream]) for stream in (first, second)]
            return [started[0] + rest[0], started[1] + rest[1], whole_third]
        finally:
            await database.dispose()

    bodies = asyncio.run(asyncio.wait_for(stream_three(), timeout=60))
    for body in bodies:
        members = zipfile.ZipFile(io.BytesIO(body)).namelist()
        assert len(members) == 3, members
        assert all(zipfile.ZipFile(io.BytesIO(body)).read(name) == BINARY for name in members[:2])


@pytest.mark.parametrize(
    ("content_type", "extension"),
    [
        ("application/json; charset=utf-8", "json"),
        ("application/vnd.api+json", "json"),
        ("application/soap+xml", "xml"),
        ("TEXT/CSV", "csv"),
        ("application/pdf", "pdf"),
        ("../../etc/passwd", "bin"),
        ("application/x-evil/../../x", "bin"),
    ],
)
def test_member_extensions_come_from_the_allow_list_only(content_type: str, extension: str) -> None:
    assert archive.extension_of(content_type) == extension
