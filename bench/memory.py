"""S10: server memory growth while a 1 GiB payload is captured and downloaded (target: <= 64 MiB).

Run: `.venv/bin/python -m bench.memory [--size-mib 1024]`. Writes bench/results/memory.{md,json}.
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from bench.server import start, tree_rss_bytes
from bench.tables import markdown_table, write_results

MIB = 1024 * 1024


class PeakSampler:
    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, tree_rss_bytes(self.pid))
            time.sleep(0.02)

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def _body(size: int, chunk: int = MIB) -> Iterator[bytes]:
    block = bytes(range(256)) * (chunk // 256)
    sent = 0
    while sent < size:
        piece = block[: min(chunk, size - sent)]
        sent += len(piece)
        yield piece


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mib", type=int, default=1024)
    args = parser.parse_args()
    size = args.size_mib * MIB

    with tempfile.TemporaryDirectory(prefix="metadock-bench-") as tmp:
        server = start(Path(tmp), {"METADOCK_MAX_PAYLOAD_BYTES": str(size + MIB)})
        try:
            headers = {"Authorization": server.api_key}
            with httpx.Client(base_url=server.base_url, headers=headers, timeout=600) as client:
                # Warm up every code path once so that imports and caches are in the baseline, not the growth.
                warm = client.post("/api/v1/payload-metadata?flow_run_id=1&flow_step_id=1", content=b"warm-up")
                client.get(f"/api/v1/payload-metadata/{warm.json()['data']['id']}/download")
                time.sleep(0.5)
                baseline = tree_rss_bytes(server.process.pid)

                started = time.perf_counter()
                with PeakSampler(server.process.pid) as upload_peak:
                    created = client.post(
                        "/api/v1/payload-metadata?flow_run_id=1&flow_step_id=2",
                        content=_body(size),
                        headers={"Content-Type": "application/octet-stream"},
                    )
                upload_seconds = time.perf_counter() - started
                assert created.status_code == 201, created.text
                record = created.json()["data"]
                assert int(record["payload_size"]) == size

                started = time.perf_counter()
                received = 0
                download = f"/api/v1/payload-metadata/{record['id']}/download"
                with PeakSampler(server.process.pid) as download_peak, client.stream("GET", download) as response:
                    for chunk in response.iter_raw(MIB):
                        received += len(chunk)
                download_seconds = time.perf_counter() - started
                assert received == size
        finally:
            server.stop()

    rows = [
        ("upload", upload_peak.peak - baseline, upload_seconds),
        ("download", download_peak.peak - baseline, download_seconds),
    ]
    result = {
        "scenario": "S10 memory growth",
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}",
        "payload_mib": args.size_mib,
        "baseline_rss_mib": round(baseline / MIB, 1),
        "rows": [
            {"phase": phase, "growth_mib": round(growth / MIB, 1), "mib_per_s": round(args.size_mib / seconds, 1)}
            for phase, growth, seconds in rows
        ],
        "target_growth_mib": 64,
    }
    lines = [
        f"# S10: memory growth, {args.size_mib} MiB payload ({result['when']})",
        "",
        f"Machine: {result['machine']}; server RSS before: {result['baseline_rss_mib']} MiB.",
        "",
        *markdown_table(
            ["phase", "RSS growth (MiB)", "throughput (MiB/s)", "target"],
            ([r["phase"], r["growth_mib"], r["mib_per_s"], "<= 64 MiB"] for r in result["rows"]),
        ),
    ]
    write_results("memory", result, lines)


if __name__ == "__main__":
    main()
