"""Start and stop a Metadock server for a benchmark, and read its processes' memory from /proc."""

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


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        children = (task / "children").read_text().split() if (task / "children").exists() else []
        found.extend(int(child) for child in children)
    return found


def tree_rss_bytes(pid: int) -> int:
    """Resident memory of a process and all its descendants (granian's main process and its workers)."""
    total, pending = 0, [pid]
    while pending:
        current = pending.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            pending.extend(_children(current))
        except (FileNotFoundError, ProcessLookupError):
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) * 1024
    return total


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """Terminate, then kill if it has not exited within 10 s."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    base_url: str
    api_key: str

    def stop(self) -> None:
        stop_process(self.process)


def start(data_dir: Path, env: Mapping[str, str], *args: str) -> Server:
    port = free_port()
    log = (data_dir / "server.log").open("wb")
    process = subprocess.Popen(
        [METADOCK, "serve", "--port", str(port), "--prune-every", "0", *args],
        env={
            **os.environ,
            "METADOCK_DATABASE_URL": f"sqlite:///{data_dir / 'metadock.db'}",
            "METADOCK_STORE_URL": f"file://{data_dir / 'payloads'}",
            **env,
        },
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base_url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.1)
    else:
        process.kill()
        raise RuntimeError((data_dir / "server.log").read_text())
    key_lines = [line for line in (data_dir / "server.log").read_text().splitlines() if line.startswith("API key: ")]
    return Server(process, base_url, key_lines[0].split("API key: ", 1)[1] if key_lines else "")
