"""Turn measurements into rows (ratios against the baselines, targets met or missed) and a Markdown report."""

from __future__ import annotations

from typing import Any

from bench.baselines import DbTiming
from bench.scenarios import Measured, Target
from bench.wrk import WrkResult

S10_TARGET_MIB = 64


def _at(measured: Measured | None, connections: int) -> WrkResult | None:
    """The baseline's run at the same concurrency, else the nearest one."""
    if measured is None or not measured.runs:
        return None
    return min(measured.runs, key=lambda run: (abs(run.connections - connections), -run.connections))


def _ratio(run: WrkResult, baseline: str, measured: dict[str, Measured], db: dict[str, DbTiming]) -> tuple[float, str]:
    if baseline.startswith("db:"):
        timing = db.get(baseline[3:])
        if timing is None or not timing.p50_ms:
            return float("nan"), ""
        factor = run.p50_ms / timing.p50_ms
        return factor, f"p50 {factor:.1f}x DB ({timing.p50_ms:.2f} ms)"
    base = _at(measured.get(baseline), run.connections)
    if base is None:
        return float("nan"), ""
    if baseline.startswith("nginx"):
        factor = run.mb_per_s / base.mb_per_s if base.mb_per_s else float("nan")
        return factor, f"{factor:.2f}x {baseline} MB/s"
    factor = run.rps / base.rps if base.rps else float("nan")
    return factor, f"{factor:.2f}x {baseline}"


def _met(target: Target, run: WrkResult, ratios: dict[str, float]) -> bool | None:
    match target.kind:
        case "ratio" | "mbps_ratio":
            value = ratios.get(target.baseline)
            return None if value is None or value != value else value >= target.value
        case "rps":
            return run.rps >= target.value
        case "p50":
            # A run that completed no request has no p50 (wrk reports 0): a stalled scenario, never a met one.
            return run.requests > 0 and run.p50_ms <= target.value if run.connections == 1 else None
    raise ValueError(target.kind)


def rows(measured: dict[str, Measured], db_timings: list[DbTiming], s10: dict[str, Any] | None) -> list[dict[str, Any]]:
    db = {timing.scenario: timing for timing in db_timings}
    out: list[dict[str, Any]] = []
    for scenario_id, entry in measured.items():
        scenario = entry.scenario
        for run in entry.runs:
            ratios: dict[str, float] = {}
            texts = []
            for baseline in scenario.baselines:
                factor, text = _ratio(run, baseline, measured, db)
                if text:
                    ratios[baseline] = factor
                    texts.append(text)
            verdicts = [_met(target, run, ratios) for target in scenario.targets]
            applicable = [v for v in verdicts if v is not None]
            met: bool | None = all(applicable) if applicable else None
            if met and run.errors > 0.001 * max(1, run.requests):
                met = False
            out.append(
                {
                    "scenario": scenario_id,
                    "title": scenario.title,
                    "baseline": scenario.is_baseline,
                    "c": run.connections,
                    "requests": run.requests,
                    "rps": round(run.rps, 1),
                    "mb_per_s": round(run.mb_per_s, 1),
                    # No request completed (a long download at high concurrency): only MB/s means something.
                    "p50_ms": round(run.p50_ms, 3) if run.requests else None,
                    "p99_ms": round(run.p99_ms, 3) if run.requests else None,
                    "errors": run.errors,
                    "cpu_percent": round(run.cpu_percent, 1),
                    "peak_rss_mib": round(run.peak_rss_mib, 1),
                    "ratios": {k: round(v, 3) for k, v in ratios.items()},
                    "ratio_text": "; ".join(texts),
                    "target": "; ".join(t.text for t in scenario.targets),
                    "met": met,
                    "throughput": scenario.throughput,
                    "note": entry.note,
                }
            )
    if s10:
        for phase in s10["rows"]:
            out.append(
                {
                    "scenario": "S10",
                    "title": f"server RSS growth during a {s10['payload_mib']} MiB {phase['phase']} (bench.memory)",
                    "baseline": False,
                    "c": 1,
                    "mb_per_s": round(phase["mib_per_s"] * 1.048576, 1),
                    "growth_mib": phase["growth_mib"],
                    "ratio_text": f"growth {phase['growth_mib']} MiB over {s10['baseline_rss_mib']} MiB",
                    "target": f"<= {S10_TARGET_MIB} MiB",
                    "met": phase["growth_mib"] <= S10_TARGET_MIB,
                    "throughput": True,
                    "note": phase["phase"],
                }
            )
    return out


