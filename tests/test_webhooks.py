"""Webhooks (issue 16 item 5): subscriptions over the API, events queued in the change's transaction, and signed
deliveries to a real receiver on loopback, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import time
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import func, select

from metadock.kit.db import Database
from metadock.kit.principal import Principal, Role
from metadock.metadatas.schemas import MetadataCreate
from metadock.metadatas.service import MetadataService
from metadock.settings import Settings
from metadock.tenants.service import TenantService
from metadock.webhooks import signing
from metadock.webhooks.dispatch import Dispatcher, Policy
from metadock.webhooks.table import webhook_deliveries
from tests.factories import PAYLOADS, TenantKeys, capture_payload, laravel_error, metadata_body, run_in_transaction
from tests.live import free_port
from tests.webhook_receiver import Received, Receiver, hooks, loopback_settings, receiver, running_receiver

__all__ = ["hooks", "receiver"]  # fixtures, imported for pytest

Client = TestClient[Any]
HOOKS = "/api/v1/webhooks"
ALL_EVENTS = ["payload.captured", "payload.dropped", "metadata.created", "metadata.updated", "metadata.deleted"]


@pytest.fixture
def hook_settings(database_url: str, tmp_path: Path) -> Settings:
    return loopback_settings(database_url, tmp_path, max_payload_bytes=64)


def subscribe(client: Client, tenant: TenantKeys, url: str, events: list[str] | None = None) -> dict[str, Any]:
    response = client.post(HOOKS, json={"url": url, "events": events or ALL_EVENTS}, headers=tenant.headers())
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def dispatch(settings: Settings, **policy: Any) -> int:
    """Run the dispatcher once, as ``metadock webhooks deliver --once`` does, with ``policy`` overrides."""

    async def run() -> int:
        database = Database(settings.database_url, pool_size=2)
        base = Policy.of(settings)
        dispatcher = Dispatcher(database, Policy(**{**{f: getattr(base, f) for f in base.__slots__}, **policy}))
        try:
            return await dispatcher.run_once()
        finally:
            await dispatcher.aclose()
            await database.dispose()

    return asyncio.run(run())


def in_queue_order(received: list[Received]) -> list[Received]:
    """Deliveries are sent concurrently; their message ids (``msg_<outbox row>_<time>``) tell the queue's order."""
    return sorted(received, key=lambda item: int(item.headers["webhook-id"].split("_")[1]))


def queued(database_url: str) -> int:
    count = select(func.count()).select_from(webhook_deliveries)
    return int(run_in_transaction(database_url, lambda connection: connection.scalar(count)))


def test_create_answers_201_with_a_whsec_secret_shown_once(hooks: Client, tenant: TenantKeys) -> None:
    created = subscribe(hooks, tenant, "https://hooks.example.com/in", ["metadata.created", "payload.captured"])
    assert created["secret"].startswith("whsec_")
    assert len(base64.b64decode(created["secret"].removeprefix("whsec_"))) >= 24
    assert created["events"] == ["payload.captured", "metadata.created"]
    listed = hooks.get(HOOKS, headers=tenant.headers()).json()["data"]
    assert [item["id"] for item in listed] == [created["id"]]
    shown = hooks.get(f"{HOOKS}/{created['id']}", headers=tenant.headers()).json()["data"]
    assert "secret" not in shown
    assert "secret" not in listed[0]
    assert shown["url"] == "https://hooks.example.com/in"
    assert hooks.delete(f"{HOOKS}/{created['id']}", headers=tenant.headers()).status_code == 204
    laravel_error(hooks.get(f"{HOOKS}/{created['id']}", headers=tenant.headers()), 404)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "ftp://example.com/x", "events": ["payload.captured"]}, "url"),
        ({"url": "not a url", "events": ["payload.captured"]}, "url"),
        ({"url": "https://user:pw@example.com/", "events": ["payload.captured"]}, "url"),
        ({"url": "https://example.com/", "events": ["payload.exploded"]}, "events.0"),
        ({"url": "https://example.com/", "events": []}, "events"),
    ],
)
def test_a_bad_url_or_an_unknown_event_is_a_laravel_422(
    hooks: Client, tenant: TenantKeys, body: dict[str, Any], field: str
) -> None:
    error = laravel_error(hooks.post(HOOKS, json=body, headers=tenant.headers()), 422)
    assert field in error["errors"]
    assert hooks.get(HOOKS, headers=tenant.headers()).json()["data"] == []


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://localhost:8000/",
        "http://10.1.2.3/",
        "http://192.168.0.1/",
        "http://172.16.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[fe80::1]/",
        "http://0.0.0.0/",
        "http://224.0.0.1/",
        "http://100.64.0.1/",
    ],
)
def test_private_targets_are_refused_at_creation(client: Client, tenant: TenantKeys, url: str) -> None:
    error = laravel_error(client.post(HOOKS, json={"url": url, "events": ALL_EVENTS}, headers=tenant.headers()), 422)
    assert "url" in error["errors"]


