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
from tests.factories import backdate_payload, payload_rows
from tests.reliability.audit import assert_records_match_bytes, assert_totals_match_rows, sha256, walk_file_store
from tests.reliability.races import (
    assert_totals_match_rows_of_every_run,
    capture,
    race_prune,
    random_body,
    seed,
    wait_until_records_match_bytes,
)
from tests.reliability.servers import server_env, serving

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
        seeded = seed(server, rng, SEEDED, sent)
        expired = [record_id for n, record_id in enumerate(seeded) if n % 3]
        fresh = [record_id for n, record_id in enumerate(seeded) if not n % 3]
        long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=RETENTION_DAYS + 5)
        for record_id in expired:
            backdate_payload(database_url, record_id, long_ago)
        doomed = expired[:6] + fresh[:6]  # deleted over HTTP during the prune, each twice at once
        store_url = env["METADOCK_STORE_URL"]
        deleted, delete_statuses = race_prune(
            server, lambda: _prune_records(database_url, store_url), doomed, rng, sent
        )

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

        wait_until_records_match_bytes(rows, tmp_path / "payloads")
        assert_totals_match_rows_of_every_run(server, rows)


def test_serve_prune_every_runs_record_retention_too(database_url: str, tmp_path: Path) -> None:
    env = server_env(database_url, tmp_path, METADOCK_RECORD_RETENTION_DAYS=str(RETENTION_DAYS))
    rng = random.Random(15)
    with serving(env, tmp_path / "server.log", "--prune-every", "1") as server:

        async def capture_some(count: int) -> list[int]:
            async with server.client() as client:
                records = [await capture(client, 1, random_body(rng)) for _ in range(count)]
            return [int(str(record["id"])) for record in records]

        old, kept = asyncio.run(capture_some(3)), asyncio.run(capture_some(2))
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
