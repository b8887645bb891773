"""Any node serves what any other wrote: the nodes share nothing but PostgreSQL and S3 (and the signing key)."""

from __future__ import annotations

import asyncio
import secrets

import httpx

from tests.cluster.conftest import MAX_LOGIN_FAILURES, MAX_LOGIN_FAILURES_PER_ADDRESS
from tests.cluster.harness import Cluster
from tests.cluster.load import NODE_HEADER
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


def _client_at(address: str, base_url: str) -> httpx.Client:
    """A client connecting from ``address`` (another loopback address: a client of its own, not HAProxy's)."""
    return httpx.Client(base_url=base_url, transport=httpx.HTTPTransport(local_address=address), timeout=30)


def test_login_throttling_behind_haproxy_counts_each_real_client_and_ignores_spoofed_addresses(
    cluster: Cluster,
) -> None:
    user = create_user(cluster.database_url, cluster.tenant_uuid, f"proxied-{secrets.token_hex(4)}@example.com")
    right = {"username": user.email, "password": USER_PASSWORD}
    with (
        _client_at("127.0.0.2", cluster.balancer.url) as attacker,
        _client_at("127.0.0.3", cluster.balancer.url) as other,
    ):
        # Failed logins through HAProxy, each for another account (the per-user throttle stays out of it), each
        # claiming another address: HAProxy appends the attacker's real one, which is what the nodes count.
        failed_on = []
        for n in range(MAX_LOGIN_FAILURES_PER_ADDRESS):
            guess = {"username": f"nobody-{n}-{secrets.token_hex(3)}@example.com", "password": "guess"}
            failed = attacker.post(LOGIN, json=guess, headers={"X-Forwarded-For": f"198.51.100.{n}"})
            assert failed.status_code == 401, failed.text
            failed_on.append(failed.headers[NODE_HEADER])
        assert set(failed_on) == {"node1", "node2", "node3"}  # no node alone saw them all
        blocked_on = set()
        for n in range(3):  # blocked on every node, whatever address it claims, the right password included
            blocked = attacker.post(LOGIN, json=right, headers={"X-Forwarded-For": f"203.0.113.{n}"})
            assert laravel_error(blocked, 429) == {"message": "Too Many Attempts."}
            blocked_on.add(blocked.headers[NODE_HEADER])
        assert blocked_on == {"node1", "node2", "node3"}
        # Another client behind the same HAProxy is counted under its own address: not blocked.
        served_on = set()
        for _ in range(3):
            login = other.post(LOGIN, json=right)
            assert login.status_code == 200, login.text
            served_on.add(login.headers[NODE_HEADER])
        assert served_on == {"node1", "node2", "node3"}
    # Straight to a node (an untrusted peer), the attacker claiming the other client's address: not believed.
    for node in cluster.nodes:
        with _client_at("127.0.0.2", node.url) as direct:
            spoofed = direct.post(LOGIN, json=right, headers={"X-Forwarded-For": "127.0.0.3"})
            assert laravel_error(spoofed, 429) == {"message": "Too Many Attempts."}, node.name
