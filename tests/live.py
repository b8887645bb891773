"""A real Metadock server in a subprocess (granian, real HTTP), for end-to-end and contract tests.

Each server runs in a process group of its own, stopped whole (workers included) by ``stop``, which a test calls in a
``finally`` or by using the server as a context manager: a test that fails leaves no server behind.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import httpx

from tests.processes import stop_group

METADOCK = str(Path(sys.executable).with_name("metadock"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveServer:
    process: subprocess.Popen[str]
    base_url: str
    output: list[str]
    temp: Path  # the server's TMPDIR (its shared metrics directory is made there), removed with the server

    def stop(self) -> None:
        stop_group(self.process)
        shutil.rmtree(self.temp, ignore_errors=True)

    def __enter__(self) -> LiveServer:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()


def start_server(env: Mapping[str, str], *extra_args: str, timeout: float = 30.0) -> LiveServer:
    """Start ``metadock serve`` and return once /healthz answers; the lines printed before that are in ``output``."""
    port = free_port()
    # A private TMPDIR: what the server leaves there when a test kills it goes with it, not into the machine's /tmp.
    temp = Path(tempfile.mkdtemp(prefix="metadock-test-tmp-"))
    process = subprocess.Popen(
        [METADOCK, "serve", "--port", str(port), "--prune-every", "0", *extra_args],
        env={**os.environ, "TMPDIR": str(temp), **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # so that stop() reaches granian's workers too
    )
    try:
        return _wait_until_healthy(process, f"http://127.0.0.1:{port}", temp, timeout)
    except BaseException:  # not answering, exited early, or the test interrupted: nothing may keep running
        stop_group(process, grace=0)
        shutil.rmtree(temp, ignore_errors=True)
        raise


def _wait_until_healthy(process: subprocess.Popen[str], base_url: str, temp: Path, timeout: float) -> LiveServer:
    output: list[str] = []
    deadline = time.monotonic() + timeout
    assert process.stdout is not None
    os.set_blocking(process.stdout.fileno(), False)
    while time.monotonic() < deadline:
        output.extend(line.rstrip("\n") for line in process.stdout.readlines())
        if process.poll() is not None:
            raise RuntimeError("metadock serve exited early:\n" + "\n".join(output))
        try:
            if httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                output.extend(line.rstrip("\n") for line in process.stdout.readlines())
                return LiveServer(process, base_url, output, temp)
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError("metadock serve did not answer in time:\n" + "\n".join(output))


def printed_api_key(output: list[str]) -> str | None:
    keys = [line.split("API key: ", 1)[1].strip() for line in output if line.startswith("API key: ")]
    return keys[0] if keys else None


@contextmanager
def first_start(root: Path, database_url: str) -> Iterator[tuple[LiveServer, str]]:
    """``metadock serve`` on an empty database (a PostgreSQL one emptied by the caller) with its payloads under
    ``root``: the server and the admin API key its first start printed."""
    with start_server(
        {
            "METADOCK_DATABASE_URL": database_url,
            "METADOCK_STORE_URL": f"file://{root / 'payloads'}",
            "METADOCK_DATA_DIR": str(root),
        }
    ) as server:
        key = printed_api_key(server.output)
        assert key is not None, server.output
        yield server, key
