"""A Metadock cluster of real processes: three ``metadock serve --workers 2`` nodes on one PostgreSQL database and
one S3 server, behind HAProxy run with the deployment's own configuration (deploy/haproxy.cfg, its addresses set to
this cluster's loopback ports and its check intervals shortened through the environment variables the file reads).

Every node runs in a process group of its own, so that a test can SIGKILL all of it (a power cut) or SIGTERM its
supervisor only (an orchestrator's stop: the graceful drain). Each node keeps its port across restarts, as HAProxy's
configuration names it.
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
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.live import METADOCK, free_port
from tests.processes import stop_group, wait_until_group_gone
from tests.reliability.servers import PrivatePostgres

REPOSITORY = Path(__file__).resolve().parents[2]
HAPROXY_CONFIG = REPOSITORY / "deploy" / "haproxy.cfg"
# deploy/haproxy.cfg's checks with the intervals the tests give it (compose's: 500 ms and 250 ms): every 200 ms,
# 100 ms while a node changes state, fall 2, rise 2. Every wait for a node to leave or rejoin is that much shorter.
CHECK_INTERVAL = 0.2
FAST_CHECK_INTERVAL = 0.1
FALL = 2
# The nodes' drain: above HAProxy's ~0.4 s to take a node out of rotation, and the time a loaded machine has taken
# to run the node's SIGTERM handler (up to 1.6 s seen).
DRAIN_DELAY = 2.0
SHUTDOWN_TIMEOUT = 10
# The database is migrated once before any node starts, as a deployment's `metadock db upgrade` step does.
NODE_ARGS = ("--workers", "2", "--prune-every", "0", "--no-migrate", "--drain-delay", str(DRAIN_DELAY))


@dataclass
class Node:
    name: str  # as deploy/haproxy.cfg names it: node1, node2, node3
    port: int
    env: Mapping[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None
    temp: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def answered(self, request_id: str) -> bool:
        """Whether this node's access log has a line for the request (Metadock logs the X-Request-ID it was given)."""
        return f'"request_id":"{request_id}"' in self.log.read_text(errors="replace")

    def start(self, timeout: float = 60.0) -> None:
        """Start on this node's port and wait until /readyz answers 200."""
        self.spawn()
        self.wait_ready(timeout)

    def spawn(self) -> None:
        self.temp = Path(tempfile.mkdtemp(prefix="metadock-test-tmp-"))  # the node's private directory goes here
        with self.log.open("ab") as output:
            self.process = subprocess.Popen(
                [METADOCK, "serve", "--port", str(self.port), *NODE_ARGS, "--shutdown-timeout", str(SHUTDOWN_TIMEOUT)],
                env={**os.environ, "TMPDIR": str(self.temp), **self.env},
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_ready(self, timeout: float = 60.0) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited early:\n{self.log.read_text()[-3000:]}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"{self.name} did not become ready:\n{self.log.read_text()[-3000:]}")

    def kill(self) -> tuple[float, float]:
        """SIGKILL to the whole node at once (supervisor and workers), as a power cut or the OOM killer would; returns
        when the signal was sent and when the last process was gone (time.monotonic()). In between, the dying node's
        listening socket may still take a connection (the kernel tears a killed process down in its own time)."""
        sent = time.monotonic()
        if self.process is None:
            return sent, sent
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        sent = time.monotonic()
        self.process.wait(timeout=10)
        wait_until_group_gone(self.process.pid)  # no worker holds the port any more
        self._forget()
        return sent, time.monotonic()

    def terminate(self) -> None:
        """SIGTERM to the supervisor only, as an orchestrator stops a container: the node drains, then exits."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)

    def wait_exited(self, timeout: float) -> int:
        assert self.process is not None
        code = self.process.wait(timeout=timeout)
        wait_until_group_gone(self.process.pid)
        self._forget()
        return code

    def stop(self) -> None:
        if self.process is not None:
            stop_group(self.process, grace=SHUTDOWN_TIMEOUT + DRAIN_DELAY)
            self._forget()

    def _forget(self) -> None:
        self.process = None
        if self.temp is not None:
            shutil.rmtree(self.temp, ignore_errors=True)
            self.temp = None


@dataclass
class Balancer:
    """HAProxy with deploy/haproxy.cfg, in the foreground (-db), in a process group of its own."""

    port: int
    stats_port: int
    nodes: list[Node]
    log: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, haproxy: str) -> None:
        env = {
            **os.environ,
            "METADOCK_LB_BIND": f"127.0.0.1:{self.port}",
            "METADOCK_LB_STATS_BIND": f"127.0.0.1:{self.stats_port}",
            "METADOCK_LB_DNS": f"127.0.0.1:{free_port()}",  # the nodes are IP addresses: nothing to resolve
            "METADOCK_LB_CHECK_INTER": f"{round(CHECK_INTERVAL * 1000)}ms",
            "METADOCK_LB_CHECK_FASTINTER": f"{round(FAST_CHECK_INTERVAL * 1000)}ms",
            **{f"METADOCK_{node.name.upper()}": f"127.0.0.1:{node.port}" for node in self.nodes},
        }
        with self.log.open("ab") as output:
            self.process = subprocess.Popen(
                [haproxy, "-db", "-f", str(HAPROXY_CONFIG)],
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.wait_until({node.name: "UP" for node in self.nodes}, timeout=30)

    def stop(self) -> None:
        if self.process is not None:
            stop_group(self.process, grace=5)
            self.process = None

    def server_of(self, request_id: str) -> str | None:
        """The node HAProxy sent a request to, from its log line (``nodes/node2 ... {request_id}``)."""
        for line in self.log.read_text(errors="replace").splitlines():
            if "{" + request_id + "}" in line and (found := re.search(r" nodes/(\S+) ", line)):
                return found.group(1)
        return None

    def states(self) -> dict[str, str]:
        """Each node's state as HAProxy's stats report it: UP, DOWN, or a transition such as "UP 1/2"."""
        answer = httpx.get(f"http://127.0.0.1:{self.stats_port}/stats;csv", timeout=5)
        answer.raise_for_status()
        rows = csv.DictReader(io.StringIO(answer.text.removeprefix("# ")))
        return {row["svname"]: row["status"] for row in rows if row["pxname"] == "nodes" and row["svname"] != "BACKEND"}

    def wait_until(self, wanted: Mapping[str, str], timeout: float) -> float:
        """Until every named node is in the wanted state; returns when that was first seen (time.monotonic())."""
        deadline = time.monotonic() + timeout
        states: dict[str, str] = {}
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                states = self.states()
                if all(states.get(name) == state for name, state in wanted.items()):
                    return time.monotonic()
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"haproxy exited:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.05)
        raise AssertionError(f"HAProxy never saw {dict(wanted)} in {timeout} s; last: {states}")


@dataclass
class Cluster:
    nodes: list[Node]
    balancer: Balancer
    api_key: str  # an admin key of the cluster's tenant
    tenant_uuid: str
    database_url: str
    postgres: PrivatePostgres  # the cluster's own server: a test may stop or kill it
    store_url: str  # the nodes' METADOCK_STORE_URL

    def node(self, name: str) -> Node:
        return next(node for node in self.nodes if node.name == name)

    def client(self, base_url: str | None = None, timeout: float = 30.0) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=base_url or self.balancer.url, headers={"Authorization": self.api_key}, timeout=timeout
        )

    def kill(self) -> None:
        """Every node and HAProxy SIGKILLed at once: the end of a run, where nothing waits for a drain."""
        for node in self.nodes:
            node.kill()
        self.balancer.stop()

    def ensure_all_up(self) -> None:
        """What a test that stopped or killed a node leaves behind is put right for the next one."""
        for node in self.nodes:
            if node.process is None or node.process.poll() is not None:
                node.kill()
                node.start()
        self.balancer.wait_until({node.name: "UP" for node in self.nodes}, timeout=30)


def new_nodes(directory: Path, env: Mapping[str, str]) -> list[Node]:
    return [
        Node(name, free_port(), {**env, "METADOCK_DATA_DIR": str(directory / name)}, directory / f"{name}.log")
        for name in ("node1", "node2", "node3")
    ]
