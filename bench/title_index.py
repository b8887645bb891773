"""The title filter with its trigram index and without it, on the benchmark's dataset, measured in alternation.

Both paths are the repository's own statements (``MetadataRepository.list_page``: the page, and the total when the
page is full); "scan" is the repository told that no index serves the value, which is what it does for values under
three characters. Alternating the two in one process cancels most of the noise of a shared machine, which an HTTP
run (``bench.run --scenarios S2``) cannot.

Run (after ``bench.run`` has seeded the dataset): `.venv/bin/python -m bench.title_index [--database-url URL]
[--rounds 4] [--queries 150]`; the default URL is the SQLite file of the default dataset.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import time
from typing import Any

from bench.seed import SeedParams
from metadock.kit.db import Database
from metadock.kit.query import Filter
from metadock.metadatas.query import parse_list_query
from metadock.metadatas.repository import MetadataRepository


class ScanningRepository(MetadataRepository):
    """The same repository with the index left out, as for a value of fewer than three characters."""

    def _title_index_serves(self, item: Filter) -> bool:  # noqa: ARG002
        return False


def cases(manifest: dict[str, Any], count: int) -> dict[str, list[list[tuple[str, str]]]]:
    pairs = [(kind, word) for kind in manifest["types"] for word in manifest["words"]]
    random.Random(3).shuffle(pairs)
    return {
        "S2: type + title (a word in 2% of titles), limit 100": [
            [("type", kind), ("title", word), ("limit", "100")] for kind, word in pairs[:count]
        ],
        "title alone (a word and a digit: ~0.2% of titles), limit 100": [
            [("title", f"{word} {n % 10}"), ("limit", "100")] for n, (_kind, word) in enumerate(pairs[:count])
        ],
    }


async def measure(url: str, tenant_id: int, queries: dict[str, list[list[tuple[str, str]]]], rounds: int) -> None:
    database = Database(url, pool_size=1)
    try:
        async with database.transaction() as connection:
            for name, params in queries.items():
                seconds: dict[str, list[float]] = {"index": [], "scan": []}
                parsed = [parse_list_query(p, default_limit=10, max_limit=100) for p in params]
                for round_ in range(rounds):
                    order = [("index", MetadataRepository), ("scan", ScanningRepository)]
                    for query in parsed:
                        for label, repository in order if round_ % 2 == 0 else order[::-1]:
                            started = time.perf_counter()
                            await repository(connection, tenant_id).list_page(query)
                            seconds[label].append(time.perf_counter() - started)
                index, scan = (statistics.median(seconds[key]) * 1e3 for key in ("index", "scan"))
                print(f"{name}: index p50 {index:.2f} ms, scan p50 {scan:.2f} ms ({scan / index:.1f}x)", flush=True)
    finally:
        await database.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.title_index", description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=None, help="default: the default dataset's SQLite file")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--queries", type=int, default=150)
    args = parser.parse_args()
    params = SeedParams(1_000_000, 100_000, 10, database_url=args.database_url, store_url=None)
    manifest = json.loads((params.directory / "manifest.json").read_text())
    print(f"{params.db_url}, tenant {manifest['tenants'][0]['id']}, {args.rounds} rounds", flush=True)
    asyncio.run(measure(params.db_url, manifest["tenants"][0]["id"], cases(manifest, args.queries), args.rounds))


if __name__ == "__main__":
    main()
