"""Optimistic locking holds across worker processes: of many PUTs carrying the same version exactly one wins."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import httpx

from tests.factories import metadata_body, problem
from tests.reliability.servers import server_env, serving

WRITERS = 64


async def _race(client: httpx.AsyncClient, uuid: str) -> list[httpx.Response]:
    # Every request is built before any is sent, so all 64 are in flight together.
    return list(
        await asyncio.gather(
            *(client.put(f"/metadatas/{uuid}", json={"data": {"writer": n}, "version": 1}) for n in range(WRITERS))
        )
    )


def test_concurrent_puts_of_one_version_have_exactly_one_winner(database_url: str, tmp_path: Path) -> None:
    with serving(server_env(database_url, tmp_path), tmp_path / "server.log", "--workers", "2") as server:

        async def scenario() -> tuple[list[httpx.Response], httpx.Response]:
            async with server.client() as client:
                created = await client.post("/metadatas", json=metadata_body())
                assert created.status_code == 201, created.text
                uuid = created.json()["uuid"]
                responses = await _race(client, uuid)
                return responses, await client.get(f"/metadatas/{uuid}")

        responses, final = asyncio.run(scenario())

    assert Counter(response.status_code for response in responses) == {200: 1, 409: WRITERS - 1}
    for response in responses:
        if response.status_code == 409:
            assert "stale" in problem(response, 409)["detail"]
    winner = next(response.json() for response in responses if response.status_code == 200)
    assert winner["version"] == 2
    stored = final.json()
    assert stored["version"] == 2
    assert stored["data"] == winner["data"]  # the winner's write, not a later loser's
