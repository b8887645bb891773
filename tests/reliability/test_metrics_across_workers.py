"""``/metrics`` of ``serve --workers 2`` is the node's: whichever worker answers a scrape, the counts are those of
every request the node served, and the shared directory behind them lives exactly as long as the server."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import time
from pathlib import Path

import httpx

from metadock.kit.metrics import DATABASE_SAMPLE_SECONDS
from tests.factories import metadata_body
from tests.reliability.servers import server_env, serving

READS = 40
CAPTURES = 12
SCRAPES = 6
POOL_SIZE = 3  # per worker: pool_size + overflow = 6 connections at most
CONCURRENCY = 8
PAYLOADS = "/api/v1/payload-metadata"


def _sample(exposition: str, name: str, **labels: str) -> float | None:
    """One sample's value, whatever order the labels are written in; None when the node has no such sample."""
    for line in exposition.splitlines():
        match = re.fullmatch(r"([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)", line)
        if match and match[1] == name and dict(re.findall(r'(\w+)="([^"]*)"', match[2] or "")) == labels:
            return float(match[3])
    return None


def _metrics_directories(temp: Path, *, besides: Path) -> list[Path]:
    return sorted(set(temp.glob("metadock-metrics-*")) - {besides})


def _dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


async def _send_known_requests(base_url: str, api_key: str, uuid: str) -> list[int]:
    """READS reads and CAPTURES captures, CONCURRENCY at a time, each on a connection of its own (so that both
    workers take some); returns the captured sizes."""
    gate = asyncio.Semaphore(CONCURRENCY)
    headers = {"Authorization": api_key}

    async def one(request: httpx.Request) -> httpx.Response:
        async with gate, httpx.AsyncClient(timeout=30) as client:
            return await client.send(request)

    with httpx.Client() as builder:
        reads = [builder.build_request("GET", f"{base_url}/metadatas/{uuid}", headers=headers) for _ in range(READS)]
        sizes = [100 + n for n in range(CAPTURES)]
        captures = [
            builder.build_request(
                "POST",
                f"{base_url}{PAYLOADS}",
                params={"flow_run_id": 1, "flow_step_id": 1},
                content=b"x" * size,
                headers={**headers, "Content-Type": "application/octet-stream"},
            )
            for size in sizes
        ]
    responses = await asyncio.gather(*(one(request) for request in reads + captures))
    assert [response.status_code for response in responses] == [200] * READS + [201] * CAPTURES
    return sizes


def test_metrics_of_two_workers_count_every_request_of_the_node(database_url: str, tmp_path: Path) -> None:
    temp = tmp_path / "tmp"  # the server's TMPDIR: where its shared metrics directory is made
    temp.mkdir()
    # Left by a node killed with SIGKILL (its serve process is gone): removed at the next start. A live node's stays.
    orphaned = temp / f"metadock-metrics-{_dead_pid()}-left"
    live = temp / f"metadock-metrics-{os.getpid()}-live"
    for directory in (orphaned, live):
        directory.mkdir()
        (directory / "counter_1.db").write_bytes(b"")
    env = server_env(database_url, tmp_path, TMPDIR=str(temp), METADOCK_DATABASE_POOL_SIZE=str(POOL_SIZE))
    with serving(env, tmp_path / "server.log", "--workers", "2") as server:
        created = httpx.post(
            f"{server.base_url}/metadatas", json=metadata_body(), headers={"Authorization": server.api_key}
        )
        assert created.status_code == 201, created.text
        sizes = asyncio.run(_send_known_requests(server.base_url, server.api_key, created.json()["uuid"]))
        [directory] = _metrics_directories(temp, besides=live)
        assert not orphaned.exists()
        writers = {path.stem.rsplit("_", 1)[1] for path in directory.glob("counter_*.db")}
        assert len(writers) == 2, f"both workers should have counted requests: {writers}"
        # The pool gauges are each worker's samples, written every DATABASE_SAMPLE_SECONDS: wait for samples taken
        # at rest, after the last request (the counters are exact at once).
        time.sleep(2 * DATABASE_SAMPLE_SECONDS + 0.5)
        scrapes = [httpx.get(f"{server.base_url}/metrics", timeout=10).text for _ in range(SCRAPES)]

    for exposition in scrapes:  # each scrape on a new connection: either worker answers, with the same sums
        read = {"method": "GET", "route": "/metadatas/{uuid}", "status": "2xx"}
        capture = {"method": "POST", "route": PAYLOADS, "status": "2xx"}
        assert _sample(exposition, "metadock_http_requests_total", **read) == READS
        assert _sample(exposition, "metadock_http_request_duration_seconds_count", **read) == READS
        assert _sample(exposition, "metadock_http_request_duration_seconds_bucket", **read, le="+Inf") == READS
        assert _sample(exposition, "metadock_http_requests_total", **capture) == CAPTURES
        assert _sample(exposition, "metadock_payload_captures_total", outcome="stored") == CAPTURES
        assert _sample(exposition, "metadock_payload_stored_bytes_total") == sum(sizes)
        # The node's pool: both workers' limits summed, nothing held or queued at rest.
        assert _sample(exposition, "metadock_database_connections", state="max") == 2 * 2 * POOL_SIZE
        assert _sample(exposition, "metadock_database_connections", state="in_use") == 0
        assert _sample(exposition, "metadock_database_connections", state="waiting") == 0
        assert "pid=" not in exposition  # one series per node, not per worker
    assert _metrics_directories(temp, besides=live) == []  # removed when the server stopped
    assert (live / "counter_1.db").exists()
