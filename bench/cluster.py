"""The cluster benchmark: S1/S3/S6/S7 through HAProxy against 1, 2 and 3 ``metadock serve`` nodes on one PostgreSQL
database and one SeaweedFS, with the floor (``/healthz``) through HAProxy and a direct single-node floor and S1 in
the same stretch of time as baselines. Records the CPU of the nodes, HAProxy, SeaweedFS and the database's
PostgreSQL backends, and the database's connections, for every run. Writes bench/results/cluster-latest.{md,json}.

Run: `.venv/bin/python -m bench.cluster [--nodes 1,2,3] [--workers 2] [--pool-size 10] [--duration 5]
[--payloads 20000] [--database-url postgresql://postgres@127.0.0.1:5432/metadock_bench_cluster] [--reseed]`
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import secrets
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import asyncpg

from bench import cluster_report, install_tools, report, seaweedfs, wrk
from bench.cluster_meter import PostgresWatch, Usage, metered
from bench.cluster_nodes import Balancer, Node, haproxy_binary, start_balancer, start_node
from bench.run import machine
from bench.scenarios import CAPTURE_RUN_BASE, CAPTURE_RUNS, Measured, Scenario, check, remove_captures, scenarios
from bench.seed import MIB, SeedParams, ensure
from bench.seed_postgres import driver_url

RESULTS = Path(__file__).parent / "results"
DEFAULT_DATABASE = "postgresql://postgres@127.0.0.1:5432/metadock_bench_cluster"
SCENARIOS = ("S1", "S3", "S6", "S7")


def log(message: str) -> None:
    print(message, flush=True)


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.cluster", description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", default="1,2,3", help="cluster sizes to run, in order (default 1,2,3)")
    parser.add_argument("--workers", type=int, default=2, help="`serve --workers` of each node (default 2)")
    parser.add_argument(
        "--pool-size",
        type=int,
        default=3,
        help="METADOCK_DATABASE_POOL_SIZE (default 3, as tests/cluster: a worker keeps up to twice this many "
        "connections open, and 3 nodes x 2 workers x 2 x 10 would pass a shared server's max_connections of 100)",
    )
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per measured run (default 5)")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds of warm-up before each scenario")
    parser.add_argument("--payloads", type=int, default=20_000, help="payload records (default: the quick 20,000)")
    parser.add_argument("--metadatas", type=int, default=2_000)
    parser.add_argument("--tenants", type=int, default=10)
    parser.add_argument("--database-url", default=DEFAULT_DATABASE, help="a PostgreSQL database of its own "
                        "(created and seeded when missing)")  # fmt: skip
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help="a subset of S1,S3,S6,S7")
    parser.add_argument(
        "--server-keepalive",
        action="store_true",
        help="leave deploy/haproxy.cfg's `option http-server-close` out: HAProxy reuses its connections to the nodes",
    )
    parser.add_argument("--reseed", action="store_true", help="seed again even if the dataset exists")
    parser.add_argument("--label", default="", help="appended to the timestamped result files' names")
    args = parser.parse_args(argv)
    args.counts = [int(n) for n in args.nodes.split(",") if n.strip()]
    args.selected = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    if not args.database_url.startswith("postgres"):
        parser.error("a cluster shares one PostgreSQL database: --database-url postgresql://…")
    if max(args.counts) > 3:
        parser.error("deploy/haproxy.cfg names three nodes")
    return args


def _tools() -> dict[str, str]:
    missing = [name for name, found in (("wrk", shutil.which("wrk")), ("haproxy", haproxy_binary())) if not found]
    install_tools.apt_install(missing, log)
    binary = haproxy_binary() or "haproxy"
    version = subprocess.run([binary, "-v"], capture_output=True, text=True, check=False).stdout
    return {"haproxy": version.split(" - ")[0]}


async def _postgres_facts(url: str) -> dict[str, Any]:
    connection = await asyncpg.connect(driver_url(url))
    try:
        return {
            "postgres": await connection.fetchval("SHOW server_version"),
            "max_connections": int(await connection.fetchval("SHOW max_connections")),
            "superuser_reserved_connections": int(await connection.fetchval("SHOW superuser_reserved_connections")),
            "connections_at_start": int(await connection.fetchval("SELECT count(*) FROM pg_stat_activity")),
        }
    finally:
        await connection.close()


class Runner:
    """Runs scenarios against a URL, every wrk run metered; keeps what it measured for the report."""

    def __init__(
        self,
        args: argparse.Namespace,
        manifest: dict[str, Any],
        work: Path,
        store: seaweedfs.S3Store,
        params: SeedParams,
        groups: dict[str, Callable[[], list[int]]],
        watch: PostgresWatch,
    ) -> None:
        self.args, self.manifest, self.work, self.store, self.params = args, manifest, work, store, params
        self.groups, self.watch = groups, watch
        self.key: str = manifest["tenants"][0]["key"]
        self.tenant_id: int = manifest["tenants"][0]["id"]
        self.catalogue = {scenario.id: scenario for scenario in scenarios(postgres=True)}

    def scenario(self, base: str, name: str, baselines: tuple[str, ...]) -> Scenario:
        """The single-node bench's scenario under ``name``, compared with ``baselines`` (its targets dropped: they
        are the single node's)."""
        return replace(self.catalogue[base], id=name, baselines=baselines, targets=())

    def _script_args(self, scenario: Scenario, url: str) -> list[str]:
        if scenario.script == "capture.lua":
            return [self.key, "1024", str(CAPTURE_RUN_BASE), str(CAPTURE_RUNS)]
        paths = scenario.paths(self.manifest)
        path_file = self.work / f"{scenario.id}.paths"
        path_file.write_text("\n".join(paths) + "\n")
        auth = self.key if scenario.auth else None
        log(f"{scenario.id}: {scenario.title} [{len(paths)} paths; first: {check(url, paths[0], auth)}]")
        return [str(path_file), auth or "-"]

    def run(self, scenario: Scenario, url: str) -> tuple[Measured, dict[int, Usage]]:
        captures = scenario.script == "capture.lua"
        if captures:
            removed = remove_captures(self.params.db_url, self.store.url, self.tenant_id, self.store.endpoint)
            log(f"{scenario.id}: {scenario.title} [{removed} earlier captures removed first]")
        script_args = self._script_args(scenario, url)
        if self.args.warmup > 0:
            wrk.run(url, scenario.script, script_args, connections=max(scenario.concurrency),
                    duration_s=self.args.warmup, timeout_s=scenario.timeout_s)  # fmt: skip
        runs, usages = [], {}
        for connections in scenario.concurrency:
            with metered(self.groups, self.watch) as found:
                result = wrk.run(url, scenario.script, script_args, connections=connections,
                                 duration_s=self.args.duration, timeout_s=scenario.timeout_s)  # fmt: skip
            usage = found[0]
            runs.append(result)
            usages[connections] = usage
            per = {k: f"{100 * v / usage.wall_s:.0f}%" for k, v in usage.cpu_s.items()}
            log(f"  {scenario.id:<12} c={connections:<3} {result.rps:>8,.0f} req/s, p50 {result.p50_ms:.2f} ms, "
                f"p99 {result.p99_ms:.2f} ms, errors {result.errors}, CPU {per}, "
                f"PG connections peak {usage.pg_connections_peak} (active {usage.pg_active_peak})")  # fmt: skip
        measured = Measured(scenario, runs)
        if captures:
            removed = remove_captures(self.params.db_url, self.store.url, self.tenant_id, self.store.endpoint)
            measured.note = f"{removed} captured records (and their S3 objects) removed after the run"
        return measured, usages


