"""Optimistic locking holds across nodes: of many PUTs carrying the same version, spread over every node, one wins."""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx

from tests.cluster.harness import Cluster
from tests.factories import metadata_body, problem

WRITERS = 64


def test_64_same_version_puts_spread_over_three_nodes_have_exactly_one_winner(cluster: Cluster) -> None:
    async def scenario() -> tuple[list[httpx.Response], dict[str, object]]:
        clients = [cluster.client(node.url) for node in cluster.nodes]
        try:
            created = await clients[0].post("/metadatas", json=metadata_body(slug="locking"))
            assert created.status_code == 201, created.text
            uuid = created.json()["uuid"]
            responses = await asyncio.gather(
                *(
                    clients[n % len(clients)].put(f"/metadatas/{uuid}", json={"data": {"writer": n}, "version": 1})
                    for n in range(WRITERS)
                )
            )
            stored = (await clients[2].get(f"/metadatas/{uuid}")).json()
            return list(responses), stored
        finally:
            for client in clients:
                await client.aclose()

    responses, stored = asyncio.run(scenario())
    assert Counter(response.status_code for response in responses) == {200: 1, 409: WRITERS - 1}
    for response in responses:
        if response.status_code == 409:
            assert "stale" in problem(response, 409)["detail"]
    (winner,) = (response.json() for response in responses if response.status_code == 200)
    assert winner["version"] == 2
    assert stored["version"] == 2
    assert stored["data"] == winner["data"]
