"""The scenarios and baselines: what each requests (the paths its Lua script draws from), at which concurrency, which
baseline it is compared with, and its target."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import delete

from bench import tags, wrk
from bench.dataset import payload_ids0
from metadock.kit.db import Database
from metadock.payloads import maintenance
from metadock.payloads.store import open_store
from metadock.payloads.table import payload_metadata

CAPTURE_RUN_BASE = 9_000_000_000  # S7 captures go to runs above this; they are removed after the run
CAPTURE_RUNS = 1000
BOTH = (1, 32)


@dataclass(frozen=True)
class Target:
    """``kind``: "ratio" (a ratio to ``baseline`` >= ``value``), "rps" (>=), "p50" (ms <=, at c=1), "mbps_ratio"."""

    kind: str
    value: float
    baseline: str = ""

    @property
    def text(self) -> str:
        match self.kind:
            case "ratio":
                return f">= {self.value:g}x {self.baseline}"
            case "mbps_ratio":
                return f">= {self.value:g}x {self.baseline} MB/s"
            case "rps":
                return f">= {self.value:g} req/s"
            case "p50":
                return f"p50 <= {self.value:g} ms at c=1"
            case "growth":
                return f"<= {self.value:g} MiB"
        raise ValueError(self.kind)


@dataclass
class Scenario:
    id: str
    title: str
    script: str = "paths.lua"
    concurrency: tuple[int, ...] = BOTH
    baselines: tuple[str, ...] = ()  # what its ratios are computed against
    targets: tuple[Target, ...] = ()
    throughput: bool = False  # report MB/s (large downloads)
    timeout_s: float = 10.0
    auth: bool = True
    paths: Callable[[dict[str, Any]], list[str]] = field(default=lambda _m: [])
    is_baseline: bool = False


def _sample(values: list[Any], count: int) -> list[Any]:
    return values if len(values) <= count else random.Random(5).sample(values, count)


def deep_page(manifest: dict[str, Any]) -> int:
    rows = manifest["rows_per_tenant"][0]
    return 5000 if rows >= 5000 * 100 + 100 else max(2, rows // 200)


def deepest_page(manifest: dict[str, Any]) -> int:
    """Page 50,000 (offset 5M, a 10M dataset), or the last full page of a smaller one (page 8,999 of 900k rows)."""
    rows = manifest["rows_per_tenant"][0]
    return 50_000 if rows >= 50_000 * 100 + 100 else max(2, rows // 100 - 1)


def _list(query: str) -> str:
    return f"/api/v1/payload-metadata?{query}"


def scenarios(postgres: bool) -> list[Scenario]:
    s3 = Target("ratio", 0.2 if postgres else 0.3, "floor")
    s4 = Target("p50", 10 if postgres else 5)
    # datasette serves SQLite only: on PostgreSQL, S3 is held to the floor alone.
    s3_targets = (s3,) if postgres else (s3, Target("ratio", 3, "datasette"))
    s5 = Target("p50", 10)
    return [
        Scenario("floor", "GET /healthz (the HTTP stack doing no work)", auth=False, is_baseline=True,
                 paths=lambda _m: ["/healthz"]),
        Scenario("S1", "GET /metadatas/{uuid}", baselines=("floor",), targets=(Target("ratio", 0.5, "floor"),),
                 paths=lambda m: [f"/metadatas/{u}" for u in m["metadata_uuids"]]),
        Scenario("S2", "GET /metadatas?type=..&title=..&limit=100", baselines=("floor",),
                 paths=lambda m: [f"/metadatas?type={t}&title={w}&limit=100" for t in m["types"] for w in m["words"]]),
        Scenario("S3", "GET /api/v1/payload-metadata?filter[flow_run_id]=..&per_page=100 (exact total)",
                 baselines=("floor", "datasette"), targets=s3_targets,
                 paths=lambda m: [_list(f"filter%5Bflow_run_id%5D={r}&per_page=100")
                                  for r in _sample(m["runs0"], 5000)]),
        Scenario("S12", "GET /api/v1/payload-metadata?filter[tag.order_id]=..&per_page=100 (exact total)",
                 baselines=("floor",), targets=(Target("ratio", 0.2, "floor"),),
                 paths=lambda m: [_list(f"filter%5Btag.{tags.TAG}%5D={tags.value_of(r)}&per_page=100")
                                  for r in _sample(m["runs0"], 5000)]),
        Scenario("S4", "GET /api/v1/payload-metadata?per_page=100 (unfiltered first page, exact total)",
                 baselines=("db:S4",), targets=(s4,), paths=lambda _m: [_list("per_page=100")]),
        Scenario("S5", "GET /api/v1/payload-metadata?page=5000&per_page=100 (deep page)", baselines=("db:S5",),
                 targets=(s5,), paths=lambda m: [_list(f"page={deep_page(m)}&per_page=100")]),
        Scenario("S5b", "GET /api/v1/payload-metadata?page=50000&per_page=100 (or the dataset's last full page)",
                 baselines=("db:S5b",), targets=(s5,),
                 paths=lambda m: [_list(f"page={deepest_page(m)}&per_page=100")]),
        Scenario("S6", "GET /api/v1/payload-metadata/{id}", baselines=("floor",),
                 targets=(Target("ratio", 0.5, "floor"),),
                 paths=lambda m: [f"/api/v1/payload-metadata/{i}" for i in payload_ids0(m, 5000)]),
        Scenario("datasette", "datasette: the S3 query on the same SQLite file (JSON, with the count)",
                 auth=False, is_baseline=True,
                 paths=lambda m: [f"/metadock/payload_metadata.json?tenant_id={m['tenants'][0]['id']}"
                                  f"&flow_run_id={r}&_sort=id&_size=100" for r in _sample(m["runs0"], 5000)]),
        Scenario("S8", "GET /api/v1/payload-metadata/{id}/download (1 KiB)", baselines=("floor",),
                 targets=(Target("ratio", 0.4, "floor"),),
                 paths=lambda m: [f"/api/v1/payload-metadata/{i}/download" for i in m["sample_ids"]]),
        Scenario("nginx-1k", "nginx sendfile: the same 1 KiB payload files", auth=False, is_baseline=True,
                 paths=lambda m: ["/" + key for key in m["sample_keys"]]),
        Scenario("S9", "GET /api/v1/payload-metadata/{id}/download (the large payload)", baselines=("nginx-big",),
                 targets=(Target("mbps_ratio", 0.5, "nginx-big"),), throughput=True, timeout_s=120,
                 paths=lambda m: [f"/api/v1/payload-metadata/{m['big_id']}/download"]),
        Scenario("nginx-big", "nginx sendfile: the same large payload file", auth=False, is_baseline=True,
                 throughput=True, timeout_s=120, paths=lambda m: ["/" + m["big_key"]]),
        Scenario("S11", "PUT /metadatas/{uuid} with the right version", script="update.lua", baselines=("floor",)),
        Scenario("S7", "POST /api/v1/payload-metadata (capture 1 KiB)", script="capture.lua", concurrency=(16,),
                 baselines=("floor",), targets=(Target("rps", 1500),)),
    ]  # fmt: skip


@dataclass
class Measured:
    scenario: Scenario
    runs: list[wrk.WrkResult]
    note: str = ""


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def read_versions(base_url: str, key: str, uuids: list[str]) -> list[tuple[str, int]]:
    with httpx.Client(base_url=base_url, headers={"Authorization": key}, timeout=30) as client:
        found = []
        for uuid in uuids:
            response = client.get(f"/metadatas/{uuid}")
            response.raise_for_status()
            found.append((uuid, int(response.json()["version"])))
        return found


def check(base_url: str, path: str, key: str | None) -> str:
    """One request before the load: the scenario must answer 2xx, or the figures would measure errors."""
    headers = {"Authorization": key} if key else {}
    with httpx.Client(base_url=base_url, headers=headers, timeout=120) as client, client.stream("GET", path) as r:
        size, head = 0, b""
        for chunk in r.iter_raw(1 << 20):
            size, head = size + len(chunk), head or chunk[:300]
        if r.status_code >= 300:  # e.g. a 401: a dataset's keys from another seeding of the same database
            raise RuntimeError(f"GET {path} answered {r.status_code}: {head.decode(errors='replace')}")
        total = r.headers.get("x-total-count")
        return f"{r.status_code}, {size} B" + (f", total {total}" if total else "")


def remove_captures(database_url: str, store_url: str, tenant_id: int, store_endpoint: str | None = None) -> int:
    """Remove what S7 captured (runs above CAPTURE_RUN_BASE), records first, then their bytes."""

    async def work() -> int:
        database = Database(database_url, pool_size=1)
        store = open_store(store_url, endpoint_url=store_endpoint)
        try:
            async with database.transaction() as connection:
                statement = (
                    delete(payload_metadata)
                    .where(payload_metadata.c.tenant_id == tenant_id, payload_metadata.c.flow_run_id > CAPTURE_RUN_BASE)
                    .returning(payload_metadata.c.store_key, payload_metadata.c.dropped)
                )
                rows = list((await connection.execute(statement)).mappings())
            if rows:
                await maintenance.recount_totals(database)  # the captures counted themselves in; a bulk delete doesn't
            for row in rows:
                if not row["dropped"]:
                    await store.delete(row["store_key"])
            if database.dialect_name == "sqlite":
                await database.run_sync(lambda c: c.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)"))
            return len(rows)
        finally:
            await database.dispose()
            await asyncio.sleep(0.05)

    return asyncio.run(work())


def measure(
    scenario: Scenario,
    url: str,
    script_args: list[str] | Callable[[], list[str]],
    *,
    duration_s: float,
    warmup_s: float,
    pid: int | None,
    log: Callable[[str], None],
) -> Measured:
    def arguments() -> list[str]:
        return script_args() if callable(script_args) else script_args

    if warmup_s > 0:
        wrk.run(url, scenario.script, arguments(), connections=max(scenario.concurrency), duration_s=warmup_s,
                server_pid=None, timeout_s=scenario.timeout_s)  # fmt: skip
    runs = []
    for connections in scenario.concurrency:
        result = wrk.run(url, scenario.script, arguments(), connections=connections, duration_s=duration_s,
                         server_pid=pid, timeout_s=scenario.timeout_s)  # fmt: skip
        runs.append(result)
        extra = f", {result.mb_per_s:,.0f} MB/s" if scenario.throughput else ""
        log(
            f"  {scenario.id:<9} c={connections:<3} {result.rps:>9,.0f} req/s{extra}, p50 {result.p50_ms:.2f} ms, "
            f"p99 {result.p99_ms:.2f} ms, errors {result.errors}, CPU {result.cpu_percent:.0f}%, "
            f"RSS {result.peak_rss_mib:.0f} MiB"
        )
    return Measured(scenario, runs)
