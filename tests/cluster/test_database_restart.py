"""PostgreSQL restarted under cluster load: every node answers 503 in its API's dialect while the database is down
(readiness included, so HAProxy takes them all out and answers 503 itself), full service returns within a bounded
time once it is back, without restarting a node, and nothing is half-written: every acknowledged write reads back
exactly, no record lacks its bytes, no document holds a version nobody wrote.

The database is the cluster's own server (tests/cluster/conftest.py), stopped twice: a fast shutdown (an operator's
restart) and a SIGKILL of the postmaster and its processes (a crash, recovered from the WAL with fsync on).
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import pytest

from metadock.payloads.store import open_store
from tests.cluster.harness import Cluster, Node
from tests.cluster.load import Load, create_documents, load_running
from tests.factories import LOGIN, PAYLOADS, USER_PASSWORD, create_user, laravel_error, payload_rows, problem
from tests.s3server import S3Server

# From PostgreSQL accepting connections again to every node back in HAProxy's rotation: each node's next /readyz
# reconnects (rise 2 checks at 250-500 ms), with room for this shared, loaded machine.
RECOVERY_BOUND = 10.0
# What an error body must never show a client.
INTERNALS = (b"Traceback", b"sqlalchemy", b"asyncpg", b"psycopg", b'File "', b"postgres")


@dataclass
class Outage:
    how: str
    began: float  # time.monotonic(): the stop was asked for
    ended: float  # the database accepts connections again
    recovered: float  # HAProxy sees every node UP again
    log_offsets: dict[str, int]


def _no_internals(response: httpx.Response) -> None:
    assert not any(word in response.content for word in INTERNALS), response.text


async def _every_node_answers_503(cluster: Cluster, node: Node, uuid: str, email: str) -> None:
    """Readiness and every kind of request, straight to the node (not through HAProxy, which has none left)."""
    async with cluster.client(node.url, timeout=10) as client:
        for _ in range(3):  # both workers, whichever pooled connection they would have used
            checks = [
                problem(answer := await client.get("/readyz"), 503),
                problem(await client.get("/metadatas"), 503),
                problem(await client.get(f"/metadatas/{uuid}"), 503),
                problem(await client.put(f"/metadatas/{uuid}", json={"data": ["lost"], "version": 1}), 503),
                laravel_error(await client.get(PAYLOADS), 503),
                laravel_error(
                    await client.post(PAYLOADS, params={"flow_run_id": 9, "flow_step_id": 1}, content=b"x"), 503
                ),
                laravel_error(await client.post(LOGIN, json={"username": email, "password": USER_PASSWORD}), 503),
            ]
            assert answer.headers.get("retry-after"), node.name
            for body in checks:
                assert not any(word in str(body).encode() for word in INTERNALS), (node.name, body)


async def _every_node_serves(cluster: Cluster, uuid: str, email: str) -> None:
    for node in cluster.nodes:
        async with cluster.client(node.url, timeout=10) as client:
            for _ in range(3):
                assert (await client.get("/readyz")).status_code == 200, node.name
                assert (await client.get(f"/metadatas/{uuid}")).status_code == 200, node.name
                assert (await client.get(PAYLOADS)).status_code == 200, node.name
            login = await client.post(LOGIN, json={"username": email, "password": USER_PASSWORD})
            assert login.status_code == 200, (node.name, login.text)


async def _outage(cluster: Cluster, how: str, stop: Callable[[], None], uuid: str, email: str) -> Outage:
    names = [node.name for node in cluster.nodes]
    offsets = {node.name: node.log.stat().st_size for node in cluster.nodes}
    began = time.monotonic()
    await asyncio.to_thread(stop)
    try:
        await asyncio.gather(*(_every_node_answers_503(cluster, node, uuid, email) for node in cluster.nodes))
        await asyncio.to_thread(cluster.balancer.wait_until, dict.fromkeys(names, "DOWN"), 10)
        await asyncio.sleep(0.5)  # the load meets HAProxy with no node in rotation
    finally:
        await asyncio.to_thread(cluster.postgres.start)
    ended = time.monotonic()
    recovered = await asyncio.to_thread(cluster.balancer.wait_until, dict.fromkeys(names, "UP"), 30)
    await _every_node_serves(cluster, uuid, email)
    await asyncio.sleep(1.0)  # load on the recovered cluster
    return Outage(how, began, ended, recovered, offsets)


async def _stored_objects(store_url: str, endpoint: str) -> dict[str, bytes]:
    store = open_store(store_url, endpoint_url=endpoint)
    objects = {}
    async for key, _modified in store.list_keys():
        objects[key] = b"".join([chunk async for chunk in await store.open(key)])
    return objects


def test_a_postgresql_restart_under_cluster_load_is_503_then_full_service_with_nothing_half_written(
    cluster: Cluster, s3_server: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = create_user(cluster.database_url, cluster.tenant_uuid, f"pg-{secrets.token_hex(4)}@example.com")
    rows_before = {row["id"] for row in payload_rows(cluster.database_url)}
    for name, value in s3_server.aws_env().items():
        monkeypatch.setenv(name, value)
    objects_before = set(asyncio.run(_stored_objects(cluster.store_url, s3_server.endpoint)))

    async def scenario() -> tuple[Load, list[Outage]]:
        async with cluster.client() as client:
            documents = await create_documents(client, 3)
            outages = []
            async with load_running(client, user.email, documents) as load:
                await asyncio.sleep(1.5)  # load on every node
                outages.append(await _outage(cluster, "fast", cluster.postgres.stop, documents[0], user.email))
                outages.append(await _outage(cluster, "kill -9", cluster.postgres.kill, documents[0], user.email))
            return load, outages

    load, outages = asyncio.run(scenario())

    for outage in outages:
        took = outage.recovered - outage.ended
        assert took <= RECOVERY_BOUND, f"{outage.how}: every node back in rotation {took:.1f} s after PostgreSQL"
    # While it was down: 503s only, never a 500, a 502 or a dropped connection; each a JSON body without internals
    # (a node's, in its API's dialect, or HAProxy's own when no node was in rotation).
    failures = load.failures()
    assert failures, "the load never met the outage"
    assert Counter(o.status for o in failures) == Counter({503: len(failures)}), Counter(
        (o.kind, o.status, o.error) for o in failures
    )
    for failure in failures:
        assert any(o.began <= failure.ended and failure.started <= o.recovered for o in outages), failure
        assert not any(word in failure.body for word in INTERNALS), failure
        assert failure.body.startswith(b"{"), failure
    # Full service after: every kind of request succeeded once HAProxy had the nodes back, none failed.
    last = outages[-1].recovered
    after = [o for o in load.outcomes if o.started > last]
    assert not [o for o in after if o.failed], Counter((o.kind, o.status) for o in after if o.failed)
    assert {"capture", "download", "put", "list", "login"} <= {o.kind for o in after if not o.failed}
    # No node was restarted, and none logged a traceback (a 500's mark).
    for node in cluster.nodes:
        assert node.process is not None, node.name
        assert node.process.poll() is None, node.name
        log = node.log.read_bytes()[min(o.log_offsets[node.name] for o in outages) :]
        assert b"Traceback" not in log, node.name

    # Nothing half-written. A PUT answered 200 is stored (or a later one, checked above); a document holds the last
    # acknowledged version or one whose PUT was in doubt (the connection lost under its COMMIT), never another.
    with httpx.Client(base_url=cluster.balancer.url, headers={"Authorization": cluster.api_key}) as client:
        for uuid, (version, data) in load.documents.items():
            stored = client.get(f"/metadatas/{uuid}").json()
            possible = {version: data} | dict(load.in_doubt.get(uuid, []))
            assert possible.get(stored["version"], object()) == stored["data"], (uuid, stored, version)
    # Every live record has its bytes, whole; bytes without a record only from captures that were not acknowledged
    # (a COMMIT whose answer was lost keeps them; fsck removes them), never from an acknowledged one.
    objects = asyncio.run(_stored_objects(cluster.store_url, s3_server.endpoint))
    live = {row["store_key"]: row for row in payload_rows(cluster.database_url) if not row["dropped"]}
    for key, row in live.items():
        assert key in objects, f"record {row['id']} has no bytes"
        data = objects[key]
        assert (len(data), hashlib.sha256(data).hexdigest()) == (row["size"], row["sha256"]), row["id"]
    new_records = {row["id"] for row in live.values()} - rows_before
    assert len(new_records) >= len(load.captures)
    orphans = set(objects) - set(live) - objects_before
    unacknowledged = sum(1 for o in load.outcomes if o.kind == "capture" and o.status != 201)
    assert len(orphans) <= unacknowledged, (len(orphans), unacknowledged)