def test_a_private_target_is_refused_again_at_delivery(
    hooks: Client, hook_settings: Settings, tenant: TenantKeys, receiver: Receiver
) -> None:
    """Allowed when it was created; the dispatcher checks again (here without the allowance) and never connects."""
    created = subscribe(hooks, tenant, receiver.url)
    capture_payload(hooks, tenant.headers("writer"))
    assert dispatch(hook_settings, allow_private=False) == 1
    assert receiver.received == []
    [delivery] = hooks.get(f"{HOOKS}/{created['id']}/deliveries", headers=tenant.headers()).json()["data"]
    assert delivery["status"] == "pending"
    assert delivery["attempts"] == 1
    assert "loopback" in delivery["last_error"]


def test_the_receiver_gets_every_event_signed_and_verifiable(
    hooks: Client, hook_settings: Settings, tenant: TenantKeys, receiver: Receiver
) -> None:
    created = subscribe(hooks, tenant, receiver.url)
    writer = tenant.headers("writer")
    record = capture_payload(hooks, writer, flow_run_id=7, flow_step_id=3)
    too_large = capture_payload(hooks, writer, b"x" * 100, flow_run_id=7, flow_step_id=4)
    resource = hooks.post("/metadatas", json=metadata_body(), headers=writer).json()
    updated = hooks.put(f"/metadatas/{resource['uuid']}", json={"version": 1, "data": [1]}, headers=writer).json()
    assert hooks.delete(f"/metadatas/{resource['uuid']}", headers=writer).status_code == 204
    assert hooks.delete(f"{PAYLOADS}/{record['id']}", headers=writer).status_code == 204

    assert dispatch(hook_settings) == 6
    received = receiver.wait_for(6)
    for item in received:
        assert signing.verify(created["secret"], item.headers, item.body)
        assert not signing.verify(signing.new_secret(), item.headers, item.body)
        assert item.headers["content-type"] == "application/json"
        assert item.headers["host"] == f"127.0.0.1:{receiver.port}"
    events = [item.event for item in in_queue_order(received)]
    assert [event["type"] for event in events] == [
        "payload.captured",
        "payload.dropped",
        "metadata.created",
        "metadata.updated",
        "metadata.deleted",
        "payload.dropped",
    ]
    assert events[0]["data"] == {**record, "dropped_reason": None}
    assert events[1]["data"]["id"] == too_large["id"]
    assert events[1]["data"]["dropped_reason"] == "too_large"
    assert events[2]["data"] == resource
    assert events[3]["data"] == updated
    assert events[4]["data"]["uuid"] == resource["uuid"]
    assert events[5]["data"]["id"] == record["id"]
    assert events[5]["data"]["dropped_reason"] == "deleted"
    assert all(event["timestamp"].endswith("Z") for event in events)
    history = hooks.get(f"{HOOKS}/{created['id']}/deliveries", headers=tenant.headers()).json()["data"]
    assert [item["status"] for item in history] == ["delivered"] * 6
    assert all(item["last_status"] == 200 and item["attempts"] == 1 for item in history)
    assert dispatch(hook_settings) == 0  # delivered once: nothing is due any more


