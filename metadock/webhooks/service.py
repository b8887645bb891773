"""A tenant's webhook subscriptions: validated, created with a secret shown once, listed, removed, and their
delivery history."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Any

from metadock.kit.db import Connection
from metadock.kit.errors import Violation, not_found, validation_failed
from metadock.kit.ids import is_generated_id
from metadock.webhooks import signing, targets
from metadock.webhooks.outbox import EVENTS
from metadock.webhooks.repository import DELIVERIES_SHOWN, SubscriptionRepository
from metadock.webhooks.schemas import DeliveryOut, WebhookCreate, WebhookOut

RESOLVE_SECONDS = 5  # a name server that does not answer is a 422, not a hung request
MAX_SUBSCRIPTIONS = 20  # per tenant: each event is queued once per subscription, in the change's transaction


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def time_text(moment: dt.datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _out(row: Any) -> WebhookOut:
    return WebhookOut(
        id=row["id"], url=row["url"], events=row["events"].split(","), created_at=time_text(row["created_at"]) or ""
    )


def _delivery_out(row: Any) -> DeliveryOut:
    pending = row["status"] == "pending"
    return DeliveryOut(
        id=row["id"],
        event=row["event_type"],
        subject_id=row["subject_id"],
        occurred_at=time_text(row["occurred_at"]) or "",
        status=row["status"],
        attempts=row["attempts"],
        next_attempt_at=time_text(row["next_attempt_at"]) if pending else None,
        last_attempt_at=time_text(row["last_attempt_at"]),
        last_status=row["last_status"],
        last_error=row["last_error"],
        delivered_at=time_text(row["delivered_at"]),
    )


def _events(events: list[str], violations: list[Violation]) -> list[str]:
    if not events:
        violations.append(Violation("events", "The events field must have at least 1 item."))
    for index, event in enumerate(events):
        if event not in EVENTS:
            violations.append(Violation(f"events.{index}", f"The selected events.{index} is invalid."))
    return [event for event in EVENTS if event in events]  # one order, each once


class WebhookService:
    def __init__(self, connection: Connection, tenant_id: int, *, allow_private: bool) -> None:
        self.repository = SubscriptionRepository(connection, tenant_id)
        self.allow_private = allow_private

    async def create(self, body: WebhookCreate) -> WebhookOut:
        violations: list[Violation] = []
        events = _events(body.events, violations)
        try:
            if self.allow_private:
                targets.parse_target(body.url)  # any host, resolvable now or not
            else:
                async with asyncio.timeout(RESOLVE_SECONDS):
                    await targets.resolve(body.url, allow_private=False)
        except targets.TargetRefused as refused:
            violations.append(Violation("url", str(refused)))
        except TimeoutError:
            violations.append(Violation("url", "The url's host could not be resolved."))
        if not violations and await self.repository.count() >= MAX_SUBSCRIPTIONS:
            violations.append(Violation("url", f"A tenant may have at most {MAX_SUBSCRIPTIONS} webhooks."))
        if violations:
            raise validation_failed(violations, status=422)
        values: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "url": body.url,
            "events": ",".join(events),
            "secret": signing.new_secret(),
            "created_at": _now(),
        }
        await self.repository.insert(values, events)
        out = _out(values)
        out.secret = values["secret"]
        return out

    async def list_all(self) -> list[WebhookOut]:
        return [_out(row) for row in await self.repository.list_all()]

    async def get(self, subscription_id: str) -> WebhookOut:
        row = await self.repository.get(subscription_id) if is_generated_id(subscription_id) else None
        if row is None:
            raise not_found("No such webhook.")
        return _out(row)

    async def delete(self, subscription_id: str) -> None:
        if not is_generated_id(subscription_id) or not await self.repository.delete(subscription_id):
            raise not_found("No such webhook.")

    async def deliveries(
        self, subscription_id: str, *, before: int | None = None, limit: int = DELIVERIES_SHOWN
    ) -> list[DeliveryOut]:
        """Newest first; ``before`` (a delivery id) pages to older ones."""
        await self.get(subscription_id)  # 404 for another tenant's or a missing one
        rows = await self.repository.deliveries(subscription_id, before=before, limit=limit)
        return [_delivery_out(row) for row in rows]

    async def unsettled_counts(self) -> dict[str, dict[str, int]]:
        """Per webhook id, how many of its deliveries are ``pending`` (still being tried) and ``failed``."""
        counts: dict[str, dict[str, int]] = {}
        for row in await self.repository.unsettled_counts():
            counts.setdefault(row["subscription_id"], {"pending": 0, "failed": 0})[row["status"]] = int(row["count"])
        return counts
