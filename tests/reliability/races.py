"""Shared by the retention race tests (test_capture_races.py, test_record_retention_races.py): captures of random
bytes on a few runs of a live server, a prune racing captures and double deletes, and the checks that follow."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from tests.factories import PAYLOADS
from tests.reliability.audit import assert_records_match_bytes, assert_totals_match_rows, walk_file_store
from tests.reliability.servers import ServerGroup

RUNS = (1, 2, 3)


def random_body(rng: random.Random) -> bytes:
    return rng.randbytes(rng.choice((16, 1024, 40_000)))


async def capture(client: httpx.AsyncClient, run: int, body: bytes) -> dict[str, object]:
    response = await client.post(PAYLOADS, params={"flow_run_id": run, "flow_step_id": 1}, content=body)
    assert response.status_code == 201, response.text
    record: dict[str, object] = response.json()["data"]
    return record


async def _capture_all(client: httpx.AsyncClient, bodies: list[tuple[int, bytes]], sent: dict[int, bytes]) -> list[int]:
    """``bodies`` (run, bytes) captured at once; each record's bytes kept in ``sent``; the ids in ``bodies``' order."""
    records = await asyncio.gather(*(capture(client, run, body) for run, body in bodies))
    for record, (_run, body) in zip(records, bodies, strict=True):
        sent[int(str(record["id"]))] = body
    return [int(str(record["id"])) for record in records]


def seed(server: ServerGroup, rng: random.Random, count: int, sent: dict[int, bytes]) -> list[int]:
    """``count`` captures at once, on the runs in turn; their ids in that order."""

    async def work() -> list[int]:
        async with server.client() as client:
            return await _capture_all(client, [(RUNS[n % 3], random_body(rng)) for n in range(count)], sent)

    return asyncio.run(work())


def race_prune(
    server: ServerGroup,
    prune: Callable[[], Awaitable[int]],
    doomed: list[int],
    rng: random.Random,
    sent: dict[int, bytes],
) -> tuple[int, list[int]]:
    """``prune`` running while each of ``doomed`` is deleted twice at once and captures keep coming until the prune has
    finished (so they overlap every one of its batches). What the prune returned, and the deletes' statuses in
    ``doomed``'s order (two a record)."""

    async def work() -> tuple[int, list[int]]:
        async with server.client() as client:
            pruning = asyncio.ensure_future(prune())
            deletes = asyncio.gather(
                *(client.delete(f"{PAYLOADS}/{record_id}") for record_id in doomed for _twice in range(2))
            )
            while True:
                await _capture_all(client, [(rng.choice(RUNS), random_body(rng)) for _ in range(12)], sent)
                if pruning.done():
                    break
            statuses = [response.status_code for response in await deletes]
            return await pruning, statuses

    return asyncio.run(work())


def wait_until_records_match_bytes(rows: list[dict[str, Any]], store_root: Path, timeout: float = 10) -> None:
    """The bytes of a DELETE go in a background task after its response: the last ones are given a moment."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            assert_records_match_bytes(rows, walk_file_store(store_root))
            return
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def assert_totals_match_rows_of_every_run(server: ServerGroup, rows: list[dict[str, Any]]) -> None:
    """The list's total, over all records and over each run's, is the number of ``rows`` it pages through."""

    async def work() -> None:
        async with server.client() as client:
            assert await assert_totals_match_rows(client) == len(rows)
            for run in RUNS:
                expected = sum(1 for row in rows if row["flow_run_id"] == run)
                assert await assert_totals_match_rows(client, flow_run_id=run) == expected

    asyncio.run(work())