def test_a_receiver_down_then_up_gets_the_event_after_a_retry(
    hooks: Client, hook_settings: Settings, tenant: TenantKeys, receiver: Receiver
) -> None:
    created = subscribe(hooks, tenant, receiver.url, ["payload.captured"])
    receiver.statuses = [503]
    capture_payload(hooks, tenant.headers("writer"))
    assert dispatch(hook_settings) == 1
    [first] = hooks.get(f"{HOOKS}/{created['id']}/deliveries", headers=tenant.headers()).json()["data"]
    assert (first["status"], first["last_status"], first["last_error"]) == ("pending", 503, "HTTP 503")
    time.sleep(0.2)  # past the (test's) backoff
    assert dispatch(hook_settings) == 1
    [second] = hooks.get(f"{HOOKS}/{created['id']}/deliveries", headers=tenant.headers()).json()["data"]
    assert (second["status"], second["attempts"], second["last_status"]) == ("delivered", 2, 200)
    first_try, retry = receiver.wait_for(2)
    assert first_try.headers["webhook-id"] == retry.headers["webhook-id"]  # the same message, for deduplication


def test_a_receiver_not_listening_is_retried_then_marked_failed(
    hooks: Client, hook_settings: Settings, tenant: TenantKeys
) -> None:
    with running_receiver() as gone:
        url = gone.url
    created = subscribe(hooks, tenant, url, ["payload.captured"])
    capture_payload(hooks, tenant.headers("writer"))
    assert dispatch(hook_settings, retry_for=3600) == 1
    [delivery] = hooks.get(f"{HOOKS}/{created['id']}/deliveries", headers=tenant.headers()).json()["data"]
    assert delivery["status"] == "pending"
    assert "Connect" in delivery["last_error"]
    # Past the retry window (24 hours by default; no time in this test), the next failure is final.
    time.sleep(0.2)
    assert dispatch(hook_settings, retry_for=0.01) == 1
    [delivery] = hooks.get(f"{HOOKS}/{created['id']}/deliveries", headers=tenant.headers()).json()["data"]
    assert (delivery["status"], delivery["attempts"], delivery["next_attempt_at"]) == ("failed", 2, None)
    time.sleep(0.2)
    assert dispatch(hook_settings) == 0


def test_signatures_match_the_specifications_example() -> None:
    """The example the Standard Webhooks specification's libraries test against."""
    secret, message, timestamp = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330
    body = b'{"test": 2432232314}'
    assert signing.signature(secret, message, timestamp, body) == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_backoff_doubles_with_jitter_up_to_its_cap() -> None:
    policy = Policy(allow_private=False, timeout=10, retry_first=5, retry_max=3600, retry_for=86400)
    for attempts, full in ((1, 5), (2, 10), (5, 80), (30, 3600)):
        delays = [policy.backoff(attempts) for _ in range(200)]
        assert all(full / 2 <= delay <= full for delay in delays)
        assert len(set(delays)) > 1


def test_a_tenant_without_subscriptions_queues_nothing(
    hooks: Client, tenant: TenantKeys, other_tenant: TenantKeys, receiver: Receiver, database_url: str
) -> None:
    subscribe(hooks, other_tenant, receiver.url)  # another tenant's subscription is not this tenant's
    subscribe(hooks, tenant, receiver.url, ["metadata.deleted"])  # nor one to another event
    writer = tenant.headers("writer")
    record = capture_payload(hooks, writer)
    capture_payload(hooks, writer, b"y" * 100)
    hooks.post("/metadatas", json=metadata_body(), headers=writer)
    hooks.delete(f"{PAYLOADS}/{record['id']}", headers=writer)
    assert queued(database_url) == 0


def test_tenants_see_and_touch_only_their_own_webhooks(
    hooks: Client, hook_settings: Settings, tenant: TenantKeys, other_tenant: TenantKeys, receiver: Receiver
) -> None:
    mine = subscribe(hooks, tenant, receiver.url)
    theirs = subscribe(hooks, other_tenant, receiver.url)
    capture_payload(hooks, tenant.headers("writer"))
    assert [item["id"] for item in hooks.get(HOOKS, headers=tenant.headers()).json()["data"]] == [mine["id"]]
    for path in (f"{HOOKS}/{theirs['id']}", f"{HOOKS}/{theirs['id']}/deliveries"):
        laravel_error(hooks.get(path, headers=tenant.headers()), 404)
    laravel_error(hooks.delete(f"{HOOKS}/{theirs['id']}", headers=tenant.headers()), 404)
    laravel_error(hooks.get(f"{HOOKS}/not-an-id", headers=tenant.headers()), 404)
    assert hooks.get(f"{HOOKS}/{theirs['id']}/deliveries", headers=other_tenant.headers()).json()["data"] == []
    dispatch(hook_settings)
    [only] = receiver.wait_for(1)
    assert signing.verify(mine["secret"], only.headers, only.body)


