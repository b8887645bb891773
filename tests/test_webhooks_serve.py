"""Webhooks from ``metadock serve`` itself: its dispatcher delivers, and a kill -9 in the middle of a delivery loses
no event (the claim's lease runs out and the restarted server sends it again, with the same message id)."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from metadock.webhooks import signing
from tests.reliability.servers import serve, server_env
from tests.webhook_receiver import running_receiver


def test_kill_9_mid_delivery_loses_no_event(database_url: str, tmp_path: Path) -> None:
    env = server_env(
        database_url,
        tmp_path,
        METADOCK_WEBHOOKS_ALLOW_PRIVATE="1",
        METADOCK_WEBHOOKS_TIMEOUT_SECONDS="5",  # the lease: 2 x 5 + 5 = 15 s
        METADOCK_WEBHOOKS_RETRY_FIRST_SECONDS="600",  # a recorded failure would not be retried within the test
        METADOCK_WEBHOOKS_POLL_SECONDS="0.2",
    )
    log = tmp_path / "serve.log"
    with running_receiver() as receiver:
        receiver.hang_seconds = 20  # the first delivery is held: the server is killed while it waits for the answer
        server = serve(env, log, "--workers", "2")
        try:
            headers = {"Authorization": server.api_key}
            created = httpx.post(
                f"{server.base_url}/api/v1/webhooks",
                json={"url": receiver.url, "events": ["payload.captured"]},
                headers=headers,
            ).json()["data"]
            captured = httpx.post(
                f"{server.base_url}/api/v1/payload-metadata?flow_run_id=1&flow_step_id=1",
                content=b'{"order": 1234}',
                headers={**headers, "Content-Type": "application/json"},
            ).json()["data"]
            receiver.wait_for(1)
        finally:
            server.kill()  # SIGKILL to the whole group, mid-delivery
        killed_at = time.monotonic()
        server = serve(env, log, api_key=server.api_key)
        try:
            first, second = receiver.wait_for(2, timeout=60)
            assert time.monotonic() - killed_at < 60
            assert first.headers["webhook-id"] == second.headers["webhook-id"]
            assert signing.verify(created["secret"], second.headers, second.body)
            assert second.event["type"] == "payload.captured"
            assert second.event["data"]["id"] == captured["id"]
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                [delivery] = httpx.get(
                    f"{server.base_url}/api/v1/webhooks/{created['id']}/deliveries", headers=headers
                ).json()["data"]
                if delivery["status"] == "delivered":
                    break
                time.sleep(0.1)
            assert (delivery["status"], delivery["attempts"]) == ("delivered", 2)
            time.sleep(1)
            assert len(receiver.received) == 2  # delivered, so never sent again
        finally:
            server.stop()
