"""The cluster benchmark's processes: ``metadock serve`` nodes on loopback ports and HAProxy in front of them, run
with the deployment's own configuration (deploy/haproxy.cfg, its addresses set through the environment variables
the file reads; only the ``server`` lines of the nodes not started are left out).
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.server import METADOCK, free_port
from bench.wrk import tree_pids

HAPROXY_CONFIG = Path(__file__).resolve().parent.parent / "deploy" / "haproxy.cfg"


def haproxy_binary() -> str | None:
    return shutil.which("haproxy") or next((p for p in ("/usr/sbin/haproxy",) if Path(p).exists()), None)


def _stop_group(process: subprocess.Popen[bytes], grace: float) -> None:
    """SIGTERM to the supervisor, then SIGKILL to whatever of its tree is left after ``grace`` seconds."""
    pids = tree_pids(process.pid)
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    for pid in pids[1:]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


class _Listening:
    """A process of ours listening on a loopback port: its URL and its pid."""

    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid


@dataclass
class Node(_Listening):
    name: str  # node1, node2, node3: as deploy/haproxy.cfg names them
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        _stop_group(self.process, grace=15)


def start_node(name: str, directory: Path, env: Mapping[str, str], workers: int, timeout: float = 90.0) -> Node:
    """``metadock serve --workers N --no-migrate`` (the database is migrated by the seeding, as a deployment's
    ``metadock db upgrade`` step does), in a process group of its own; returns once /readyz answers 200."""
    port = free_port()
    log = directory / f"{name}.log"
    (directory / name).mkdir(parents=True, exist_ok=True)
    with log.open("ab") as output:
        process = subprocess.Popen(
            [METADOCK, "serve", "--port", str(port), "--workers", str(workers), "--prune-every", "0", "--no-migrate"],
            env={**os.environ, **env, "METADOCK_DATA_DIR": str(directory / name)},
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    node = Node(name, port, process, log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited early:\n{log.read_text()[-3000:]}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{node.url}/readyz", timeout=1).status_code == 200:
                return node
        time.sleep(0.1)
    node.stop()
    raise RuntimeError(f"{name} did not become ready:\n{log.read_text()[-3000:]}")


def config_for(nodes: int, server_keepalive: bool = False) -> str:
    """deploy/haproxy.cfg with only the first ``nodes`` server lines: every setting the deployment runs with. With
    ``server_keepalive`` its ``option http-server-close`` is left out too (HAProxy then keeps idle connections to the
    nodes and reuses them): to measure what a connection per request costs."""
    kept = []
    for line in HAPROXY_CONFIG.read_text().splitlines():
        found = re.match(r"\s*server node(\d+) ", line)
        if server_keepalive and line.strip() == "option http-server-close":
            continue
        if found is None or int(found.group(1)) <= nodes:
            kept.append(line)
    return "\n".join(kept) + "\n"


@dataclass
class Balancer(_Listening):
    process: subprocess.Popen[bytes]
    port: int
    stats_port: int
    nodes: list[str] = field(default_factory=list)

    def states(self) -> dict[str, str]:
        answer = httpx.get(f"http://127.0.0.1:{self.stats_port}/stats;csv", timeout=5)
        answer.raise_for_status()
        rows = csv.DictReader(io.StringIO(answer.text.removeprefix("# ")))
        return {row["svname"]: row["status"] for row in rows if row["pxname"] == "nodes" and row["svname"] != "BACKEND"}

    def stop(self) -> None:
        _stop_group(self.process, grace=5)


def start_balancer(
    nodes: list[Node], directory: Path, *, server_keepalive: bool = False, timeout: float = 30.0
) -> Balancer:
    """HAProxy in the foreground (-db) in front of ``nodes``; returns once its checks see every node UP. Its
    per-request log (stdout, as in a container) goes to a file in ``directory``."""
    binary = haproxy_binary()
    if binary is None:
        raise SystemExit("haproxy is missing (Debian: apt-get install haproxy)")
    config = directory / f"haproxy-{len(nodes)}.cfg"
    config.write_text(config_for(len(nodes), server_keepalive))
    port, stats_port = free_port(), free_port()
    env = {
        **os.environ,
        "METADOCK_LB_BIND": f"127.0.0.1:{port}",
        "METADOCK_LB_STATS_BIND": f"127.0.0.1:{stats_port}",
        "METADOCK_LB_DNS": f"127.0.0.1:{free_port()}",  # the nodes are IP addresses: nothing to resolve
        **{f"METADOCK_{node.name.upper()}": f"127.0.0.1:{node.port}" for node in nodes},
    }
    with (directory / f"haproxy-{len(nodes)}.log").open("ab") as output:
        process = subprocess.Popen(
            [binary, "-db", "-f", str(config)], env=env, stdout=output, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    balancer = Balancer(process, port, stats_port, [node.name for node in nodes])
    deadline, states = time.monotonic() + timeout, {}
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"haproxy exited: {(directory / f'haproxy-{len(nodes)}.log').read_text()[-2000:]}")
        with contextlib.suppress(httpx.HTTPError):
            states = balancer.states()
            if states and all(states.get(node.name) == "UP" for node in nodes):
                return balancer
        time.sleep(0.1)
    balancer.stop()
    raise RuntimeError(f"HAProxy never saw every node UP: {states}")