def _one_size(runner: Runner, nodes: list[Node], balancer: Balancer) -> list[dict[str, Any]]:
    """Every scenario at one cluster size: direct baselines on node1 interleaved with the runs through HAProxy."""
    direct, lb = nodes[0].url, balancer.url
    plan: list[tuple[Scenario, str]] = [
        (runner.scenario("floor", "floor-direct", ()), direct),
        (runner.scenario("floor", "floor", ("floor-direct",)), lb),
    ]
    if "S1" in runner.args.selected:
        plan += [(runner.scenario("S1", "S1-direct", ("floor-direct",)), direct),
                 (runner.scenario("S1", "S1", ("floor", "S1-direct")), lb)]  # fmt: skip
    plan += [(runner.scenario(s, s, ("floor",)), lb) for s in runner.args.selected if s != "S1"]
    measured: dict[str, Measured] = {}
    usages: dict[tuple[str, int], Usage] = {}
    for scenario, url in plan:
        measured[scenario.id], by_c = runner.run(scenario, url)
        usages |= {(scenario.id, c): usage for c, usage in by_c.items()}
    rows = report.rows(measured, [], None)
    for row in rows:
        usage = usages[(row["scenario"], row["c"])]
        requests = max(1, row["requests"])
        row |= {
            "nodes": len(nodes),
            "via": "direct to node1" if row["scenario"].endswith("-direct") else "HAProxy",
            "cpu_percent": {k: round(100 * v / usage.wall_s, 1) for k, v in usage.cpu_s.items()},
            "cpu_ms_per_request": {k: round(1000 * v / requests, 3) for k, v in usage.cpu_s.items()},
            "pg_connections_peak": usage.pg_connections_peak,
            "pg_active_peak": usage.pg_active_peak,
            "pg_connections_end": usage.pg_connections_end,
        }
    return rows


