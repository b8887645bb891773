"""Record retention against a live server (two worker processes): pruning records while captures and deletes go on
leaves the store and the records in agreement, loses no new capture, and keeps every total exact; ``serve
--prune-every`` runs record retention as well as byte retention."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import time
from pathlib import Path

from metadock.kit.db import Database
from metadock.payloads import maintenance
from metadock.payloads.store import open_store
from tests.factories import PAYLOADS, backdate_payload, payload_rows
from tests.reliability.audit import assert_records_match_bytes, assert_totals_match_rows, sha256, walk_file_store
from tests.reliability.servers import server_env, serving
from tests.reliability.test_capture_races import RUNS, _body, _capture

SEEDED = 60  # captured before the race; two thirds backdated past the record retention
RETENTION_DAYS = 30


async def _prune_records(database_url: str, store_url: str) -> int:
    """Batches of three, so that the prune's transactions interleave with the requests."""
    database = Database(database_url, pool_size=1)
    try:
        store = open_store(store_url)
        return await maintenance.prune_records(database, store, older_than_days=RETENTION_DAYS, batch_size=3)
    finally:
        await database.dispose()


def test_record_prune_racing_captures_and_deletes_loses_no_capture_and_keeps_totals_exact(
    database_url: str, tmp_path: Path
) -> None:
    env = server_env(database_url, tmp_path)
    rng = random.Random(14)
    sent: dict[int, bytes] = {}
    with serving(env, tmp_path / "server.log", "--workers", "2") as server:

        async def seed() -> list[int]:
            async with server.client() as client:
                bodies = [(RUNS[n % 3], _body(rng)) for n in range(SEEDED)]
                records = await asyncio.gather(*(_capture(client, run, body) for run, body in bodies))
            for record, (_run, body) in zip(records, bodies, strict=True):
                sent[int(str(record["id"]))] = body
            return [int(str(record["id"])) for record in records]

        seeded = asyncio.run(seed())
        expired = [record_id for n, record_id in enumerate(seeded) if n % 3]
        fresh = [record_id for n, record_id in enumerate(seeded) if not n % 3]
        long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=RETENTION_DAYS + 5)
        for record_id in expired:
            backdate_payload(database_url, record_id, long_ago)
        doomed = expired[:6] + fresh[:6]  # deleted over HTTP during the prune, each twice at once

        async def race() -> tuple[int, list[int]]:
            async with server.client() as client:
                pruning = asyncio.ensure_future(_prune_records(database_url, env["METADOCK_STORE_URL"]))
                deletes = asyncio.gather(
                    *(client.delete(f"{PAYLOADS}/{record_id}") for record_id in doomed for _twice in range(2))
                )
                while True:
                    bodies = [(rng.choice(RUNS), _body(rng)) for _ in range(12)]
                    records = await asyncio.gather(*(_capture(client, run, body) for run, body in bodies))
                    for record, (_run, body) in zip(records, bodies, strict=True):
                        sent[int(str(record["id"]))] = body
                    if pruning.done():
                        break
                statuses = [response.status_code for response in await deletes]
                return await pruning, statuses

        deleted, delete_statuses = asyncio.run(race())

        # Each record deleted twice at once: one 204 and one 404, or two 404 for an expired one the prune got first.
        for n, record_id in enumerate(doomed):
            pair = sorted(delete_statuses[2 * n : 2 * n + 2])
            assert pair == [204, 404] or (record_id in expired and pair == [404, 404]), (record_id, pair)
        assert len(set(expired) - set(doomed)) <= deleted <= len(expired)
        rows = payload_rows(database_url)
        by_id = {row["id"]: row for row in rows}
        assert not set(expired) & set(by_id), "a record past the retention is still there"
        captured_since = set(sent) - set(seeded)
        assert set(by_id) == (set(fresh) - set(doomed)) | captured_since, "a capture was lost or a record survived"
        for record_id, row in by_id.items():
            assert not row["dropped"]
            assert row["sha256"] == sha256(sent[record_id]), f"record {record_id} describes other bytes"

        # The bytes of a DELETE go in a background task after its response: give the last ones a moment.
        deadline = time.monotonic() + 10
        while True:
            try:
                assert_records_match_bytes(rows, walk_file_store(tmp_path / "payloads"))
                break
            except AssertionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

        async def totals() -> None:
            async with server.client() as client:
                assert await assert_totals_match_rows(client) == len(rows)
                for run in RUNS:
                    expected = sum(1 for row in rows if row["flow_run_id"] == run)
                    assert await assert_totals_match_rows(client, flow_run_id=run) == expected

        asyncio.run(totals())


def test_serve_prune_every_runs_record_retention_too(database_url: str, tmp_path: Path) -> None:
    env = server_env(database_url, tmp_path, METADOCK_RECORD_RETENTION_DAYS=str(RETENTION_DAYS))
    rng = random.Random(15)
    with serving(env, tmp_path / "server.log", "--prune-every", "1") as server:

        async def capture(count: int) -> list[int]:
            async with server.client() as client:
                records = [await _capture(client, 1, _body(rng)) for _ in range(count)]
            return [int(str(record["id"])) for record in records]

        old, kept = asyncio.run(capture(3)), asyncio.run(capture(2))
        for record_id in old:
            backdate_payload(database_url, record_id, dt.datetime.now(dt.UTC) - dt.timedelta(days=RETENTION_DAYS + 1))

        deadline = time.monotonic() + 30
        while {row["id"] for row in payload_rows(database_url)} != set(kept):
            assert time.monotonic() < deadline, "the serving process did not delete the expired records"
            time.sleep(0.2)
        rows = payload_rows(database_url)
        assert_records_match_bytes(rows, walk_file_store(tmp_path / "payloads"))

        async def totals() -> None:
            async with server.client() as client:
                assert await assert_totals_match_rows(client) == len(kept)

        asyncio.run(totals())
