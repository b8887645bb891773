"""A client that goes away in the middle of an export leaves the server healthy (real ``metadock serve``, real HTTP).

The server runs with one database connection per pool: an export that kept its connection (or a transaction) after
its client left would make every later request wait forever, so each later request here has a short timeout. The
clients read a few KiB through a small receive buffer and close (one with a reset), while the server still has
megabytes of the export to send.
"""

from __future__ import annotations

import datetime as dt
import json
import socket
import struct
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import insert

from metadock.kit.db import Connection
from metadock.metadatas.table import metadatas
from metadock.payloads.repository import PayloadMaintenanceRepository
from metadock.payloads.table import payload_metadata
from metadock.tenants.service import TenantService
from tests.factories import PAYLOADS, TenantKeys, payload_record_values, run_in_transaction
from tests.live import start_server

ABANDONED = 12
RECORDS = 30_000  # ~10 MiB of NDJSON: far more than the socket buffers between the server and a client that stalls


def _bulk_records(database_url: str, tenant_uuid: str, count: int) -> None:
    async def work(connection: Connection) -> None:
        tenant = await TenantService(connection).get_tenant(tenant_uuid)
        rows = [{**payload_record_values(flow_step_id=n % 10), "tenant_id": tenant.id} for n in range(count)]
        await connection.execute(insert(payload_metadata), rows)
        await PayloadMaintenanceRepository(connection).recount_totals()
        now = dt.datetime.now(dt.UTC)
        resources = [
            {
                "tenant_id": tenant.id,
                "uuid": str(uuid.uuid4()),
                "owner": "BusinessUnit",
                "title": {"en": f"Resource {n}"},
                "title_search": f"resource {n}",
                "slug": f"resource-{n}",
                "type": "bulk",
                "data": {"n": n, "words": ["alpha", "bravo", "charlie"] * 20},
                "version": 1,
                "created_at": now,
                "updated_at": now,
            }
            for n in range(count // 3)
        ]
        await connection.execute(insert(metadatas), resources)

    run_in_transaction(database_url, work)


def _abandon(base_url: str, path: str, key: str, *, reset: bool) -> bytes:
    """Start an export, read its first few KiB and go away (FIN, or RST when ``reset``)."""
    address = urlsplit(base_url)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(10)
    try:
        sock.connect((address.hostname, address.port))
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {address.netloc}\r\nAuthorization: {key}\r\n\r\n".encode())
        received = b""
        while len(received) < 8192:
            received += sock.recv(4096)
        if reset:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        return received
    finally:
        sock.close()


def test_clients_that_leave_mid_export_leave_the_server_healthy(
    database_url: str, tenant: TenantKeys, tmp_path: Path
) -> None:
    _bulk_records(database_url, tenant.uuid, RECORDS)
    env = {
        "METADOCK_DATABASE_URL": database_url,
        "METADOCK_STORE_URL": f"file://{tmp_path / 'payloads'}",
        "METADOCK_DATA_DIR": str(tmp_path),
        "METADOCK_DATABASE_POOL_SIZE": "1",
        "METADOCK_EXPORT_BATCH_SIZE": "100",
    }
    with start_server(env) as server:
        for attempt in range(ABANDONED - 4):
            path = f"{PAYLOADS}/export" + ("?format=csv" if attempt % 2 else "")
            head = _abandon(server.base_url, path, tenant.reader, reset=attempt % 4 == 3)
            assert head.startswith(b"HTTP/1.1 200"), head[:200]
        for attempt in range(4):
            _abandon(server.base_url, "/metadatas/export", tenant.reader, reset=attempt % 2 == 1)

        headers = {"Authorization": tenant.writer}
        with httpx.Client(base_url=server.base_url, headers=headers, timeout=30) as client:
            assert client.get("/readyz").status_code == 200
            captured = client.post(PAYLOADS, params={"flow_run_id": 1, "flow_step_id": 1}, content=b"{}", timeout=10)
            assert captured.status_code == 201, captured.text
            # A whole export after them: every record once, in id order, the new capture last.
            response = client.get(f"{PAYLOADS}/export")
            assert response.status_code == 200
            items: list[dict[str, Any]] = [json.loads(line) for line in response.text.splitlines()]
            ids = [item["id"] for item in items]
            assert len(ids) == RECORDS + 1
            assert ids == sorted(set(ids))
            assert ids[-1] == captured.json()["data"]["id"]
            assert client.get(PAYLOADS, params={"per_page": "1"}).json()["meta"]["total"] == RECORDS + 1
        # Each abandoned export stopped at once: granian logs a transport error for every chunk sent to a client
        # that has gone, and an export that ran on to its end after its client left logged ~300 (one per batch).
        assert server.process.stdout is not None
        output = server.process.stdout.readlines()
        transport_errors = [line for line in output if "ASGI transport error" in line]
        assert len(transport_errors) <= 3 * ABANDONED, len(transport_errors)