def _scaling(rows: list[dict[str, Any]]) -> None:
    """Each row's req/s against the same scenario and concurrency on one node (when one node ran)."""
    single = {(r["scenario"], r["c"]): r["rps"] for r in rows if r["nodes"] == 1}
    for row in rows:
        base = single.get((row["scenario"], row["c"]))
        row["vs_one_node"] = round(row["rps"] / base, 3) if base else None


def main(argv: list[str] | None = None) -> None:
    args = _arguments(argv)
    command = f".venv/bin/python -m bench.cluster {shlex.join(sys.argv[1:] if argv is None else argv)}".strip()
    started, load_before = time.perf_counter(), os.getloadavg()
    versions = _tools()
    params = SeedParams(
        payloads=args.payloads, metadatas=args.metadatas, tenants=args.tenants, database_url=args.database_url,
        store_url=None, big_bytes=16 * MIB,
    )  # fmt: skip
    manifest = ensure(params, reseed=args.reseed, log=log)
    facts = asyncio.run(_postgres_facts(params.db_url))
    work = Path(tempfile.mkdtemp(prefix="metadock-bench-cluster-"))
    nodes: list[Node] = []
    balancer: Balancer | None = None
    rows: list[dict[str, Any]] = []
    loads: dict[int, list[float]] = {}
    failures: dict[int, str] = {}
    database = params.db_url.rsplit("/", 1)[1].split("?", 1)[0]
    groups: dict[str, Callable[[], list[int]]] = {
        "nodes": lambda: [node.pid for node in nodes],
        "haproxy": lambda: [balancer.pid] if balancer else [],
    }
    try:
        with seaweedfs.running(params.directory / "seaweedfs-cluster") as store, \
                PostgresWatch(params.db_url, database) as watch:  # fmt: skip
            groups["seaweedfs"] = lambda: [store.pid]
            env = {
                "METADOCK_DATABASE_URL": params.db_url,
                "METADOCK_STORE_URL": store.url,
                **store.env,
                "METADOCK_SECRET_KEY": secrets.token_urlsafe(48),  # one for every node, as a deployment sets it
                "METADOCK_DATABASE_POOL_SIZE": str(args.pool_size),
                "METADOCK_PAYLOAD_RETENTION_DAYS": "0",
                "METADOCK_MAX_PAYLOAD_BYTES": str(64 * MIB),
            }
            runner = Runner(args, manifest, work, store, params, groups, watch)
            for count in args.counts:
                while len(nodes) < count:
                    nodes.append(start_node(f"node{len(nodes) + 1}", work, env, args.workers))
                    log(f"Started {nodes[-1].name} ({args.workers} worker(s)) on {nodes[-1].url}")
                balancer = start_balancer(nodes[:count], work, server_keepalive=args.server_keepalive)
                log(f"== {count} node(s) behind HAProxy on {balancer.url} (load average {os.getloadavg()[0]:.2f})")
                before = os.getloadavg()[0]
                try:
                    rows += _one_size(runner, nodes[:count], balancer)
                except Exception as error:  # noqa: BLE001  # the sizes measured so far are still written
                    failures[count] = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
                    log(f"  {count} node(s) failed: {failures[count]}")
                finally:
                    balancer.stop()
                    balancer = None
                loads[count] = [round(before, 2), round(os.getloadavg()[0], 2)]
    finally:
        for node in nodes:
            node.stop()
        shutil.rmtree(work, ignore_errors=True)
    _scaling(rows)
    results = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": command,
        "machine": machine(params.db_url) | versions | facts,
        "dataset": {"params": asdict(params) | {"database_url": params.db_url},
                    "loaded_tenant_rows": manifest["rows_per_tenant"][0], "reused": manifest["reused"]},
        "duration_s": args.duration,
        "workers": args.workers,
        "pool_size": args.pool_size,
        "nodes": args.counts,
        "server_keepalive": args.server_keepalive,
        "rows": rows,
        "load_average": {"start": round(load_before[0], 2), "end": round(os.getloadavg()[0], 2),
                         "per_size": loads},
        "wall_seconds": round(time.perf_counter() - started, 1),
        "failures": failures,
    }  # fmt: skip
    markdown = cluster_report.markdown(results)
    print(markdown)
    RESULTS.mkdir(exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ") + (f"-{args.label}" if args.label else "")
    for name in ("cluster-latest", f"{stamp}-cluster"):
        (RESULTS / f"{name}.json").write_text(json.dumps(results, indent=1) + "\n")
        (RESULTS / f"{name}.md").write_text(markdown)
    log(f"Wrote {RESULTS / 'cluster-latest.md'}, cluster-latest.json and {stamp}-cluster.*")


if __name__ == "__main__":
    main()
