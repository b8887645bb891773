"""All SQL about webhook subscriptions and their deliveries. A tenant's are reached from the tenant-scoped base
statement; the dispatcher's claim and its results cross tenants, and are named for it."""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from sqlalchemy import Integer, bindparam, delete, func, insert, select, update

from metadock.kit.db import Connection, UTCDateTime
from metadock.kit.repository import TenantScopedRepository
from metadock.webhooks.table import webhook_deliveries, webhook_subscription_events, webhook_subscriptions

_s = webhook_subscriptions.c
_d = webhook_deliveries.c
_SUBSCRIPTION = (_s.id, _s.url, _s.events, _s.created_at)
_DELIVERY = (
    _d.id,
    _d.event_type,
    _d.subject_id,
    _d.occurred_at,
    _d.status,
    _d.attempts,
    _d.next_attempt_at,
    _d.last_attempt_at,
    _d.last_status,
    _d.last_error,
    _d.delivered_at,
)
DELIVERIES_SHOWN = 100


class SubscriptionRepository(TenantScopedRepository):
    table: ClassVar = webhook_subscriptions
    columns: ClassVar = {"id": _s.id, "created_at": _s.created_at}

    async def count(self) -> int:
        return int(await self.connection.scalar(self._select(func.count())))

    async def insert(self, values: dict[str, Any], events: list[str]) -> None:
        await self.connection.write(insert(webhook_subscriptions).values(tenant_id=self.tenant_id, **values))
        rows = [{"tenant_id": self.tenant_id, "event": event, "subscription_id": values["id"]} for event in events]
        await self.connection.write(insert(webhook_subscription_events).values(rows))

    async def list_all(self) -> list[Any]:
        return await self.connection.fetch_all(self._select(*_SUBSCRIPTION).order_by(_s.created_at, _s.id))

    async def get(self, subscription_id: str) -> Any | None:
        return await self.connection.fetch_one(self._select(*_SUBSCRIPTION).where(_s.id == subscription_id))

    async def delete(self, subscription_id: str) -> bool:
        """The subscription, the events it wants and its deliveries (pending ones are not sent any more)."""
        for table in (webhook_deliveries, webhook_subscription_events):
            await self.connection.write(
                delete(table).where(table.c.tenant_id == self.tenant_id, table.c.subscription_id == subscription_id)
            )
        return bool(await self.connection.write(self._delete().where(_s.id == subscription_id)))

    async def deliveries(
        self, subscription_id: str, *, before: int | None = None, limit: int = DELIVERIES_SHOWN
    ) -> list[Any]:
        """The newest deliveries of one subscription of this tenant, newest first; with ``before``, those older
        than that delivery (a keyset page: the (subscription_id, id) index, however long the history)."""
        statement = select(*_DELIVERY).where(_d.tenant_id == self.tenant_id, _d.subscription_id == subscription_id)
        if before is not None:
            statement = statement.where(_d.id < before)
        return await self.connection.fetch_all(statement.order_by(_d.id.desc()).limit(limit))

    async def unsettled_counts(self) -> list[Any]:
        """(subscription_id, status, count) of this tenant's pending and failed deliveries: few rows, found through
        the (status, next_attempt_at) index, however many were delivered."""
        statement = (
            select(_d.subscription_id, _d.status, func.count().label("count"))
            .where(_d.tenant_id == self.tenant_id, _d.status.in_(("pending", "failed")))
            .group_by(_d.subscription_id, _d.status)
        )
        return await self.connection.fetch_all(statement)


def _claim_statement() -> Any:
    """Up to ``limit`` due deliveries, taken by pushing their next attempt past a lease: the claim commits before
    any request is sent, so a dispatcher that dies mid-delivery leaves them to be retried when the lease ends, and
    two dispatchers (workers, nodes) never take the same row. PostgreSQL skips rows another claim holds (``FOR
    UPDATE SKIP LOCKED``); SQLite's single writer serialises the claims, and the UPDATE re-checks the row."""
    now = bindparam("now", type_=UTCDateTime())
    due = (_d.status == "pending") & (_d.next_attempt_at <= now)
    batch = (
        select(_d.id)
        .where(due)
        .order_by(_d.next_attempt_at, _d.id)
        .limit(bindparam("limit", type_=Integer()))
        .with_for_update(skip_locked=True)
    )
    return (
        update(webhook_deliveries)
        .where(_d.id.in_(batch.scalar_subquery()), due)
        .values(
            next_attempt_at=bindparam("lease_until", type_=UTCDateTime()), attempts=_d.attempts + 1, last_attempt_at=now
        )
        .returning(
            _d.id,
            _d.tenant_id,
            _d.subscription_id,
            _d.event_type,
            _d.subject_id,
            _d.data,
            _d.occurred_at,
            _d.attempts,
        )
    )


_CLAIM = _claim_statement()


class DeliveryRepository:
    """The dispatcher's queries, across every tenant."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    async def claim(self, now: dt.datetime, lease_until: dt.datetime, limit: int) -> list[Any]:
        return await self.connection.fetch_all(_CLAIM, {"now": now, "lease_until": lease_until, "limit": limit})

    async def subscriptions(self, subscription_ids: set[str]) -> dict[str, Any]:
        statement = select(_s.id, _s.url, _s.secret).where(_s.id.in_(sorted(subscription_ids)))
        return {row["id"]: row for row in await self.connection.fetch_all(statement)}

    async def finish(self, delivery_id: int, attempts: int, values: dict[str, Any]) -> None:
        """Record an attempt's outcome, unless the row was claimed again meanwhile (its lease ran out): the later
        claim's outcome is the one kept."""
        statement = update(webhook_deliveries).where(
            _d.id == delivery_id, _d.attempts == attempts, _d.status == "pending"
        )
        await self.connection.write(statement.values(**values))
