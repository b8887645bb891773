"""The payload store against both real backends: a temporary directory and a SeaweedFS S3 server on loopback."""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
import tracemalloc
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import anyio
import pytest

from metadock.payloads.store import (
    KEY_ROOT,
    MIB,
    PART_BYTES,
    READ_CHUNK_BYTES,
    UPLOAD_CONCURRENCY,
    InvalidKey,
    ObjectNotFound,
    ObjectTooLarge,
    PayloadStore,
    RangeNotSatisfiable,
    StoreFull,
    StoreUnavailable,
    _is_full,
    check_key,
    open_store,
)
from tests import s3server
from tests.s3server import SECRET_KEY, S3Server, running_s3_server

pytestmark = pytest.mark.anyio


async def chunked(data: bytes, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    for offset in range(0, len(data), size):
        yield data[offset : offset + size]


async def read(store: PayloadStore, key: str, start: int = 0, end: int | None = None) -> bytes:
    return b"".join([chunk async for chunk in await store.open(key, start=start, end=end)])


async def listed(store: PayloadStore) -> set[str]:
    return {key async for key, _ in store.list_keys()}


def files_under(root: Path) -> list[Path]:
    return sorted(path for path in root.rglob("*") if path.is_file())


async def assert_invisible(store: PayloadStore, key: str) -> None:
    with pytest.raises(ObjectNotFound):
        await store.stat(key)
    with pytest.raises(ObjectNotFound):
        await store.open(key)
    assert key not in await listed(store)


async def assert_nothing_left(store: PayloadStore, key: str) -> None:
    await assert_invisible(store, key)
    path = store.local_path(key)
    if path is not None and path.parent.is_dir():  # the file store: no staging file either
        assert list(path.parent.glob(f"{path.name}*")) == []


@pytest.mark.parametrize("size", [0, 1000, PART_BYTES, 2 * PART_BYTES + 123], ids=["empty", "small", "5MiB", "10MiB+"])
async def test_round_trip(store: PayloadStore, size: int) -> None:
    data = os.urandom(size)
    key = store.new_key()
    result = await store.put_stream(key, chunked(data, 100_003), max_bytes=None)
    assert (result.key, result.size, result.sha256) == (key, size, hashlib.sha256(data).hexdigest())
    info = await store.stat(key)
    assert info.size == size
    assert info.last_modified.tzinfo is not None
    chunks = [chunk async for chunk in await store.open(key)]
    assert b"".join(chunks) == data
    # Large chunks keep the HTTP layer's per-chunk overhead low; only the last may be short.
    assert all(len(chunk) >= READ_CHUNK_BYTES for chunk in chunks[:-1])
    assert key in await listed(store)


async def test_put_result_and_limit_at_exactly_max_bytes(store: PayloadStore) -> None:
    data = os.urandom(4096)
    result = await store.put_stream(store.new_key(), chunked(data, 1000), max_bytes=4096)
    assert result.size == 4096


async def test_ranges(store: PayloadStore) -> None:
    data = os.urandom(PART_BYTES + 777)
    size = len(data)
    key = store.new_key()
    await store.put_stream(key, chunked(data, MIB), max_bytes=None)
    for start, end in [(0, None), (0, 1), (10, 20), (1000, None), (size - 1, None), (123, size), (0, size + 50)]:
        assert await read(store, key, start, end) == data[start:end], (start, end)
    # Like slicing: an empty range, or one starting exactly at the end, gives nothing.
    assert await read(store, key, 5, 5) == b""
    assert await read(store, key, size, None) == b""
    assert await read(store, key, size, size + 10) == b""
    for start, end in [(size + 1, None), (size + 1, size + 5), (size + 1, size + 1)]:
        with pytest.raises(RangeNotSatisfiable) as raised:
            await read(store, key, start, end)
        assert raised.value.size == size
    for start, end in [(-1, None), (5, 3)]:
        with pytest.raises(ValueError, match="range"):
            await read(store, key, start, end)


async def test_ranges_of_an_empty_object(store: PayloadStore) -> None:
    key = store.new_key()
    await store.put_stream(key, chunked(b""), max_bytes=0)
    assert await read(store, key) == b""
    assert await read(store, key, 0, 10) == b""
    with pytest.raises(RangeNotSatisfiable):
        await read(store, key, 1)


@pytest.mark.parametrize("size", [101, 3 * PART_BYTES], ids=["one-put", "multipart"])
async def test_too_large_aborts_and_leaves_nothing(
    store: PayloadStore, request: pytest.FixtureRequest, size: int
) -> None:
    key = store.new_key()
    limit = size - 1 if size < PART_BYTES else 2 * PART_BYTES + 5  # the multipart case fails after two parts
    with pytest.raises(ObjectTooLarge) as raised:
        await store.put_stream(key, chunked(os.urandom(size), 64 * 1024), max_bytes=limit)
    assert raised.value.max_bytes == limit
    await assert_nothing_left(store, key)
    if store.kind == "s3":
        server: S3Server = request.getfixturevalue("s3_server")
        assert server.pending_uploads() == []  # the multipart upload was aborted, not just left hidden


async def test_a_failing_source_propagates_and_leaves_nothing(store: PayloadStore) -> None:
    class ClientGone(Exception):
        pass

    async def source() -> AsyncIterator[bytes]:
        yield os.urandom(PART_BYTES + 1)
        raise ClientGone

    key = store.new_key()
    with pytest.raises(ClientGone):
        await store.put_stream(key, source(), max_bytes=None)
    await assert_nothing_left(store, key)


async def test_a_cancelled_upload_never_shows(store: PayloadStore) -> None:
    """A client that goes away mid-upload cancels the request's task: obstore drops the upload unfinished."""
    key = store.new_key()
    under_way = anyio.Event()
    pulled = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal pulled
        while True:
            yield os.urandom(MIB)
            pulled += 1
            if pulled * MIB > 2 * PART_BYTES:  # two parts are in obstore's hands
                under_way.set()

    async def upload() -> None:
        await store.put_stream(key, endless(), max_bytes=None)

    async with anyio.create_task_group() as group:
        group.start_soon(upload)
        await under_way.wait()
        group.cancel_scope.cancel()
    await assert_invisible(store, key)
    path = store.local_path(key)
    if path is not None:
        # obstore's file upload removes its staging file when dropped, from a background thread: give it a moment.
        for _ in range(100):
            if not files_under(path.parents[2]):
                break
            await anyio.sleep(0.05)
        assert files_under(path.parents[2]) == []


async def test_missing_objects(store: PayloadStore) -> None:
    key = store.new_key()
    with pytest.raises(ObjectNotFound):
        await store.stat(key)
    with pytest.raises(ObjectNotFound):
        await store.open(key)
    with pytest.raises(ObjectNotFound):
        await store.open(key, start=10, end=20)


async def test_delete_is_idempotent(store: PayloadStore) -> None:
    key = store.new_key()
    await store.put_stream(key, chunked(b"payload"), max_bytes=None)
    await store.delete(key)
    await store.delete(key)
    await store.delete(store.new_key())
    await assert_nothing_left(store, key)


async def test_list_keys_sees_what_was_put(store: PayloadStore) -> None:
    assert await listed(store) == set()
    keys = {store.new_key() for _ in range(5)}
    for key in keys:
        await store.put_stream(key, chunked(key.encode()), max_bytes=None)
    entries = [entry async for entry in store.list_keys()]
    assert {key for key, _ in entries} == keys
    assert all(modified.tzinfo is not None for _, modified in entries)
    await store.delete(min(keys))
    assert await listed(store) == keys - {min(keys)}


async def test_list_keys_skips_staging_and_foreign_files(tmp_path: Path) -> None:
    store = open_store(f"file://{tmp_path}")
    key = store.new_key()
    await store.put_stream(key, chunked(b"x"), max_bytes=None)
    path = store.local_path(key)
    assert path is not None
    (path.parent / f"{path.name}#1").write_bytes(b"half")  # what a killed upload leaves
    (tmp_path / "README").write_text("not a payload")
    assert await listed(store) == {key}


BAD_KEYS = [
    "../etc/passwd",
    "/etc/passwd",
    "ab/cd/../../../etc/passwd",
    "ab/cd/" + "0" * 32,  # the name does not start with its directories
    "AB/CD/ABCD" + "0" * 28,
    "ab/cd/abcd" + "0" * 27,
    "ab/cd/abcd" + "0" * 28 + "/x",
    "abcd" + "0" * 28,
    "",
    # The dated shape, wrong in one part each: the random directory, the date, the tenant, the root, a traversal.
    "payloads/7/2026/11/29/ab/" + "0" * 32,
    "payloads/7/2026/02/30/ab/ab" + "0" * 30,
    "payloads/7/2026/13/01/ab/ab" + "0" * 30,
    "payloads/07/2026/11/29/ab/ab" + "0" * 30,
    "payloads/-7/2026/11/29/ab/ab" + "0" * 30,
    "payloads/x/2026/11/29/ab/ab" + "0" * 30,
    "Payloads/7/2026/11/29/ab/ab" + "0" * 30,
    "payloads/7/2026/11/29/ab/../ab" + "0" * 30,
    "other/7/2026/11/29/ab/ab" + "0" * 30,
    "payloads/7/2026/11/29/ab/ab" + "0" * 30 + "/x",
]


@pytest.mark.parametrize("bad", BAD_KEYS)
async def test_keys_are_validated(store: PayloadStore, bad: str) -> None:
    with pytest.raises(InvalidKey):
        await store.put_stream(bad, chunked(b"x"), max_bytes=None)
    with pytest.raises(InvalidKey):
        await store.stat(bad)
    with pytest.raises(InvalidKey):
        await store.open(bad)
    with pytest.raises(InvalidKey):
        await store.delete(bad)
    with pytest.raises(InvalidKey):
        store.local_path(bad)


def test_new_keys_have_the_checked_shape() -> None:
    keys = {PayloadStore.new_key() for _ in range(1000)}
    assert len(keys) == 1000
    assert all(check_key(key) == key for key in keys)


def test_new_keys_carry_the_tenant_and_the_utc_capture_day_under_one_root() -> None:
    # 23:30 in New York on the 28th is already the 29th in UTC: the day is UTC's, whatever the zone given.
    captured = datetime(2026, 11, 28, 23, 30, tzinfo=timezone(timedelta(hours=-5)))
    keys = [PayloadStore.new_key(42, captured) for _ in range(200)]
    assert all(key.startswith(f"{KEY_ROOT}42/2026/11/29/") and check_key(key) == key for key in keys)
    directory, name = keys[0].split("/")[-2:]
    assert len(name) == 32
    assert name[:2] == directory
    assert len({key.split("/")[-2] for key in keys}) > 100  # the random directory spreads a day's objects
    assert len(PayloadStore.new_key(2**63 - 1, captured)) <= 80  # fits the store_key column at the largest id
    with pytest.raises(ValueError, match="tenant"):
        PayloadStore.new_key(-1)


async def test_keys_of_the_older_shape_keep_working(store: PayloadStore) -> None:
    old = "ab/cd/abcd" + "1" * 28
    new = store.new_key(3)
    for key in (old, new):
        await store.put_stream(key, chunked(b"bytes of " + key.encode()), max_bytes=None)
    assert await listed(store) == {old, new}
    assert (await store.stat(old)).size == len(b"bytes of " + old.encode())
    assert b"".join([chunk async for chunk in await store.open(old, start=6)]) == b"of " + old.encode()
    await store.delete_many([old])
    await store.delete(new)
    assert await listed(store) == set()


async def test_local_path(store: PayloadStore) -> None:
    key = store.new_key()
    await store.put_stream(key, chunked(b"bytes on disk"), max_bytes=None)
    path = store.local_path(key)
    if store.kind == "s3":
        assert path is None
    else:
        assert path is not None
        assert path.read_bytes() == b"bytes on disk"


def test_open_store_urls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    created = tmp_path / "a" / "b"
    assert open_store(f"file://{created}").kind == "file"
    assert created.is_dir()
    monkeypatch.chdir(tmp_path)
    relative = open_store("file://./var/payloads")  # the settings' default form
    key = "ab/cd/abcd" + "0" * 28
    assert relative.local_path(key) == tmp_path / "var" / "payloads" / key
    assert open_store("s3://bucket/some/prefix", endpoint_url="http://127.0.0.1:9000").kind == "s3"
    assert open_store("s3://bucket", endpoint_url="https://s3.example.com").kind == "s3"
    for url, endpoint in [
        ("ftp://host/x", None),
        ("/just/a/path", None),
        ("file://", None),
        ("s3:///no-bucket", None),
        ("s3://key:secret@bucket/x", None),
        ("s3://bucket/x", "http://s3.example.com"),  # plain http beyond loopback
        ("s3://bucket/x", "ftp://127.0.0.1"),
    ]:
        with pytest.raises(ValueError, match=r"URL|endpoint|loopback"):
            open_store(url, endpoint_url=endpoint)


async def test_file_store_with_its_directory_removed(tmp_path: Path) -> None:
    root = tmp_path / "payloads"
    store = open_store(f"file://{root}")
    kept = store.new_key()
    await store.put_stream(kept, chunked(b"x"), max_bytes=None)
    shutil.rmtree(root)
    key = store.new_key()
    with pytest.raises(StoreUnavailable) as raised:
        await store.put_stream(key, chunked(b"y" * 1000), max_bytes=None)
    assert str(tmp_path) not in str(raised.value)
    assert not root.exists()  # not silently recreated beside an unmounted volume
    for operation in (store.stat(kept), store.open(kept), store.delete(kept), listed(store)):
        with pytest.raises(StoreUnavailable):
            await operation


async def test_file_store_failing_mid_stream_leaves_nothing(tmp_path: Path) -> None:
    root = tmp_path / "payloads"
    store = open_store(f"file://{root}")
    key = "ab/cd/abcd" + "5" * 28

    async def source() -> AsyncIterator[bytes]:
        for _ in range(3):
            yield os.urandom(PART_BYTES)
        # The disk "breaks" mid-upload: the shard directory turns into a file, so the final rename must fail.
        shutil.rmtree(root / "ab" / "cd")
        (root / "ab" / "cd").write_bytes(b"in the way")
        yield b"the end"

    with pytest.raises(StoreUnavailable) as raised:
        await store.put_stream(key, source(), max_bytes=None)
    assert str(root) not in str(raised.value)
    assert files_under(root) == [root / "ab" / "cd"]


async def test_s3_server_stopped(tmp_path: Path, s3_store_for: Callable[[S3Server], PayloadStore]) -> None:
    with running_s3_server(tmp_path / "s3") as server:
        store = s3_store_for(server)
        kept = store.new_key()
        await store.put_stream(kept, chunked(b"kept"), max_bytes=None)

        async def source() -> AsyncIterator[bytes]:
            yield os.urandom(PART_BYTES)
            yield os.urandom(PART_BYTES)
            server.kill()  # mid-upload, as a crash of the server would
            yield os.urandom(PART_BYTES)

        key = store.new_key()
        with pytest.raises(StoreUnavailable) as raised:
            await store.put_stream(key, source(), max_bytes=None)
        for secret in (SECRET_KEY, server.endpoint, str(server.ports["s3"])):
            assert secret not in str(raised.value)
        for operation in (store.stat(kept), store.open(kept), listed(store), store.delete(kept)):
            with pytest.raises(StoreUnavailable):
                await operation
        with pytest.raises(StoreUnavailable):
            await store.put_stream(store.new_key(), chunked(b"small"), max_bytes=None)

        server.start()
        assert await listed(store) == {kept}
        assert await read(store, kept) == b"kept"


CRASHING_UPLOAD = """
import asyncio, os, sys
from metadock.payloads.store import PART_BYTES, open_store

async def main() -> None:
    store = open_store(sys.argv[1], endpoint_url=sys.argv[2] or None)
    key = store.new_key()

    async def source():
        for _ in range(3):
            yield os.urandom(PART_BYTES)
        print(key, flush=True)  # two parts are on their way: now kill me
        await asyncio.sleep(3600)
        yield b""

    await store.put_stream(key, source(), max_bytes=None)

asyncio.run(main())
"""


def upload_and_kill(url: str, endpoint: str, cwd: Path) -> str:
    """Run CRASHING_UPLOAD in a child process, SIGKILL it mid-upload, and return the key it was writing."""
    child = subprocess.Popen(
        [sys.executable, "-c", CRASHING_UPLOAD, url, endpoint], stdout=subprocess.PIPE, text=True, cwd=cwd
    )
    try:
        assert child.stdout is not None
        key = child.stdout.readline().strip()
        time.sleep(1.0)  # let the parts land
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    return check_key(key)


async def test_a_killed_upload_never_shows(store: PayloadStore, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    endpoint = request.getfixturevalue("s3_server").endpoint if store.kind == "s3" else ""
    key = await anyio.to_thread.run_sync(upload_and_kill, store.url, endpoint, tmp_path)
    await assert_invisible(store, key)
    if store.kind == "file":
        # The staging file is the only trace; it is invisible to the store and swept by remove_stale_uploads.
        path = store.local_path(key)
        assert path is not None
        assert [staged.name for staged in path.parent.iterdir()] == [f"{path.name}#1"]
        assert await store.remove_stale_uploads(older_than=timedelta(hours=1)) == 0
        assert await store.remove_stale_uploads(older_than=timedelta(0)) == 1
        assert list(path.parent.iterdir()) == []
    else:
        # The only trace is an incomplete multipart upload, for the bucket's lifecycle rule; nothing to sweep here.
        assert request.getfixturevalue("s3_server").pending_uploads() != []
        assert await store.remove_stale_uploads(older_than=timedelta(0)) == 0


async def test_a_64_mib_stream_is_never_held_in_memory(store: PayloadStore) -> None:
    """Python-side memory stays at a few parts while 64 MiB go through, whatever the payload's size.

    tracemalloc sees what this process allocates in Python: the meter's buffer (a part plus a chunk, briefly twice
    while the bytearray grows) and the parts handed to obstore, which keeps UPLOAD_CONCURRENCY of them in flight
    plus the one waiting for a slot (its Rust side is bounded the same way, by chunk_size x max_concurrency). The
    source reuses one chunk object, so it adds nothing itself. Measured: 5 parts.
    """
    chunk = os.urandom(MIB)
    expected = hashlib.sha256()

    async def source() -> AsyncIterator[bytes]:
        for _ in range(64):
            expected.update(chunk)
            yield chunk

    key = store.new_key()
    tracemalloc.start()
    try:
        result = await store.put_stream(key, source(), max_bytes=None)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.size == 64 * MIB
    assert result.sha256 == expected.hexdigest()
    assert peak < (UPLOAD_CONCURRENCY + 4) * PART_BYTES, peak
    streamed = hashlib.sha256()
    async for part in await store.open(key):
        streamed.update(part)
    assert streamed.hexdigest() == expected.hexdigest()


def test_out_of_space_is_told_apart() -> None:
    assert _is_full(OSError(errno.ENOSPC, "No space left on device"))
    assert _is_full(RuntimeError("Unable to copy data to file: No space left on device (os error 28)"))
    assert not _is_full(RuntimeError("Connection refused (os error 111)"))
    assert issubclass(StoreFull, StoreUnavailable)


def test_s3_store_for_sets_the_standard_variables(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, s3_store_for: Callable[[S3Server], PayloadStore]
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "https://elsewhere.example.com")
    store = s3_store_for(S3Server(directory=tmp_path, ports={"s3": 1}))
    assert store.kind == "s3"
    assert store.url.startswith("s3://metadock-test/test-")
    assert "AWS_ENDPOINT_URL" not in os.environ
    assert os.environ["AWS_SECRET_ACCESS_KEY"] == SECRET_KEY


@pytest.mark.parametrize(("ci", "outcome"), [("true", pytest.fail.Exception), ("", pytest.skip.Exception)])
def test_an_s3_server_that_cannot_start_fails_under_ci_and_skips_elsewhere(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, ci: str, outcome: type[BaseException]
) -> None:
    monkeypatch.setenv("CI", ci)
    monkeypatch.setattr(s3server, "_weed_binary", lambda: str(tmp_path / "no-such-weed"))
    with pytest.raises(outcome, match="SeaweedFS S3 test server is required"), running_s3_server(tmp_path):
        pass
