"""kill -9 of the whole server (``serve --workers 2``, every process of its group) while 100 uploads are in flight:
after a restart every acknowledged capture is there, every visible record is whole, and the real ``metadock
payloads fsck --repair`` removes what the crash left behind (bytes without a record, staging files of multipart
uploads); a second fsck finds nothing.

To be sure the crash leaves both kinds of leftovers, it strikes when large uploads have staged their first part and
while the database's write lock is held by the test, so that captures whose bytes are complete wait for their
record: exactly the window a crash can hit between "bytes in" and "record written".
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import sqlite3
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx

from tests.factories import PAYLOADS, payload_rows
from tests.live import METADOCK
from tests.reliability.audit import (
    assert_records_match_bytes,
    assert_totals_match_rows,
    page_through,
    sha256,
    walk_file_store,
)
from tests.reliability.servers import ServerGroup, serve, server_env

MIB = 1024 * 1024
UPLOADS = 100
LARGE = 6  # of them above the 5 MiB part size: multipart, staged in a file until complete
# fsck leaves bytes younger than 15 minutes alone (captures in flight) and staging files younger than 6 hours.
LONG_AGO = time.time() - 7 * 3600


async def _trickle(body: bytes, rng: random.Random, *, hold_after: int) -> AsyncIterator[bytes]:
    """The first ``hold_after`` bytes at once, then the rest slowly, so the upload is in flight for a while."""
    yield body[:hold_after]
    rest = body[hold_after:]
    for start in range(0, len(rest), 64 * 1024):
        await asyncio.sleep(rng.uniform(0.05, 0.3))
        yield rest[start : start + 64 * 1024]


async def _upload(client: httpx.AsyncClient, body: bytes, rng: random.Random, acknowledged: dict[int, bytes]) -> None:
    await asyncio.sleep(rng.uniform(0, 3))  # spread out, so some are still to come when the crash strikes
    hold_after = 5 * MIB + 1 if len(body) > 5 * MIB else len(body) // 2
    try:
        response = await client.post(
            PAYLOADS, params={"flow_run_id": 1, "flow_step_id": 1}, content=_trickle(body, rng, hold_after=hold_after)
        )
    except httpx.TransportError:
        return  # the crash cut it off
    assert response.status_code == 201, response.text
    acknowledged[response.json()["data"]["id"]] = body


async def _wait_for(condition: Callable[[], object], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the crash's preconditions never came about"
        await asyncio.sleep(0.05)


def _fsck(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    environment = {name: value for name, value in os.environ.items() if not name.startswith("METADOCK_")} | env
    return subprocess.run(
        [METADOCK, "payloads", "fsck", *args], env=environment, capture_output=True, text=True, timeout=120, check=False
    )


def test_kill_9_during_100_uploads_loses_no_acknowledged_capture_and_fsck_repairs_the_rest(tmp_path: Path) -> None:
    database_file = tmp_path / "metadock.db"
    env = server_env(f"sqlite:///{database_file}", tmp_path)
    store_root = tmp_path / "payloads"
    rng = random.Random(9)
    bodies = [rng.randbytes(7 * MIB if n < LARGE else rng.randint(1, 300_000)) for n in range(UPLOADS)]
    acknowledged: dict[int, bytes] = {}
    server = serve(env, tmp_path / "server.log", "--workers", "2")
    lock = sqlite3.connect(database_file, isolation_level=None, timeout=10)
    try:

        async def crash() -> None:
            async with server.client(timeout=60) as client:
                uploads = [asyncio.ensure_future(_upload(client, body, rng, acknowledged)) for body in bodies]
                await _wait_for(lambda: len(acknowledged) >= 20 and walk_file_store(store_root).staging, 30)
                lock.execute("BEGIN IMMEDIATE")  # captures now finish their bytes, then wait for the database
                known = len(walk_file_store(store_root).objects)
                await _wait_for(lambda: len(walk_file_store(store_root).objects) > known, 4)
                server.kill()
                await asyncio.gather(*uploads)

        asyncio.run(crash())
    finally:
        lock.close()
        server.stop()

    left = walk_file_store(store_root)
    rows = payload_rows(env["METADOCK_DATABASE_URL"])
    orphans = set(left.objects) - {row["store_key"] for row in rows}
    assert left.staging, "no multipart upload was cut off"
    assert orphans, "no capture was caught between its bytes and its record"

    restarted = serve(env, tmp_path / "server.log", "--workers", "2", api_key=server.api_key)
    try:
        asyncio.run(_check_visible_records(restarted, acknowledged, {sha256(body) for body in bodies}))
    finally:
        restarted.stop()

    for path in [*left.staging, *(store_root / key for key in left.objects)]:
        os.utime(path, (LONG_AGO, LONG_AGO))
    repaired = _fsck(env, "--repair")
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    summary = re.search(r"(\d+) orphaned objects, 0 records without bytes, (\d+) stale uploads", repaired.stdout)
    assert summary is not None, repaired.stdout
    assert (int(summary[1]), int(summary[2])) == (len(orphans), len(left.staging))
    assert_records_match_bytes(payload_rows(env["METADOCK_DATABASE_URL"]), walk_file_store(store_root))
    clean = _fsck(env)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "0 orphaned objects, 0 records without bytes" in clean.stdout


async def _check_visible_records(server: ServerGroup, acknowledged: dict[int, bytes], sent: set[str]) -> None:
    async with server.client() as client:
        ids, _totals = await page_through(client)
        assert set(acknowledged) <= set(ids), "an acknowledged capture was lost"
        await assert_totals_match_rows(client)
        for record_id in ids:
            meta = (await client.get(f"{PAYLOADS}/{record_id}/meta")).json()["data"]
            download = await client.get(f"{PAYLOADS}/{record_id}/download")
            assert download.status_code == 200, download.text
            data = download.content
            assert (len(data), sha256(data)) == (meta["size"], meta["sha256"]), f"record {record_id} is not whole"
            assert meta["sha256"] in sent
            if record_id in acknowledged:
                assert data == acknowledged[record_id]
