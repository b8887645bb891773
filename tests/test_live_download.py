"""Over real HTTP, granian sends a file-store payload itself (ASGI pathsend): the bytes and headers must be exact."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import httpx

from tests.live import printed_api_key, start_server

PAYLOADS = "/api/v1/payload-metadata"


def test_whole_downloads_over_real_http_are_byte_exact_with_one_set_of_headers(tmp_path: Path) -> None:
    server = start_server(
        {
            "METADOCK_DATABASE_URL": f"sqlite:///{tmp_path / 'metadock.db'}",
            "METADOCK_STORE_URL": f"file://{tmp_path / 'payloads'}",
            "METADOCK_DATA_DIR": str(tmp_path),
        }
    )
    try:
        key = printed_api_key(server.output)
        assert key is not None
        payloads = [(os.urandom(5 * 1024 * 1024 + 3), "application/octet-stream"), (b"a;b\n1;2\n", "text/csv")]
        with httpx.Client(base_url=server.base_url, headers={"Authorization": key}, timeout=30) as client:
            for body, content_type in payloads:
                created = client.post(
                    PAYLOADS,
                    params={"flow_run_id": 1, "flow_step_id": 1},
                    content=body,
                    headers={"Content-Type": content_type},
                )
                assert created.status_code == 201, created.text
                record_id = created.json()["data"]["id"]

                whole = client.get(f"{PAYLOADS}/{record_id}/download")
                assert whole.status_code == 200
                assert whole.content == body
                assert whole.headers.get_list("content-type") == [content_type]
                assert whole.headers["content-length"] == str(len(body))
                assert whole.headers["etag"] == f'"{hashlib.sha256(body).hexdigest()}"'
                assert whole.headers["x-content-type-options"] == "nosniff"

                part = client.get(f"{PAYLOADS}/{record_id}/download", headers={"Range": "bytes=2-5"})
                assert part.status_code == 206
                assert part.content == body[2:6]
    finally:
        server.stop()
