"""A run's ZIP (``GET /api/v1/flow-runs/{id}/payloads.zip``): server memory growth and throughput, a small run against
one ten times larger, over real HTTP. Streaming means the growth does not scale with the run.

Run: `.venv/bin/python -m bench.run_archive [--payloads 20] [--payload-kib 1024]`. Writes
bench/results/run_archive.{md,json}.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import platform
import random
import tempfile
import time
import zipfile
from pathlib import Path

import httpx

from bench.memory import MIB, PeakSampler
from bench.server import start, tree_rss_bytes
from bench.tables import markdown_table, write_results

CAPTURE = "/api/v1/payload-metadata"


def _capture_run(client: httpx.Client, run_id: int, payloads: int, body: bytes) -> None:
    for index in range(payloads):
        created = client.post(
            CAPTURE,
            params={"flow_run_id": run_id, "flow_step_id": index % 5 + 1},
            content=body,
            headers={"Content-Type": "application/gzip"},
        )
        assert created.status_code == 201, created.text


def _download(client: httpx.Client, pid: int, run_id: int) -> tuple[int, int, float]:
    """Bytes received, peak RSS of the server's process tree, seconds."""
    started = time.perf_counter()
    received = 0
    with PeakSampler(pid) as peak, client.stream("GET", f"/api/v1/flow-runs/{run_id}/payloads.zip") as response:
        assert response.status_code == 200, response.read()
        for chunk in response.iter_raw(MIB):
            received += len(chunk)
    return received, peak.peak, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--payloads", type=int, default=20, help="payloads in the small run (the large has 10x)")
    parser.add_argument("--payload-kib", type=int, default=1024)
    args = parser.parse_args()
    # Incompressible and typed as already compressed (deflated at level 0): the archive is as large as the payloads,
    # so the bytes really flow through the server.
    body = random.Random(16).randbytes(args.payload_kib * 1024)
    runs = {"small": (1, args.payloads), "large": (2, args.payloads * 10)}

    with tempfile.TemporaryDirectory(prefix="metadock-bench-") as tmp:
        server = start(Path(tmp), {})
        try:
            with httpx.Client(
                base_url=server.base_url, headers={"Authorization": server.api_key}, timeout=600
            ) as client:
                for run_id, payloads in runs.values():
                    _capture_run(client, run_id, payloads, body)
                # Warm up every code path (and check the archive whole) before the baseline.
                _capture_run(client, 3, 2, body)
                warm = client.get("/api/v1/flow-runs/3/payloads.zip")
                assert len(zipfile.ZipFile(io.BytesIO(warm.content)).namelist()) == 3
                time.sleep(0.5)
                baseline = tree_rss_bytes(server.process.pid)
                measured = {name: _download(client, server.process.pid, run_id) for name, (run_id, _) in runs.items()}
        finally:
            server.stop()

    rows = [
        {
            "run": name,
            "payloads": runs[name][1],
            "archive_mib": round(received / MIB, 1),
            "growth_mib": round((peak - baseline) / MIB, 1),
            "mib_per_s": round(received / MIB / seconds, 1),
        }
        for name, (received, peak, seconds) in measured.items()
    ]
    result = {
        "scenario": "run archive memory",
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}",
        "payload_kib": args.payload_kib,
        "baseline_rss_mib": round(baseline / MIB, 1),
        "rows": rows,
    }
    lines = [
        f"# Run archive: server memory growth, {args.payload_kib} KiB payloads ({result['when']})",
        "",
        f"Machine: {result['machine']}; server RSS before: {result['baseline_rss_mib']} MiB; SQLite, file store.",
        "",
        *markdown_table(
            ["run", "payloads", "archive (MiB)", "RSS growth (MiB)", "throughput (MiB/s)"],
            ([r["run"], r["payloads"], r["archive_mib"], r["growth_mib"], r["mib_per_s"]] for r in rows),
        ),
    ]
    write_results("run_archive", result, lines)


if __name__ == "__main__":
    main()
