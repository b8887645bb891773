"""Any node serves what any other wrote: the nodes share nothing but PostgreSQL and S3 (and the signing key)."""

from __future__ import annotations

import asyncio
import secrets

import httpx

from tests.cluster.conftest import MAX_LOGIN_FAILURES
from tests.cluster.harness import Cluster
from tests.factories import LOGIN, PAYLOADS, USER_PASSWORD, create_user, laravel_error


def test_a_capture_acknowledged_by_one_node_is_listed_downloaded_and_deleted_through_the_others(
    cluster: Cluster,
) -> None:
    node1, node2, node3 = (cluster.node(name).url for name in ("node1", "node2", "node3"))
    data = b'{"order": "' + secrets.token_hex(8).encode() + b'"}'

    async def scenario() -> None:
        async with cluster.client(node1) as one, cluster.client(node2) as two, cluster.client(node3) as three:
            captured = await one.post(PAYLOADS, params={"flow_run_id": 7001, "flow_step_id": 1}, content=data)
            assert captured.status_code == 201, captured.text
            record_id = captured.json()["data"]["id"]

            listed = await two.get(PAYLOADS, params={"filter[flow_run_id]": 7001})
            assert [row["id"] for row in listed.json()["data"]] == [record_id]
            downloaded = await three.get(f"{PAYLOADS}/{record_id}/download")
            assert downloaded.status_code == 200
            assert downloaded.content == data

            assert (await two.delete(f"{PAYLOADS}/{record_id}")).status_code == 204
            for other in (one, three):
                laravel_error(await other.get(f"{PAYLOADS}/{record_id}"), 404)
                laravel_error(await other.get(f"{PAYLOADS}/{record_id}/download"), 404)

    asyncio.run(scenario())


def test_a_login_token_from_one_node_works_on_the_others(cluster: Cluster) -> None:
    user = create_user(cluster.database_url, cluster.tenant_uuid, f"token-{secrets.token_hex(4)}@example.com")
    login = httpx.post(f"{cluster.node('node1').url}{LOGIN}", json={"username": user.email, "password": USER_PASSWORD})
    assert login.status_code == 200, login.text
    token = login.json()["token"]
    for name in ("node2", "node3"):
        listed = httpx.get(f"{cluster.node(name).url}{PAYLOADS}", headers={"Authorization": f"Bearer {token}"})
        assert listed.status_code == 200, (name, listed.text)
    # Logged out on one node, the token is refused on every other.
    logout = httpx.post(f"{cluster.node('node2').url}/fabric/api/logout", headers={"Authorization": f"Bearer {token}"})
    assert logout.status_code in (200, 204), logout.text
    for name in ("node1", "node3"):
        refused = httpx.get(f"{cluster.node(name).url}{PAYLOADS}", headers={"Authorization": f"Bearer {token}"})
        assert refused.status_code == 401, (name, refused.text)


def test_login_throttling_counts_failures_across_nodes(cluster: Cluster) -> None:
    user = create_user(cluster.database_url, cluster.tenant_uuid, f"throttle-{secrets.token_hex(4)}@example.com")
    # One failure on each node: no node alone saw MAX_LOGIN_FAILURES of them.
    for n in range(MAX_LOGIN_FAILURES):
        node = cluster.nodes[n % len(cluster.nodes)]
        failed = httpx.post(f"{node.url}{LOGIN}", json={"username": user.email, "password": "not the password"})
        assert failed.status_code == 401, (node.name, failed.text)
    for node in cluster.nodes:  # blocked everywhere, even with the right password
        blocked = httpx.post(f"{node.url}{LOGIN}", json={"username": user.email, "password": USER_PASSWORD})
        assert laravel_error(blocked, 429) == {"message": "Too Many Attempts."}, node.name
