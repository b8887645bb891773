"""A real Metadock server in a subprocess (granian, real HTTP), for end-to-end and contract tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

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

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


def start_server(env: Mapping[str, str], *extra_args: str, timeout: float = 30.0) -> LiveServer:
    """Start ``metadock serve`` and return once /healthz answers; the lines printed before that are in ``output``."""
    port = free_port()
    process = subprocess.Popen(
        [METADOCK, "serve", "--port", str(port), "--prune-every", "0", *extra_args],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base_url = f"http://127.0.0.1:{port}"
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
                return LiveServer(process, base_url, output)
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("metadock serve did not answer in time:\n" + "\n".join(output))


def printed_api_key(output: list[str]) -> str | None:
    keys = [line.split("API key: ", 1)[1].strip() for line in output if line.startswith("API key: ")]
    return keys[0] if keys else None