@pytest.mark.parametrize("role", ["reader", "writer"])
def test_only_admins_manage_webhooks(hooks: Client, tenant: TenantKeys, role: str) -> None:
    body = {"url": "https://example.com/", "events": ALL_EVENTS}
    laravel_error(hooks.post(HOOKS, json=body, headers=tenant.headers(role)), 403)
    laravel_error(hooks.get(HOOKS, headers=tenant.headers(role)), 403)


def test_the_event_is_rolled_back_with_a_failed_change(
    hooks: Client, tenant: TenantKeys, receiver: Receiver, database_url: str
) -> None:
    """The outbox row is written in the change's transaction: a change that does not commit leaves no event, and
    a failed request (a duplicate slug) none either."""
    subscribe(hooks, tenant, receiver.url)

    async def create_then_fail(connection: Any) -> None:
        found = await TenantService(connection).get_tenant(tenant.uuid)
        principal = Principal(found.id, found.uuid, Role.WRITER, "test")
        await MetadataService(connection, principal).create(MetadataCreate(**_create_args()))
        assert int(await connection.scalar(select(func.count()).select_from(webhook_deliveries))) == 1
        raise RuntimeError("the change fails after its event was queued")

    with pytest.raises(RuntimeError):
        run_in_transaction(database_url, create_then_fail)
    assert queued(database_url) == 0
    writer = tenant.headers("writer")
    assert hooks.post("/metadatas", json=metadata_body(), headers=writer).status_code == 201
    assert hooks.post("/metadatas", json=metadata_body(), headers=writer).status_code == 400
    assert queued(database_url) == 1


def _create_args() -> dict[str, Any]:
    body = metadata_body()
    return {"owner": body["owner"], "title": body["title"], "slug": body["slug"], "type": body["type"], "version": 1}


def test_retention_drops_are_events_with_their_reason(
    hooks: Client, hook_settings: Settings, tenant: TenantKeys, receiver: Receiver, database_url: str, tmp_path: Path
) -> None:
    from metadock.payloads import maintenance
    from metadock.payloads.store import open_store

    subscribe(hooks, tenant, receiver.url, ["payload.dropped"])
    record = capture_payload(hooks, tenant.headers("writer"))

    async def prune() -> None:
        database = Database(database_url, pool_size=2)
        store = open_store(f"file://{tmp_path / 'payloads'}")
        try:
            later = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
            await maintenance.prune_records(database, store, older_than_days=0, started=later)
        finally:
            await database.dispose()

    asyncio.run(prune())
    dispatch(hook_settings)
    events = [item.event for item in in_queue_order(receiver.wait_for(2))]
    assert [(event["data"]["id"], event["data"]["dropped_reason"]) for event in events] == [
        (record["id"], "expired"),
        (record["id"], "pruned"),
    ]
    assert events[0]["data"]["dropped"] == "1"


def test_the_dispatcher_logs_a_database_outage_in_one_line_and_keeps_polling(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """A database that is down (a PostgreSQL restart) is an outage, not a fault: a warning without a traceback, and
    the dispatcher keeps polling until the database returns."""

    async def run() -> None:
        # Nothing listens on this port: every connection is refused, as while PostgreSQL restarts.
        database = Database(f"postgresql://postgres@127.0.0.1:{free_port()}/none", pool_size=1)
        dispatcher = Dispatcher(database, Policy.of(settings))
        polling = asyncio.create_task(dispatcher.run_forever(0.05))
        try:
            await asyncio.sleep(0.5)
            assert not polling.done()
        finally:
            polling.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await polling
            await dispatcher.aclose()
            await database.dispose()

    with caplog.at_level("WARNING", logger="metadock.webhooks"):
        asyncio.run(run())
    outages = [record for record in caplog.records if "database is unavailable" in record.getMessage()]
    assert len(outages) >= 2, caplog.text  # tried again, and again
    assert all(record.exc_info is None for record in caplog.records), caplog.text
