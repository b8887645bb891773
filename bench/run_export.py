"""Streaming export (``GET /api/v1/payload-metadata/export``, ``GET /metadatas/export``): rows/s and the server's
memory growth over real HTTP, a tenth of the records against all 1,000,000. Streaming in batches means the growth
does not scale with the export. Baseline, measured in the same run on the same server: the list paged with
``per_page=100`` (as a client without the export walks the records), in rows/s.

Run: `.venv/bin/python -m bench.run_export [--payloads 1000000] [--list-pages 200]`. Seeds (once, kept under
var/bench/) one tenant holding every record; writes bench/results/export.{md,json}.
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import time
from typing import Any

import httpx

from bench.memory import MIB, PeakSampler
from bench.seed import SeedParams, ensure
from bench.server import start, tree_rss_bytes
from bench.tables import markdown_table, write_results

PAYLOADS = "/api/v1/payload-metadata"


def _export(client: httpx.Client, pid: int, path: str, params: dict[str, str]) -> dict[str, Any]:
    """Rows (lines), bytes, peak RSS of the server's process tree and seconds of one export read to its end."""
    started = time.perf_counter()
    received = lines = 0
    with PeakSampler(pid) as peak, client.stream("GET", path, params=params) as response:
        assert response.status_code == 200, response.read()
        for chunk in response.iter_raw(MIB):
            received += len(chunk)
            lines += chunk.count(b"\n")
    seconds = time.perf_counter() - started
    rows = lines - 1 if params.get("format") == "csv" else lines  # the header row
    return {"rows": rows, "bytes": received, "peak": peak.peak, "seconds": seconds}


def _list_rate(client: httpx.Client, pages: int) -> float:
    """Rows/s of the list paged in id order, 100 a page (the anchors make deep pages cheap; see the README)."""
    started = time.perf_counter()
    rows = 0
    for page in range(1, pages + 1):
        response = client.get(PAYLOADS, params={"per_page": "100", "page": str(page)})
        assert response.status_code == 200, response.text
        rows += len(response.json()["data"])
    return rows / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--payloads", type=int, default=1_000_000)
    parser.add_argument("--metadatas", type=int, default=100_000)
    parser.add_argument("--list-pages", type=int, default=200)
    parser.add_argument("--reseed", action="store_true")
    args = parser.parse_args()
    # One tenant holds every record; a small store sample (nothing here reads bytes).
    params = SeedParams(args.payloads, args.metadatas, 1, None, None, sample=10, big_bytes=MIB)
    manifest = ensure(params, reseed=args.reseed)
    key = manifest["tenants"][0]["key"]

    # (label, path, params): a tenth of the payload records (step 1 of every run's ten) against all of them.
    cases = [
        ("payloads, step 1 only, ndjson", f"{PAYLOADS}/export", {"filter[flow_step_id]": "1"}),
        ("payloads, all, ndjson", f"{PAYLOADS}/export", {}),
        ("payloads, step 1 only, csv", f"{PAYLOADS}/export", {"filter[flow_step_id]": "1", "format": "csv"}),
        ("payloads, all, csv", f"{PAYLOADS}/export", {"format": "csv"}),
        ("metadatas, all, ndjson", "/metadatas/export", {}),
        ("metadatas, all, csv", "/metadatas/export", {"format": "csv"}),
    ]
    server = start(params.directory, {"METADOCK_DATABASE_URL": params.db_url})
    try:
        with httpx.Client(base_url=server.base_url, headers={"Authorization": key}, timeout=3600) as client:
            # Warm every code path up (and check the shape) before the baseline.
            for _label, path, query in cases:
                warm = client.get(path, params={**query, "filter[id]" if "payload" in path else "id": "1"})
                assert warm.status_code == 200, warm.text
            list_rate = _list_rate(client, args.list_pages)
            time.sleep(0.5)
            baseline = tree_rss_bytes(server.process.pid)
            measured = [(label, _export(client, server.process.pid, path, query)) for label, path, query in cases]
    finally:
        server.stop()

    rows = [
        {
            "export": label,
            "rows": m["rows"],
            "mib": round(m["bytes"] / MIB, 1),
            "seconds": round(m["seconds"], 1),
            "rows_per_s": round(m["rows"] / m["seconds"]),
            "vs_list_paging": round(m["rows"] / m["seconds"] / list_rate, 1),
            "growth_mib": round((m["peak"] - baseline) / MIB, 1),
        }
        for label, m in measured
    ]
    result = {
        "scenario": "streaming export",
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}",
        "payloads": args.payloads,
        "list_paging_rows_per_s": round(list_rate),
        "baseline_rss_mib": round(baseline / MIB, 1),
        "rows": rows,
    }
    lines = [
        f"# Streaming export: throughput and server memory growth ({result['when']})",
        "",
        f"Machine: {result['machine']}; SQLite, one tenant of {args.payloads:,} payload records and "
        f"{args.metadatas:,} metadatas; batch size 1,000 (the default); server RSS before: "
        f"{result['baseline_rss_mib']} MiB. Baseline: the list paged 100 at a time, "
        f"{result['list_paging_rows_per_s']:,} rows/s.",
        "",
        *markdown_table(
            ["export", "rows", "MiB", "s", "rows/s", "× list paging", "RSS growth (MiB)"],
            (
                [
                    r["export"],
                    f"{r['rows']:,}",
                    r["mib"],
                    r["seconds"],
                    f"{r['rows_per_s']:,}",
                    r["vs_list_paging"],
                    r["growth_mib"],
                ]
                for r in rows
            ),
        ),
    ]
    write_results("export", result, lines)


if __name__ == "__main__":
    main()
