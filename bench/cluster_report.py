"""The cluster benchmark's Markdown: one table per run (rows from ``report.rows``, with the cluster's columns) and a
summary of req/s by cluster size. ``python -m bench.cluster_report FILE.json…`` prints the CPU cost per request of
several runs together (:func:`cost_table`)."""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path
from typing import Any

PARTS = ("nodes", "haproxy", "postgres", "seaweedfs")


def _n(value: float | None, digits: int = 0) -> str:
    return "" if value is None else f"{value:,.{digits}f}"


def _summary(results: dict[str, Any]) -> list[str]:
    sizes = results["nodes"]
    lines = [
        "| scenario | c | " + " | ".join(f"{n} node{'s' if n > 1 else ''}: req/s (× 1 node; × floor)" for n in sizes)
        + " |",
        "|---|---|" + "---|" * len(sizes),
    ]  # fmt: skip
    keys = list(dict.fromkeys((row["scenario"], row["c"]) for row in results["rows"]))
    for scenario, c in keys:
        cells = []
        for n in sizes:
            row = next((r for r in results["rows"] if (r["scenario"], r["c"], r["nodes"]) == (scenario, c, n)), None)
            if row is None:
                cells.append("")
                continue
            ratio = row["ratios"].get("floor") or row["ratios"].get("floor-direct")
            vs = f"{row['vs_one_node']:.2f}×" if row.get("vs_one_node") and n != sizes[0] else "1×"
            cells.append(f"{row['rps']:,.0f} ({vs}; {_n(ratio, 2)}×)" if ratio else f"{row['rps']:,.0f} ({vs})")
        lines.append(f"| {scenario} | {c} | " + " | ".join(cells) + " |")
    return lines


def markdown(results: dict[str, Any]) -> str:
    m, d = results["machine"], results["dataset"]
    params = d["params"]
    loads = ", ".join(f"{n} node(s) {a} → {b}" for n, (a, b) in results["load_average"]["per_size"].items())
    lines = [
        f"# Metadock cluster benchmark ({results['when']})",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, Linux {m['kernel']}; Python {m['python']}; "
        f"{m['wrk']}; {m['haproxy']}; PostgreSQL {m['postgres']} (max_connections {m['max_connections']}, "
        f"{m['connections_at_start']} in use by everything at the start).",
        "",
        f"Command: `{results['command']}` ({results['duration_s']:g} s per measured run after a warm-up, `wrk -t1 "
        f"--latency` on the same machine; each node `metadock serve --workers {results['workers']}`, pool size "
        f"{results['pool_size']}; HAProxy with deploy/haproxy.cfg"
        f"{' less `option http-server-close` (connections to the nodes reused)' if results['server_keepalive'] else ''}"
        f"; captures into SeaweedFS on loopback). Wall time "
        f"{results['wall_seconds']} s. 1-minute load average {results['load_average']['start']} at the start, "
        f"{results['load_average']['end']} at the end; per cluster size (before → after): {loads}.",
        "",
        f"Dataset: {params['payloads']:,} payload records and {params['metadatas']:,} metadatas over "
        f"{params['tenants']} tenants in `{params['database_url']}`; the loaded tenant holds "
        f"{d['loaded_tenant_rows']:,} payload records.",
        "",
        "req/s by cluster size (× 1 node: against the same scenario on one node behind HAProxy; × floor: against "
        "`/healthz` through HAProxy at the same size, or for `floor` itself against `/healthz` direct to node1):",
        "",
        *_summary(results),
        "",
        "Every run: CPU % (100% = one core) and CPU ms per request of the nodes (all workers), HAProxy, the "
        "PostgreSQL backends of the benchmark's database, SeaweedFS, and the whole machine (everything on it, wrk "
        "and other users included); PostgreSQL connections of the database at their peak (active: running a "
        "statement at once):",
        "",
        "| nodes | scenario | via | c | req/s | p50 ms | p99 ms | errors | ratio | CPU % nodes / HAProxy / PG / S3 / "
        "machine | CPU ms/req nodes / HAProxy / PG / S3 | PG conns peak (active) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in results["rows"]:
        cpu, per = row["cpu_percent"], row["cpu_ms_per_request"]
        lines.append(
            f"| {row['nodes']} | {row['scenario']} | {row['via']} | {row['c']} | {row['rps']:,.0f} | "
            f"{_n(row['p50_ms'], 2)} | {_n(row['p99_ms'], 2)} | {row['errors']} | {row['ratio_text']} | "
            + " / ".join(f"{cpu[k]:.0f}" for k in (*PARTS, "machine"))
            + " | "
            + " / ".join(f"{per[k]:.3f}" for k in PARTS)
            + f" | {row['pg_connections_peak']} ({row['pg_active_peak']}) |"
        )
    if results.get("failures"):
        lines += ["", "Failed: " + "; ".join(f"{n} node(s): {e}" for n, e in results["failures"].items())]
    lines += ["", "Scenarios:", ""]
    seen = set()
    for row in results["rows"]:
        if row["scenario"] not in seen:
            seen.add(row["scenario"])
            note = f" ({row['note']})" if row.get("note") else ""
            lines.append(f"- **{row['scenario']}**: {row['title']}{note}")
    lines += [
        "",
        "The machine has 2 cores for everything (nodes, HAProxy, PostgreSQL, SeaweedFS, wrk, and whatever else runs "
        "on it): adding nodes adds processes, not cores. Compare ratios measured in the same run.",
    ]
    return "\n".join(lines) + "\n"


def cost_table(runs: list[dict[str, Any]]) -> str:
    """CPU ms per request by component, median (min-max) over every run and cluster size given: the count-like
    figure a loaded machine moves least (it inflates it a little, by cache misses and switches; it does not divide
    it by the share of the cores the benchmark got)."""
    groups: dict[tuple[str, int], dict[str, list[float]]] = {}
    for results in runs:
        for row in results["rows"]:
            entry = groups.setdefault((row["scenario"], row["c"]), {k: [] for k in PARTS})
            for part in PARTS:
                entry[part].append(row["cpu_ms_per_request"][part])
    lines = [
        "| scenario | c | runs | " + " | ".join(f"{part} ms/req" for part in PARTS) + " | sum | 2 cores ÷ sum |",
        "|---|---|---|" + "---|" * (len(PARTS) + 2),
    ]
    for (scenario, c), entry in groups.items():
        medians = {part: statistics.median(values) for part, values in entry.items()}
        total = sum(medians.values())
        cells = [f"{medians[p]:.2f} ({min(entry[p]):.2f}-{max(entry[p]):.2f})" for p in PARTS]
        ceiling = f"{2000 / total:,.0f}/s" if total else ""
        row = " | ".join([scenario, str(c), str(len(entry["nodes"])), *cells, f"{total:.2f}", ceiling])
        lines.append(f"| {row} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(cost_table([json.loads(Path(name).read_text()) for name in sys.argv[1:]]), end="")
