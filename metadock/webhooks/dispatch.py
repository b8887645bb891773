"""Delivery: claim due rows of the outbox, send each signed to its subscription's URL, record the outcome.

At least once: a claim commits before anything is sent and only pushes the row's next attempt past a lease, so a
dispatcher killed mid-delivery leaves the row to whichever dispatcher looks once the lease ends. A failed attempt
is retried with exponential backoff and jitter until the event is ``retry_for`` old (24 hours), then marked failed.
Safe with several workers and nodes: claims never overlap (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, SQLite's
single writer), and an outcome is recorded only if no later claim took the row.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
import time
from dataclasses import dataclass
from typing import Any

import httpx
import msgspec

from metadock.kit.db import Database
from metadock.kit.errors import database_unreachable
from metadock.kit.timestamps import _laravel_text
from metadock.settings import Settings
from metadock.webhooks import signing, targets
from metadock.webhooks.repository import DeliveryRepository

logger = logging.getLogger("metadock.webhooks")
BATCH = 20
USER_AGENT = "Metadock-Webhooks/1"


@dataclass(frozen=True, slots=True)
class Policy:
    allow_private: bool
    timeout: float
    retry_first: float
    retry_max: float
    retry_for: float

    @classmethod
    def of(cls, settings: Settings) -> Policy:
        return cls(
            allow_private=settings.webhooks_allow_private,
            timeout=settings.webhooks_timeout_seconds,
            retry_first=settings.webhooks_retry_first_seconds,
            retry_max=settings.webhooks_retry_max_seconds,
            retry_for=settings.webhooks_retry_for_seconds,
        )

    @property
    def lease(self) -> dt.timedelta:
        """How long a claimed row waits before another dispatcher may take it: longer than an attempt can last."""
        return dt.timedelta(seconds=2 * self.timeout + 5)

    def backoff(self, attempts: int) -> float:
        """Seconds before the next attempt after ``attempts`` failed ones: doubling from ``retry_first`` up to
        ``retry_max``, drawn in its upper half (jitter spreads the retries of many events failed together)."""
        delay = min(self.retry_max, self.retry_first * 2 ** min(attempts - 1, 40))
        return float(delay / 2 + random.uniform(0, delay / 2))  # noqa: S311 - jitter, not a secret


@dataclass(frozen=True, slots=True)
class Outcome:
    status: int | None
    error: str | None

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def message_id(row: Any) -> str:
    """Stable for every attempt of one delivery (receivers deduplicate on it); the event time makes it unique
    even across a database whose ids started again."""
    occurred = row["occurred_at"]
    return f"msg_{row['id']}_{int(occurred.timestamp() * 1_000_000)}"


def body(row: Any) -> bytes:
    data = msgspec.json.decode(row["data"])
    if row["subject_id"] is not None and "id" not in data:
        data = {"id": row["subject_id"], **data}
    return msgspec.json.encode(
        {"type": row["event_type"], "timestamp": _laravel_text(row["occurred_at"]), "data": data}
    )


class Dispatcher:
    def __init__(self, database: Database, policy: Policy, client: httpx.AsyncClient | None = None) -> None:
        self.database = database
        self.policy = policy
        # No proxies or .netrc from the environment, no redirects followed: the request goes to the address checked.
        # No connection kept alive: connections are pooled by address, and one opened (and its certificate checked)
        # for one host name must not carry a request for another host name on the same address.
        self.client = client or httpx.AsyncClient(
            follow_redirects=False,
            trust_env=False,
            verify=True,
            limits=httpx.Limits(max_keepalive_connections=0),
        )

    async def aclose(self) -> None:
        await self.client.aclose()

    async def run_once(self, limit: int = BATCH) -> int:
        """Claim and attempt up to ``limit`` due deliveries; how many were attempted."""
        now = dt.datetime.now(dt.UTC)
        async with self.database.transaction() as connection:
            repository = DeliveryRepository(connection)
            rows = await repository.claim(now, now + self.policy.lease, limit)
            subscriptions = await repository.subscriptions({row["subscription_id"] for row in rows}) if rows else {}
        if rows:
            await asyncio.gather(*(self._attempt(row, subscriptions.get(row["subscription_id"])) for row in rows))
        return len(rows)

    async def run_forever(self, poll_seconds: float) -> None:
        while True:
            try:
                while await self.run_once() == BATCH:
                    pass  # more are due: no pause
            except Exception as error:
                if database_unreachable(error):  # an outage, not a fault: one line, no traceback
                    logger.warning("webhook dispatch: the database is unavailable; trying again shortly")
                else:
                    logger.exception("webhook dispatch failed; trying again shortly")
            await asyncio.sleep(poll_seconds)

    async def _attempt(self, row: Any, subscription: Any) -> None:
        if subscription is None:  # removed since the claim: its deliveries went with it
            return
        outcome = await self._send(row, subscription)
        now = dt.datetime.now(dt.UTC)
        values: dict[str, Any] = {"last_status": outcome.status, "last_error": outcome.error}
        if outcome.delivered:
            values.update(status="delivered", delivered_at=now)
        else:
            deadline = row["occurred_at"] + dt.timedelta(seconds=self.policy.retry_for)
            if now >= deadline:
                values["status"] = "failed"
            else:  # the last retry falls on the deadline itself
                retry = now + dt.timedelta(seconds=self.policy.backoff(row["attempts"]))
                values["next_attempt_at"] = min(retry, deadline)
        async with self.database.transaction() as connection:
            await DeliveryRepository(connection).finish(row["id"], row["attempts"], values)

    async def _send(self, row: Any, subscription: Any) -> Outcome:
        content = body(row)
        try:
            async with asyncio.timeout(self.policy.timeout):
                target = await targets.resolve(subscription["url"], allow_private=self.policy.allow_private)
                request = self._request(target, subscription["secret"], message_id(row), content)
                response = await self.client.send(request, stream=True)
                await response.aclose()  # the status is all that counts: the body is never read
                error = None if 200 <= response.status_code < 300 else f"HTTP {response.status_code}"
                return Outcome(response.status_code, error)
        except targets.TargetRefused as refused:
            return Outcome(None, str(refused)[:255])
        except TimeoutError:
            return Outcome(None, f"no answer within {self.policy.timeout:g} s")
        except httpx.HTTPError as error:
            return Outcome(None, (type(error).__name__ + ": " + str(error))[:255])

    def _request(self, target: targets.Target, secret: str, msg_id: str, content: bytes) -> httpx.Request:
        url = target.url
        address = f"[{target.address}]" if target.address.version == 6 else str(target.address)
        pinned = httpx.URL(url.geturl()).copy_with(host=address.strip("[]"), port=target.port)
        headers = {
            "Host": url.netloc,
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            **signing.headers(secret, msg_id, int(time.time()), content),
        }
        # TLS is verified against the URL's host name, though the connection goes to the address checked.
        extensions = {"sni_hostname": target.host} if url.scheme == "https" else {}
        return self.client.build_request(
            "POST", pinned, content=content, headers=headers, extensions=extensions, timeout=self.policy.timeout
        )


async def deliver_once(settings: Settings) -> int:
    """``metadock webhooks deliver --once``: every delivery due now, attempted once."""
    database = Database(settings.database_url, pool_size=2)
    dispatcher = Dispatcher(database, Policy.of(settings))
    attempted = 0
    try:
        while (count := await dispatcher.run_once()) > 0:
            attempted += count
            if count < BATCH:
                break
    finally:
        await dispatcher.aclose()
        await database.dispose()
    return attempted


def run_in_thread(settings: Settings) -> None:
    """The serving process's dispatcher (``metadock serve``): one per node, in its own thread and event loop, so
    however many workers serve, one dispatcher per node sends."""
    import threading

    async def run() -> None:
        database = Database(settings.database_url, pool_size=2)
        dispatcher = Dispatcher(database, Policy.of(settings))
        await dispatcher.run_forever(settings.webhooks_poll_seconds)

    threading.Thread(target=lambda: asyncio.run(run()), name="metadock-webhooks", daemon=True).start()
