"""A real HTTP receiver for webhook tests, on loopback in a thread of the test: it records what it gets and answers
with the statuses it is told (or holds a request without answering, or is not listening at all). With the fixtures
the webhook tests share: ``receiver`` (one a test), and ``hooks``, an app on the module's ``hook_settings`` (made with
``loopback_settings``)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import msgspec
import pytest
from litestar.testing import TestClient

from metadock.app import create_app
from metadock.settings import Settings


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def event(self) -> dict[str, Any]:
        decoded: dict[str, Any] = msgspec.json.decode(self.body)
        return decoded


@dataclass
class Receiver:
    port: int
    received: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)  # answered in turn; 200 once they run out
    hang_seconds: float = 0.0  # the next request is held this long before its answer (once)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks?x=1"

    def events(self) -> list[dict[str, Any]]:
        with self.lock:
            return [item.event for item in self.received]

    def wait_for(self, count: int, timeout: float = 20.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.received) >= count:
                    return list(self.received)
            time.sleep(0.05)
        raise AssertionError(f"expected {count} deliveries, got {len(self.received)}")


@contextmanager
def running_receiver(port: int = 0) -> Iterator[Receiver]:
    receiver = Receiver(port)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with receiver.lock:
                receiver.received.append(Received({k.lower(): v for k, v in self.headers.items()}, body))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                hang, receiver.hang_seconds = receiver.hang_seconds, 0.0
            if hang:
                time.sleep(hang)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the standard library's name
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    receiver.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


def loopback_settings(database_url: str, data_dir: Path, **overrides: Any) -> Settings:
    """Webhooks may reach the test's receiver on loopback; retries come after a tenth of a second."""
    return Settings(
        database_url=database_url,
        store_url=f"file://{data_dir / 'payloads'}",
        data_dir=data_dir,
        webhooks_allow_private=True,
        webhooks_timeout_seconds=2,
        webhooks_retry_first_seconds=0.05,
        webhooks_retry_max_seconds=0.1,
        **overrides,
    )


@pytest.fixture
def hooks(hook_settings: Settings) -> Iterator[TestClient[Any]]:
    """An app on the requesting module's ``hook_settings``."""
    with TestClient(create_app(hook_settings)) as client:
        yield client
