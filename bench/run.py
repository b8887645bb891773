"""The benchmark: seed (or reuse) a dataset, serve it, load every scenario with wrk, measure the baselines in the same
run, and write the table to bench/results/ (latest.md, latest.json and a timestamped copy).

Run: `.venv/bin/python -m bench.run [--payloads 1000000] [--metadatas 100000] [--tenants 10] [--database-url URL]
[--store-url URL] [--seaweedfs] [--quick] [--duration SECONDS] [--scenarios S1,S3,...] [--workers N] [--reseed]`
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import shlex
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench import baselines, install_tools, report, seaweedfs, tags
from bench.scenarios import (
    CAPTURE_RUN_BASE,
    CAPTURE_RUNS,
    Measured,
    check,
    deep_page,
    deepest_page,
    measure,
    read_versions,
    remove_captures,
    scenarios,
    write_lines,
)
from bench.seed import MIB, SeedParams, ensure
from bench.server import Server, start
from bench.wrk import tree_pids

RESULTS = Path(__file__).parent / "results"
BASELINE_FOR = {"datasette": {"S3"}, "nginx-1k": {"S8"}, "nginx-big": {"S9"}}


def log(message: str) -> None:
    print(message, flush=True)


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--payloads", type=int, default=None, help="payload records (default 1,000,000)")
    parser.add_argument("--metadatas", type=int, default=None, help="metadatas (default 100,000)")
    parser.add_argument("--tenants", type=int, default=10)
    parser.add_argument("--database-url", default=None, help="default: SQLite under var/bench/<params>/")
    parser.add_argument("--store-url", default=None, help="default: a file store under var/bench/<params>/")
    parser.add_argument(
        "--seaweedfs",
        action="store_true",
        help="the server stores captures (S7) in S3: SeaweedFS on loopback, as the tests run it (S8/S9 skipped)",
    )
    parser.add_argument("--quick", action="store_true", help="a small smoke run (20k payloads, 3 s per scenario)")
    parser.add_argument("--duration", type=float, default=None, help="seconds per measured run (default 15; quick 3)")
    parser.add_argument("--scenarios", default="", help="comma-separated, e.g. S1,S3 (default: all, S10 included)")
    parser.add_argument("--workers", type=int, default=1, help="server worker processes")
    parser.add_argument(
        "--pool-size",
        type=int,
        default=32,
        help="METADOCK_DATABASE_POOL_SIZE for the server (the default 10 stalls the SQLite server above ~20 "
        "concurrent requests: a pool checkout blocks the event loop)",
    )
    parser.add_argument("--reseed", action="store_true", help="seed again even if the dataset exists")
    args = parser.parse_args(argv)
    args.payloads = args.payloads or (20_000 if args.quick else 1_000_000)
    args.metadatas = args.metadatas or (2_000 if args.quick else 100_000)
    args.duration = args.duration or (3.0 if args.quick else 15.0)
    args.selected = {s.strip() for s in args.scenarios.split(",") if s.strip()}
    return args


def machine(database_url: str) -> dict[str, Any]:
    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")), platform.processor()
    )  # fmt: skip

    def version(*command: str) -> str:
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=10, check=False)
        except OSError:
            return "missing"
        except subprocess.TimeoutExpired:  # a loaded machine: the version is for the report, not worth failing a run
            return "?"
        return (done.stdout + done.stderr).strip().splitlines()[0] if (done.stdout + done.stderr).strip() else "?"

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "database": "postgresql" if database_url.startswith("postgres") else "sqlite",
        "wrk": version("wrk", "--version"),
        "nginx": version(install_tools.nginx_binary() or "nginx", "-v"),
        "datasette": version(str(Path(sys.executable).with_name("datasette")), "--version"),
    }


def _wanted(args: argparse.Namespace, scenario_id: str) -> bool:
    if not args.selected or scenario_id == "floor":
        return True
    return scenario_id in args.selected or bool(BASELINE_FOR.get(scenario_id, set()) & args.selected)


def _stop(server: Server) -> None:
    """Stop the server; kill whatever of its tree survives (a worker whose loop is blocked ignores SIGTERM)."""
    pids = tree_pids(server.process.pid)
    server.stop()
    time.sleep(0.5)
    for pid in pids[1:]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
            log(f"  killed a server process that did not stop: {pid}")


def run_s10(quick: bool) -> dict[str, Any]:
    size = 128 if quick else 1024
    log(f"S10: bench.memory with a {size} MiB payload (its own server)")
    subprocess.run([sys.executable, "-m", "bench.memory", "--size-mib", str(size)], check=True, timeout=900)
    result: dict[str, Any] = json.loads((RESULTS / "memory.json").read_text())
    return result


def _load(
    args: argparse.Namespace,
    params: SeedParams,
    manifest: dict[str, Any],
    server: Server,
    work: Path,
    store_url: str,
    store_endpoint: str | None,
    measured: dict[str, Measured],
    skipped: dict[str, str],
) -> None:
    """Every wanted scenario against ``server`` (and the baselines that run beside it)."""
    postgres = params.db_url.startswith("postgres")
    file_store = params.resolved_store_url.startswith("file://")
    key = manifest["tenants"][0]["key"]
    tenant_id = manifest["tenants"][0]["id"]
    duration, warmup = args.duration, (1.0 if args.quick else 2.0)
    nginx: baselines.Service | None = None
    try:
        for scenario in scenarios(postgres):
            if not _wanted(args, scenario.id):
                continue
            service: baselines.Service | None = None
            url = server.base_url
            pid: int | None = server.process.pid
            if store_url != params.resolved_store_url and scenario.id in ("S8", "S9", "nginx-1k", "nginx-big"):
                skipped[scenario.id] = "the dataset's bytes are in its file store; the server's store is S3"
                continue
            if scenario.id == "datasette":
                if postgres:
                    skipped[scenario.id] = "datasette serves SQLite only"
                    continue
                service = baselines.start_datasette(Path(params.db_url.removeprefix("sqlite:///")), work)
                url, pid = service.base_url, service.process.pid
            elif scenario.id.startswith("nginx"):
                if not file_store:
                    skipped[scenario.id] = "nginx needs the file store"
                    continue
                nginx = nginx or baselines.start_nginx(Path(params.resolved_store_url.removeprefix("file://")), work)
                url, pid = nginx.base_url, nginx.process.pid
            try:
                auth = key if scenario.auth else None
                if scenario.script == "paths.lua":
                    paths = scenario.paths(manifest)
                    path_file = write_lines(work / f"{scenario.id}.paths", paths)
                    script_args: list[str] | Callable[[], list[str]] = [str(path_file), auth or "-"]
                    log(f"{scenario.id}: {scenario.title} [{len(paths)} paths; first: {check(url, paths[0], auth)}]")
                elif scenario.script == "update.lua":
                    pool_file = work / "S11.pool"

                    def pool_args(base: str = url, file: Path = pool_file) -> list[str]:
                        # Read again before every wrk run: the one before moved the versions on.
                        write_lines(file, [f"{u} {v}" for u, v in read_versions(base, key, manifest["update_pool"])])
                        return [key, str(file)]

                    script_args = pool_args
                    log(f"{scenario.id}: {scenario.title} [{len(manifest['update_pool'])} uuids, each in flight once]")
                else:
                    removed = remove_captures(params.db_url, store_url, tenant_id, store_endpoint)
                    script_args = [key, "1024", str(CAPTURE_RUN_BASE), str(CAPTURE_RUNS)]
                    log(f"{scenario.id}: {scenario.title} [{removed} earlier captures removed first]")
                measured[scenario.id] = measure(
                    scenario, url, script_args, duration_s=duration, warmup_s=warmup, pid=pid, log=log
                )
                if scenario.id == "S7":
                    removed = remove_captures(params.db_url, store_url, tenant_id, store_endpoint)
                    measured[scenario.id].note = f"{removed} captured records (and bytes) removed after the run"
            finally:
                if service:
                    service.stop()
    finally:
        _stop(server)
        if nginx:
            nginx.stop()


def main(argv: list[str] | None = None) -> None:
    args = _arguments(argv)
    command = f".venv/bin/python -m bench.run {shlex.join(sys.argv[1:] if argv is None else argv)}".strip()
    started = time.perf_counter()
    load_before = os.getloadavg()[0]
    install_tools.ensure(log)
    params = SeedParams(
        payloads=args.payloads,
        metadatas=args.metadatas,
        tenants=args.tenants,
        database_url=args.database_url,
        store_url=args.store_url,
        big_bytes=(16 if args.quick else 256) * MIB,
    )
    manifest = ensure(params, reseed=args.reseed, log=log)
    tenant = manifest["tenants"][0]
    if _wanted(args, "S12"):
        tags.ensure(params.db_url, tenant["id"], log)
    duration = args.duration
    measured: dict[str, Measured] = {}
    skipped: dict[str, str] = {}

    db_timings: list[baselines.DbTiming] = []
    if not args.selected or args.selected & {"S3", "S4", "S5", "S5b", "S12"}:
        log("Database limit: page + count in-process with the driver")
        runs = manifest["runs0"][:: max(1, len(manifest["runs0"]) // 200)]
        queries = {
            "S3": [[("filter[flow_run_id]", str(run)), ("per_page", "100")] for run in runs],
            "S4": [[("per_page", "100")]],
            "S5": [[("page", str(deep_page(manifest))), ("per_page", "100")]],
            "S5b": [[("page", str(deepest_page(manifest))), ("per_page", "100")]],
        }
        if _wanted(args, "S12"):  # the same records as S3's, found by their tag (bench/tags.py)
            queries["S12"] = [[(f"filter[tag.{tags.TAG}]", tags.value_of(run)), ("per_page", "100")] for run in runs]
        db_timings = baselines.time_database(params.db_url, tenant["id"], queries, 2.0 if args.quick else 8.0)
        for timing in db_timings:
            each = " + ".join(f"{ms:.2f}" for ms in timing.statement_p50_ms)
            log(f"  db:{timing.scenario} p50 {timing.p50_ms:.2f} ms ({each}), p99 {timing.p99_ms:.2f} ms")

    work = Path(tempfile.mkdtemp(prefix="metadock-bench-"))
    env = {
        "METADOCK_DATABASE_URL": params.db_url,
        "METADOCK_STORE_URL": params.resolved_store_url,
        "METADOCK_MAX_PAYLOAD_BYTES": str(params.big_bytes + 64 * MIB),
        "METADOCK_PAYLOAD_RETENTION_DAYS": "0",
        "METADOCK_DATA_DIR": str(params.directory),
        "METADOCK_DATABASE_POOL_SIZE": str(args.pool_size),
    }
    with contextlib.ExitStack() as stack:
        store_url, store_endpoint = params.resolved_store_url, None
        if args.seaweedfs:
            log("Starting SeaweedFS (S3 on loopback) for the server's store")
            s3 = stack.enter_context(seaweedfs.running(params.directory / "seaweedfs"))
            store_url, store_endpoint = s3.url, s3.endpoint
            env |= {"METADOCK_STORE_URL": s3.url, **s3.env}
        log(f"Starting the server ({args.workers} worker(s)) on {params.db_url}, store {store_url}")
        server = start(params.directory, env, "--workers", str(args.workers))
        _load(args, params, manifest, server, work, store_url, store_endpoint, measured, skipped)

    s10 = run_s10(args.quick) if not args.selected or "S10" in args.selected else None
    results = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": command,
        "machine": machine(params.db_url),
        "dataset": {
            "directory": str(params.directory),
            "params": asdict(params) | {"database_url": params.db_url, "store_url": params.resolved_store_url},
            "rows_per_tenant": manifest["rows_per_tenant"],
            "loaded_tenant_rows": manifest["rows_per_tenant"][0],
            "deep_page": deep_page(manifest),
            "deepest_page": deepest_page(manifest),
            "seed_seconds": manifest["seed_seconds"],
            "seeded_at": manifest["seeded_at"],
            "reused": manifest["reused"],
        },
        "duration_s": duration,
        "workers": args.workers,
        "pool_size": args.pool_size,
        "rows": report.rows(measured, db_timings, s10),
        "db_limit": [asdict(timing) for timing in db_timings],
        "s10": s10,
        "skipped": skipped,
        "wall_seconds": round(time.perf_counter() - started, 1),
        "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }
    markdown = report.markdown(results)
    print(markdown)
    RESULTS.mkdir(exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ") + ("-quick" if args.quick else "")
    for name in ("latest", stamp):
        (RESULTS / f"{name}.json").write_text(json.dumps(results, indent=1) + "\n")
        (RESULTS / f"{name}.md").write_text(markdown)
    log(f"Wrote {RESULTS / 'latest.md'}, latest.json and {stamp}.*")


if __name__ == "__main__":
    main()
