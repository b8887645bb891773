"""More concurrent requests than database connections must queue, never lock the server up."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from tests.live import printed_api_key, start_server


def test_requests_beyond_the_pool_size_queue_instead_of_locking_up(tmp_path: Path) -> None:
    server = start_server(
        {
            "METADOCK_DATABASE_URL": f"sqlite:///{tmp_path / 'metadock.db'}",
            "METADOCK_STORE_URL": f"file://{tmp_path / 'payloads'}",
            "METADOCK_DATA_DIR": str(tmp_path),
            "METADOCK_DATABASE_POOL_SIZE": "1",  # two connections in all
        }
    )
    try:
        key = printed_api_key(server.output)
        assert key is not None

        async def burst() -> list[int]:
            async with httpx.AsyncClient(base_url=server.base_url, headers={"Authorization": key}) as client:
                responses = await asyncio.gather(
                    *(client.get("/metadatas", timeout=10) for _ in range(48)),
                    *(
                        client.post("/api/v1/payload-metadata?flow_run_id=1&flow_step_id=1", content=b"{}", timeout=10)
                        for _ in range(16)
                    ),
                )
            return [response.status_code for response in responses]

        statuses = asyncio.run(asyncio.wait_for(burst(), timeout=30))
        assert statuses == [200] * 48 + [201] * 16
    finally:
        server.stop()


def test_concurrent_logins_on_sqlite_all_get_their_answer(tmp_path: Path) -> None:
    """A login reads, awaits the password check, then writes: on SQLite that write must not start from the read's
    snapshot, which another login's commit has made stale (SQLite refuses such an upgrade at once, busy or not)."""
    server = start_server(
        {
            "METADOCK_DATABASE_URL": f"sqlite:///{tmp_path / 'metadock.db'}",
            "METADOCK_STORE_URL": f"file://{tmp_path / 'payloads'}",
            "METADOCK_DATA_DIR": str(tmp_path),
        }
    )
    try:
        password = next(line.split(": ", 1)[1] for line in server.output if line.startswith("Password: "))

        async def burst() -> list[int]:
            async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
                right = {"email": "admin@localhost", "password": password}
                responses = await asyncio.gather(
                    *(client.post("/fabric/api/login", json=right) for _ in range(12)),
                    *(
                        client.post("/fabric/api/login", json={"email": f"nobody{n}@example.com", "password": "x" * 12})
                        for n in range(4)
                    ),
                )
            return [response.status_code for response in responses]

        statuses = asyncio.run(asyncio.wait_for(burst(), timeout=60))
        assert statuses == [200] * 12 + [401] * 4
    finally:
        server.stop()
