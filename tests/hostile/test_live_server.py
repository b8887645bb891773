"""What a real server (granian) does with requests too big or too broken for the app to see: a clear 4xx, the
server keeps serving, nothing is stored. Also: a download sent by the server itself (ASGI pathsend) carries the
same protective headers as one streamed by the app.

SQLite only: these limits live in the HTTP server, before any database is touched (which the snapshot confirms).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.hostile.snapshot import database_rows
from tests.hostile.test_security import ACTIVE_CONTENT, assert_served_inert
from tests.live import LiveServer, first_start


@dataclass
class Live:
    server: LiveServer
    key: str
    database_url: str

    @property
    def port(self) -> int:
        return int(self.server.base_url.rsplit(":", 1)[1])

    def raw(self, request_head: bytes, body: bytes = b"") -> bytes:
        """Send bytes exactly as given (no client library to tidy them up); return the status line."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=20) as connection:
            connection.sendall(request_head + body)
            answer = b""
            while b"\r\n" not in answer and (chunk := connection.recv(65536)):
                answer += chunk
        return answer.split(b"\r\n", 1)[0]

    def get(self, target: bytes, extra_headers: bytes = b"") -> bytes:
        head = b"GET " + target + b" HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
        return self.raw(head + b"Authorization: " + self.key.encode() + b"\r\n" + extra_headers + b"\r\n")


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    root: Path = tmp_path_factory.mktemp("live-hostile")
    database_url = f"sqlite:///{root / 'metadock.db'}"
    with first_start(root, database_url) as (server, key):
        yield Live(server, key, database_url)


@pytest.mark.parametrize(
    ("name", "target", "headers", "status"),
    [
        ("one 1 MiB header", b"/metadatas", b"X-Big: " + b"a" * 1_048_576 + b"\r\n", b"431"),
        ("10,000 headers", b"/metadatas", b"".join(b"X-H%d: v\r\n" % i for i in range(10_000)), b"431"),
        ("10,000 query parameters", b"/metadatas?" + b"&".join([b"title=a"] * 10_000), b"", b"414"),
        ("raw invalid UTF-8 in the target", b"/metadatas?title=\xff\xfe", b"", b"400"),
        ("a CR inside a header value", b"/metadatas", b"X-Request-ID: a\rSet-Cookie: x=y\r\n", b"400"),
    ],
)
def test_the_server_refuses_what_is_too_big_or_broken_and_keeps_serving(
    live: Live, name: str, target: bytes, headers: bytes, status: bytes
) -> None:
    before = database_rows(live.database_url)

    status_line = live.get(target, headers)

    assert status_line.split(b" ")[1] == status, (name, status_line)
    assert httpx.get(f"{live.server.base_url}/metadatas", headers={"Authorization": live.key}).status_code == 200
    assert database_rows(live.database_url) == before


def test_the_app_answers_below_the_server_limits_in_its_dialect(live: Live) -> None:
    # A query the server lets through (1,000 values, ~8 KB) reaches the app, which refuses it itself, as a problem.
    response = httpx.get(
        f"{live.server.base_url}/metadatas?" + "&".join(["title=a"] * 1000), headers={"Authorization": live.key}
    )
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")
    # A body over the limit, announced by Content-Length: 413 before the body is read.
    head = (
        b"POST /metadatas HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: application/json\r\n"
        b"Authorization: " + live.key.encode() + b"\r\nContent-Length: 5000000\r\n\r\n"
    )
    assert live.raw(head, b"{" * 1000).split(b" ")[1] == b"413"


def test_a_download_sent_by_the_server_itself_is_inert_too(live: Live) -> None:
    base, auth = live.server.base_url, {"Authorization": live.key}
    captured = httpx.post(
        f"{base}/api/v1/payload-metadata",
        params={"flow_run_id": 1, "flow_step_id": 1},
        content=ACTIVE_CONTENT,
        headers={**auth, "Content-Type": "text/html"},
    )
    assert captured.status_code == 201, captured.text
    record_id = captured.json()["data"]["id"]

    download = httpx.get(f"{base}/api/v1/payload-metadata/{record_id}/download", headers=auth)

    assert download.content == ACTIVE_CONTENT
    assert_served_inert(download, "text/html", record_id, ".html")
