"""Soak: minutes of mixed load against one server; zero 5xx, and server memory flat within 10%.

Run: `.venv/bin/python -m bench.soak [--minutes 10] [--concurrency 12] [--workers 2]`. Not part of `make test`.

The server runs on a fresh SQLite database and file store (quick-seeded through the API: metadatas and payloads),
and an async httpx load drives reads, lists, captures, downloads, PUTs and deletes at random with fixed weights.
Deletes keep the store from growing without bound; PUTs race each other, so some answer 409 (a client's
stale version, not a failure). Server memory (every process of granian's tree) is sampled every few seconds; the
verdict compares the median of the last window (a minute in a 10-minute run) with that of the second, after warm-up.
Results go to bench/results/soak-<UTC time>.{md,json}; the exit status is 1 when the verdict fails.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import platform
import random
import statistics
import tempfile
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.server import Server, start, tree_rss_bytes

RESULTS = Path(__file__).parent / "results"
PAYLOADS = "/api/v1/payload-metadata"
MEMORY_TOLERANCE = 0.10
RUNS = 50  # flow runs the payloads are spread over

# Operation -> weight. Reads dominate, as they do for an integration platform's metadata.
WEIGHTS = {
    "get_metadata": 20,
    "list_metadatas": 8,
    "put_metadata": 6,
    "list_payloads_by_run": 14,
    "list_payloads": 6,
    "get_payload": 14,
    "download": 12,
    "capture": 14,
    "delete_payload": 6,
}


@dataclass
class Tally:
    statuses: dict[str, Counter[int]] = field(default_factory=lambda: defaultdict(Counter))
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    transport_errors: Counter[str] = field(default_factory=Counter)

    def server_errors(self) -> int:
        return sum(count for counter in self.statuses.values() for status, count in counter.items() if status >= 500)


@dataclass
class Corpus:
    """What the load works on; grows and shrinks as captures and deletes go."""

    metadatas: list[str]
    payloads: list[int]
    rng: random.Random

    def payload(self) -> int | None:
        return self.rng.choice(self.payloads) if self.payloads else None


async def _seed(client: httpx.AsyncClient, rng: random.Random) -> Corpus:
    metadatas: list[str] = []
    for n in range(200):
        body = {
            "owner": "BusinessUnit",
            "title": {"en": f"Soak resource {n}"},
            "slug": f"soak-{n}",
            "type": rng.choice(["authentication", "mapping", "connector"]),
            "data": {"n": n, "items": list(range(rng.randint(1, 20)))},
            "version": 1,
        }
        response = await client.post("/metadatas", json=body)
        response.raise_for_status()
        metadatas.append(response.json()["uuid"])
    corpus = Corpus(metadatas, [], rng)
    for _ in range(500):
        await _capture(client, corpus)
    return corpus


async def _capture(client: httpx.AsyncClient, corpus: Corpus) -> httpx.Response:
    body = corpus.rng.randbytes(corpus.rng.choice((200, 1024, 4096, 16_384)))
    params = {"flow_run_id": corpus.rng.randint(1, RUNS), "flow_step_id": corpus.rng.randint(1, 5)}
    response = await client.post(PAYLOADS, params=params, content=body, headers={"Content-Type": "application/json"})
    if response.status_code == 201:
        corpus.payloads.append(response.json()["data"]["id"])
    return response


async def _put_metadata(client: httpx.AsyncClient, corpus: Corpus) -> httpx.Response:
    uuid = corpus.rng.choice(corpus.metadatas)
    current = await client.get(f"/metadatas/{uuid}")
    if current.status_code != 200:
        return current
    body = {"data": {"touched": time.time()}, "version": current.json()["version"]}
    return await client.put(f"/metadatas/{uuid}", json=body)


async def _delete_payload(client: httpx.AsyncClient, corpus: Corpus) -> httpx.Response | None:
    if len(corpus.payloads) < 200:
        return None
    record_id = corpus.payloads.pop(corpus.rng.randrange(len(corpus.payloads)))
    return await client.delete(f"{PAYLOADS}/{record_id}")


async def _operation(name: str, client: httpx.AsyncClient, corpus: Corpus) -> httpx.Response | None:
    rng = corpus.rng
    if name == "get_metadata":
        return await client.get(f"/metadatas/{rng.choice(corpus.metadatas)}")
    if name == "list_metadatas":
        params = {"limit": 20, "page": rng.randint(1, 10), "order[updatedAt]": "desc"}
        return await client.get("/metadatas", params=params)
    if name == "put_metadata":
        return await _put_metadata(client, corpus)
    if name == "list_payloads_by_run":
        return await client.get(PAYLOADS, params={"filter[flow_run_id]": rng.randint(1, RUNS), "per_page": 50})
    if name == "list_payloads":
        return await client.get(PAYLOADS, params={"page": rng.randint(1, 20), "sort": "-created_at"})
    if name == "capture":
        return await _capture(client, corpus)
    if name == "delete_payload":
        return await _delete_payload(client, corpus)
    record_id = corpus.payload()
    if record_id is None:
        return None
    suffix = "/download" if name == "download" else ""
    return await client.get(f"{PAYLOADS}/{record_id}{suffix}")


async def _worker(client: httpx.AsyncClient, corpus: Corpus, tally: Tally, deadline: float) -> None:
    names, weights = list(WEIGHTS), list(WEIGHTS.values())
    while time.monotonic() < deadline:
        name = corpus.rng.choices(names, weights)[0]
        began = time.perf_counter()
        try:
            response = await _operation(name, client, corpus)
        except httpx.TransportError as error:
            tally.transport_errors[type(error).__name__] += 1
            continue
        if response is None:
            continue
        tally.latencies[name].append(time.perf_counter() - began)
        tally.statuses[name][response.status_code] += 1


class RssSampler:
    def __init__(self, pid: int, every: float) -> None:
        self.pid, self.every = pid, every
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._started = time.monotonic()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.monotonic() - self._started, tree_rss_bytes(self.pid)))
            self._stop.wait(self.every)

    def start(self) -> None:
        self._started = time.monotonic()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def _median_between(samples: list[tuple[float, int]], start: float, end: float) -> float:
    window = [rss for at, rss in samples if start <= at < end]
    return statistics.median(window) if window else float("nan")


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


async def _drive(server: Server, seconds: float, concurrency: int, sample_every: float) -> tuple[Tally, RssSampler]:
    rng = random.Random(2026)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=server.base_url, headers={"Authorization": server.api_key}, timeout=30, limits=limits
    ) as client:
        corpus = await _seed(client, rng)
        tally = Tally()
        sampler = RssSampler(server.process.pid, sample_every)
        sampler.start()
        deadline = time.monotonic() + seconds
        try:
            await asyncio.gather(*(_worker(client, corpus, tally, deadline) for _ in range(concurrency)))
        finally:
            sampler.stop()
    return tally, sampler


def _report(args: argparse.Namespace, seconds: float, tally: Tally, samples: list[tuple[float, int]]) -> dict[str, Any]:
    window = min(60.0, seconds / 5)
    baseline = _median_between(samples, window, 2 * window)
    final = _median_between(samples, seconds - window, seconds + 1)
    growth = (final - baseline) / baseline
    requests = sum(sum(counter.values()) for counter in tally.statuses.values())
    operations = {
        name: {
            "requests": sum(tally.statuses[name].values()),
            "statuses": {str(status): count for status, count in sorted(tally.statuses[name].items())},
            "p50_ms": round(_percentile(tally.latencies[name], 0.5) * 1000, 2),
            "p99_ms": round(_percentile(tally.latencies[name], 0.99) * 1000, 2),
        }
        for name in WEIGHTS
    }
    memory_flat = abs(growth) <= MEMORY_TOLERANCE
    return {
        "started_at": args.started_at,
        "machine": f"{platform.machine()}, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}",
        "minutes": args.minutes,
        "workers": args.workers,
        "concurrency": args.concurrency,
        "requests": requests,
        "requests_per_second": round(requests / seconds, 1),
        "server_errors": tally.server_errors(),
        "transport_errors": dict(tally.transport_errors),
        "operations": operations,
        "rss_mib": {
            "baseline_window_s": [window, 2 * window],
            "final_window_s": [seconds - window, seconds],
            "baseline_median": round(baseline / 2**20, 1),
            "final_median": round(final / 2**20, 1),
            "growth": round(growth, 4),
            "samples": [[round(at, 1), round(rss / 2**20, 1)] for at, rss in samples],
        },
        "verdict": {
            "zero_5xx": tally.server_errors() == 0 and not tally.transport_errors,
            "memory_flat_within_10pct": memory_flat,
        },
    }


def _markdown(result: dict[str, Any]) -> str:
    rss = result["rss_mib"]
    verdict = result["verdict"]
    lines = [
        f"# Soak: {result['minutes']} minutes of mixed load ({result['started_at']})",
        "",
        f"Machine: {result['machine']}; `serve --workers {result['workers']}` on SQLite + file store; "
        f"{result['concurrency']} concurrent clients (httpx).",
        "",
        f"- Requests: {result['requests']:,} ({result['requests_per_second']}/s); 5xx: {result['server_errors']}; "
        f"transport errors: {sum(result['transport_errors'].values())}",
        f"- Server RSS (median): {rss['baseline_median']} MiB in {rss['baseline_window_s'][0]:.0f}–"
        f"{rss['baseline_window_s'][1]:.0f} s, {rss['final_median']} MiB in the last window: "
        f"{rss['growth'] * 100:+.1f}% (limit ±{MEMORY_TOLERANCE * 100:.0f}%)",
        f"- Verdict: zero 5xx **{'met' if verdict['zero_5xx'] else 'MISSED'}**, memory flat "
        f"**{'met' if verdict['memory_flat_within_10pct'] else 'MISSED'}**",
        "",
        "| operation | requests | statuses | p50 ms | p99 ms |",
        "|---|---|---|---|---|",
    ]
    for name, op in result["operations"].items():
        statuses = ", ".join(f"{status}: {count:,}" for status, count in op["statuses"].items())
        lines.append(f"| {name} | {op['requests']:,} | {statuses} | {op['p50_ms']} | {op['p99_ms']} |")
    samples = rss["samples"]
    step = max(1, len(samples) // 20)
    lines += ["", "RSS over time (MiB): " + ", ".join(f"{at:.0f}s {mib}" for at, mib in samples[::step]), ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=12)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--sample-every", type=float, default=5.0, help="seconds between RSS samples")
    args = parser.parse_args()
    args.started_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    seconds = args.minutes * 60
    with tempfile.TemporaryDirectory(prefix="metadock-soak-") as directory:
        server = start(Path(directory), {"METADOCK_DATA_DIR": directory}, "--workers", str(args.workers))
        try:
            tally, sampler = asyncio.run(_drive(server, seconds, args.concurrency, args.sample_every))
        finally:
            server.stop()
    result = _report(args, seconds, tally, sampler.samples)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"soak-{stamp}.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / f"soak-{stamp}.md").write_text(_markdown(result))
    print(_markdown(result))
    if not all(result["verdict"].values()):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
