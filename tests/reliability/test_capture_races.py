"""Captures, deletes and retention pruning racing on the same runs of a live server (two worker processes) leave
the store and the records in agreement, and every list total equal to the rows it pages through."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import shutil
import sqlite3
import threading
from pathlib import Path

from metadock.kit.db import Database
from metadock.payloads import maintenance
from metadock.payloads.store import open_store
from tests.factories import add_payload_records, backdate_payload, create_tenant, payload_rows
from tests.reliability.audit import sha256
from tests.reliability.races import (
    assert_totals_match_rows_of_every_run,
    race_prune,
    seed,
    wait_until_records_match_bytes,
)
from tests.reliability.servers import server_env, serving

SEEDED = 48  # captured before the race; half of them backdated past the retention
RETENTION_DAYS = 30


async def _prune_until_done(database_url: str, store_url: str) -> int:
    """The service function prune runs on, in batches of two so that its transactions interleave with the requests."""
    database = Database(database_url, pool_size=1)
    try:
        return await maintenance.prune(database, open_store(store_url), older_than_days=RETENTION_DAYS, batch_size=2)
    finally:
        await database.dispose()


def test_captures_deletes_and_prune_racing_leave_records_and_bytes_in_agreement(
    database_url: str, tmp_path: Path
) -> None:
    env = server_env(database_url, tmp_path)
    store_root = tmp_path / "payloads"
    rng = random.Random(6)
    sent: dict[int, bytes] = {}  # record id -> the bytes the client captured
    with serving(env, tmp_path / "server.log", "--workers", "2") as server:
        seeded = sorted(seed(server, rng, SEEDED, sent))
        expired = seeded[::2]
        long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=RETENTION_DAYS + 5)
        for record_id in expired:
            backdate_payload(database_url, record_id, long_ago)
        # Deleted during the race: expired records (which prune is dropping at the same moment) and fresh ones, each
        # twice at once.
        doomed = expired[:8] + seeded[1::2][:8]
        store_url = env["METADOCK_STORE_URL"]
        pruned, delete_statuses = race_prune(
            server, lambda: _prune_until_done(database_url, store_url), doomed, rng, sent
        )

        # Each record deleted twice at once: exactly one 204 and one 404.
        assert sorted(delete_statuses) == sorted([204] * len(doomed) + [404] * len(doomed))
        # Prune counts what it selected: an expired record deleted while its batch was in flight may be counted.
        assert len(set(expired) - set(doomed)) <= pruned <= len(expired)

        rows = payload_rows(database_url)
        by_id = {row["id"]: row for row in rows}
        assert not set(doomed) & set(by_id), "a deleted record is still there"
        for record_id in set(expired) - set(doomed):
            assert (by_id[record_id]["dropped"], by_id[record_id]["dropped_reason"]) == (True, "expired")
        for record_id, row in by_id.items():
            if not row["dropped"]:
                assert row["sha256"] == sha256(sent[record_id]), f"record {record_id} describes other bytes"

        wait_until_records_match_bytes(rows, store_root)

        async def fsck() -> maintenance.FsckReport:
            database = Database(database_url, pool_size=1)
            try:
                store = open_store(env["METADOCK_STORE_URL"])
                return await maintenance.fsck(database, store, repair=False, grace=dt.timedelta(0))
            finally:
                await database.dispose()

        report = asyncio.run(fsck())
        assert (report.orphaned_keys, report.missing_records) == ([], [])

        assert_totals_match_rows_of_every_run(server, rows)


def test_prune_on_sqlite_waits_for_a_writer_that_commits_meanwhile(tmp_path: Path, sqlite_template: Path) -> None:
    """A serving Metadock commits all the time; prune must queue behind those writes, not fail on them."""
    database_file = tmp_path / "metadock.db"
    shutil.copyfile(sqlite_template, database_file)
    url = f"sqlite:///{database_file}"
    tenant = create_tenant(url, "acme")
    records = add_payload_records(url, tenant.uuid, [{}, {}, {}])
    for record in records:
        backdate_payload(url, record["id"], dt.datetime.now(dt.UTC) - dt.timedelta(days=RETENTION_DAYS + 1))
    writer = sqlite3.connect(database_file, isolation_level=None, check_same_thread=False)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("UPDATE payload_metadata SET flow_log_id = 7 WHERE id = ?", (records[0]["id"],))
    commit_soon = threading.Timer(0.5, lambda: (writer.execute("COMMIT"), writer.close()))
    commit_soon.start()
    try:
        pruned = asyncio.run(_prune_until_done(url, f"file://{tmp_path / 'payloads'}"))
    finally:
        commit_soon.join()
    assert pruned == len(records)
    assert [(row["dropped"], row["dropped_reason"]) for row in payload_rows(url)] == [(True, "expired")] * len(records)
