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