def _cell(value: Any, digits: int = 0) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def markdown(results: dict[str, Any]) -> str:
    m, d = results["machine"], results["dataset"]
    params = d["params"]
    lines = [
        f"# Metadock benchmark ({results['when']})",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, Linux {m['kernel']}; Python {m['python']}, "
        f"SQLite {m['sqlite']}; {m['wrk']}; {m['nginx']}; {m['datasette']}.",
        "",
        f"Command: `{results['command']}` ({results['duration_s']:g} s per measured run after a warm-up, "
        f"`wrk -t1 --latency`, {results['workers']} server worker(s), database pool size {results['pool_size']}; "
        f"wall time {results['wall_seconds']} s; 1-minute load average {results['load_average'][0]} before, "
        f"{results['load_average'][1]} after).",
        "",
        f"Dataset: {params['payloads']:,} payload records and {params['metadatas']:,} metadatas over "
        f"{params['tenants']} tenants on {m['database']} (`{params['database_url']}`), store `{params['store_url']}`; "
        f"the loaded tenant holds {d['loaded_tenant_rows']:,} payload records "
        f"(deep pages {d['deep_page']}, {d.get('deepest_page')}). "
        f"Seeded in {d['seed_seconds']} s ({'reused from ' + d['seeded_at'] if d['reused'] else 'this run'}).",
        "",
        "| scenario | c | req/s | MB/s | p50 ms | p99 ms | errors | server CPU % | peak RSS MiB | ratio | target "
        "| met? |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in results["rows"]:
        met = {True: "met", False: "**missed**", None: ""}[row["met"]]
        name = f"{row['scenario']}{' (baseline)' if row['baseline'] else ''}"
        lines.append(
            f"| {name} | {row['c']} | {_cell(row.get('rps'), 1 if (row.get('rps') or 100) < 10 else 0)} | "
            f"{_cell(row.get('mb_per_s')) if row['throughput'] else ''} | {_cell(row.get('p50_ms'), 2)} | "
            f"{_cell(row.get('p99_ms'), 2)} | {_cell(row.get('errors'))} | {_cell(row.get('cpu_percent'))} | "
            f"{_cell(row.get('peak_rss_mib'))} | {row['ratio_text']} | {row['target']} | {met} |"
        )
    lines += ["", "Scenarios:", ""]
    seen = set()
    for row in results["rows"]:
        if row["scenario"] not in seen:
            seen.add(row["scenario"])
            note = f" ({row['note']})" if row.get("note") and row["scenario"] != "S10" else ""
            lines.append(f"- **{row['scenario']}**: {row['title']}{note}")
    if results["db_limit"]:
        lines += [
            "",
            "Database limit: the statements the list request runs (recorded from the repository: the page, then the "
            "total), replayed in-process with the bare driver:",
            "",
            "| scenario | iterations | p50 ms | p99 ms | p50 ms of each statement | plan of each statement |",
            "|---|---|---|---|---|---|",
        ]
        for t in results["db_limit"]:
            each = " + ".join(f"{ms:.2f}" for ms in t["statement_p50_ms"])
            lines.append(
                f"| {t['scenario']} | {t['iterations']} | {t['p50_ms']:.2f} | {t['p99_ms']:.2f} | {each} "
                f"| {t['plan']} |"
            )
    if results["skipped"]:
        lines += ["", "Skipped: " + "; ".join(f"{k}: {v}" for k, v in results["skipped"].items())]
    lines += [
        "",
        "Ratios compare with the baseline at the same concurrency (S7 at c=16 with the floor at c=32). Server CPU is "
        "the utime + stime of the server's process tree over the run divided by the wall time (100% = one core); "
        "peak RSS is the tree's, sampled every 20 ms. wrk runs on the same 2-core machine.",
    ]
    return "\n".join(lines) + "\n"
