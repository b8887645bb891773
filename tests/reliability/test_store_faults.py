"""The payload store failing under a live server: S3 stopped, the file store's directory unwritable, the file store's
disk full. A capture answers 503 (507 when full) with a clear Laravel-style message and records nothing, no partial
bytes remain, and captures work again once the store is back, without restarting Metadock.

Making the directory unwritable: CI runs as root, and chmod does not stop root from writing. The test mounts the
directory read-only over itself (a bind mount, remounted ``ro``), which stops root too and is what a failing disk
remounted read-only by the kernel looks like; the disk-full test mounts a small tmpfs over it, a real ENOSPC. Where
the sandbox does not allow mounting, these tests fail under CI=true and skip elsewhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.factories import PAYLOADS
from tests.factories import laravel_error as _laravel_error
from tests.reliability.audit import walk_file_store
from tests.reliability.servers import ServerGroup, require, serving
from tests.s3server import FOREIGN_AWS_VARIABLES, S3ServerUnavailable, start_s3_server

MIB = 1024 * 1024
CAPTURE = {"flow_run_id": 1, "flow_step_id": 1}


def laravel_error(response: httpx.Response, status: int) -> str:
    message: str = _laravel_error(response, status)["message"]
    return message


async def _total(client: httpx.AsyncClient) -> int:
    response = await client.get(PAYLOADS)
    assert response.status_code == 200, response.text
    total: int = response.json()["meta"]["total"]
    return total


async def _capture(client: httpx.AsyncClient, body: bytes) -> httpx.Response:
    return await client.post(PAYLOADS, params=CAPTURE, content=body)


async def _downloaded(client: httpx.AsyncClient, record_id: int) -> bytes:
    response = await client.get(f"{PAYLOADS}/{record_id}/download")
    assert response.status_code == 200, response.text
    return response.content


# S3 ------------------------------------------------------------------------------------------------------------------


def test_capture_and_download_answer_503_while_s3_is_down_and_work_again_when_it_returns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A server of this test's own: stopping the session's would break every other S3 test.
    try:
        s3 = start_s3_server(tmp_path / "s3")
    except S3ServerUnavailable as error:
        require(False, f"the SeaweedFS S3 test server is required: {error}")
        raise
    for name in FOREIGN_AWS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    env = {
        "METADOCK_DATABASE_URL": f"sqlite:///{tmp_path / 'metadock.db'}",
        "METADOCK_STORE_URL": s3.store_url(f"faults-{uuid.uuid4().hex}"),
        "METADOCK_S3_ENDPOINT_URL": s3.endpoint,
        "METADOCK_DATA_DIR": str(tmp_path),
        **s3.aws_env(),
    }
    try:
        with serving(env, tmp_path / "server.log") as server:

            async def scenario() -> None:
                async with server.client() as client:
                    kept = await _capture(client, b'{"kept": true}')
                    assert kept.status_code == 201, kept.text
                    kept_id = kept.json()["data"]["id"]

                    s3.kill()
                    refused = await _capture(client, b'{"lost": true}')
                    assert "payload store is unavailable" in laravel_error(refused, 503)
                    assert "nothing was recorded" in laravel_error(refused, 503)
                    assert await _total(client) == 1  # no record
                    download = await client.get(f"{PAYLOADS}/{kept_id}/download")
                    assert "payload store is unavailable" in laravel_error(download, 503)

                    await asyncio.to_thread(s3.start)
                    again = await _capture(client, b'{"again": true}')
                    assert again.status_code == 201, again.text
                    assert await _downloaded(client, kept_id) == b'{"kept": true}'
                    assert await _downloaded(client, again.json()["data"]["id"]) == b'{"again": true}'
                    assert await _total(client) == 2

            asyncio.run(scenario())
    finally:
        s3.stop()


# The file store ------------------------------------------------------------------------------------------------------


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True, text=True, timeout=30)


def _umount(path: Path) -> None:
    subprocess.run(["umount", str(path)], check=True, capture_output=True, text=True, timeout=30)


@contextlib.contextmanager
def _small_disk(path: Path, size: str) -> Iterator[None]:
    path.mkdir(parents=True, exist_ok=True)
    try:
        _mount("-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path))
    except (OSError, subprocess.CalledProcessError) as error:
        require(False, f"mounting a tmpfs is not permitted here: {error}")
    try:
        yield
    finally:
        _umount(path)


@contextlib.contextmanager
def _read_only(path: Path) -> Iterator[None]:
    _mount("--bind", str(path), str(path))
    try:
        _mount("-o", "remount,ro,bind", str(path))
        yield
    finally:
        _umount(path)


@pytest.fixture(scope="module")
def small_disk_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerGroup, Path]]:
    """A server whose file store is a 4 MiB filesystem of its own."""
    directory = tmp_path_factory.mktemp("small-disk")
    store_root = directory / "payloads"
    env = {
        "METADOCK_DATABASE_URL": f"sqlite:///{directory / 'metadock.db'}",
        "METADOCK_STORE_URL": f"file://{store_root}",
        "METADOCK_DATA_DIR": str(directory),
    }
    with _small_disk(store_root, "4m"), serving(env, directory / "server.log") as server:
        yield server, store_root


def test_a_full_disk_is_507_and_leaves_neither_bytes_nor_a_record(
    small_disk_server: tuple[ServerGroup, Path],
) -> None:
    server, store_root = small_disk_server

    async def scenario() -> None:
        async with server.client() as client:
            before = await _total(client)
            first = await _capture(client, b"a" * MIB)
            assert first.status_code == 201, first.text
            objects = walk_file_store(store_root).objects
            # One PUT (up to 5 MiB) and a multipart upload (above), each running out of space part-way.
            for size in (4 * MIB, 7 * MIB):
                full = await _capture(client, b"b" * size)
                assert "out of space" in laravel_error(full, 507)
                after = walk_file_store(store_root)
                assert after.objects == objects  # no partial object
                assert not after.staging  # and no staging leftover
                assert await _total(client) == before + 1
            # Space is still there for what fits: nothing leaked.
            fits = await _capture(client, b"c" * MIB)
            assert fits.status_code == 201, fits.text
            data = await _downloaded(client, fits.json()["data"]["id"])
            assert hashlib.sha256(data).hexdigest() == hashlib.sha256(b"c" * MIB).hexdigest()
            assert await _total(client) == before + 2

    asyncio.run(scenario())


def test_an_unwritable_store_directory_is_503_reads_go_on_and_captures_resume(
    small_disk_server: tuple[ServerGroup, Path],
) -> None:
    server, store_root = small_disk_server

    async def scenario() -> None:
        async with server.client() as client:
            kept = await _capture(client, b'{"kept": true}')
            assert kept.status_code == 201, kept.text
            before = await _total(client)
            objects = walk_file_store(store_root).objects
            with _read_only(store_root):
                refused = await _capture(client, b'{"lost": true}')
                assert "payload store is unavailable" in laravel_error(refused, 503)
                assert await _total(client) == before
                assert walk_file_store(store_root).objects == objects
                # Reading needs no write: downloads go on.
                assert await _downloaded(client, kept.json()["data"]["id"]) == b'{"kept": true}'
            again = await _capture(client, b'{"again": true}')
            assert again.status_code == 201, again.text
            assert await _total(client) == before + 1

    asyncio.run(scenario())
