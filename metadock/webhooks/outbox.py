"""The transactional outbox: a change queues its event's deliveries in its own transaction, one row per subscription
of its tenant to that event, so a rolled-back change queues nothing and a committed one cannot lose its event.

The rows come from ``webhook_subscription_events`` in the same statement (``INSERT … SELECT``): a tenant with no
subscription to the event pays one primary-key probe that finds nothing, and no row is written. A capture on
PostgreSQL folds this statement into its own (``payloads/repository.py``), so it stays one round trip.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import msgspec
from sqlalchemy import BigInteger, FromClause, Integer, String, Text, bindparam, insert, literal, null, select, true
from sqlalchemy.sql.elements import ColumnElement

from metadock.kit.db import Connection, UTCDateTime
from metadock.kit.timestamps import _laravel_text
from metadock.webhooks.table import webhook_deliveries, webhook_subscription_events

PAYLOAD_CAPTURED: Final = "payload.captured"
PAYLOAD_DROPPED: Final = "payload.dropped"
METADATA_CREATED: Final = "metadata.created"
METADATA_UPDATED: Final = "metadata.updated"
METADATA_DELETED: Final = "metadata.deleted"
EVENTS: Final = (PAYLOAD_CAPTURED, PAYLOAD_DROPPED, METADATA_CREATED, METADATA_UPDATED, METADATA_DELETED)

_e = webhook_subscription_events.c
_QUEUED = [
    "tenant_id",
    "subscription_id",
    "event_type",
    "subject_id",
    "data",
    "occurred_at",
    "status",
    "attempts",
    "next_attempt_at",
]
# The parameters every queueing statement takes (the tenant's is the caller's: see ``queue_select``).
_EVENT_TYPE = bindparam("event_type", type_=String())
_EVENT_DATA = bindparam("event_data", type_=Text())
_OCCURRED_AT = bindparam("event_occurred_at", type_=UTCDateTime())


def queue_select(tenant: ColumnElement[Any], subject: ColumnElement[Any] | None = None) -> Any:
    """The delivery rows of one event: one per subscription of ``tenant`` to ``event_type`` (none without)."""
    return select(
        _e.tenant_id,
        _e.subscription_id,
        _EVENT_TYPE,
        null().cast(BigInteger()) if subject is None else subject,
        _EVENT_DATA,
        _OCCURRED_AT,
        literal("pending", String()),
        literal(0, Integer()),
        _OCCURRED_AT,
    ).where(_e.tenant_id == tenant, _e.event == _EVENT_TYPE)


def queue_statement(
    tenant: ColumnElement[Any], subject: ColumnElement[Any] | None = None, source: FromClause | None = None
) -> Any:
    """The ``INSERT … SELECT`` queueing one event; ``source`` is the row the ``subject`` id comes from (a CTE of
    the inserted record), joined to the subscriptions on nothing: one row of it, times its subscriptions."""
    rows = queue_select(tenant, subject)
    if source is not None:
        rows = rows.select_from(webhook_subscription_events.join(source, true()))
    return insert(webhook_deliveries).from_select(_QUEUED, rows)


_QUEUE = queue_statement(bindparam("event_tenant_id", type_=Integer()))


_QUEUE_WITH_SUBJECT = queue_statement(
    bindparam("event_tenant_id", type_=Integer()), bindparam("event_subject_id", type_=BigInteger())
)


async def queue(connection: Connection, tenant_id: int, subject_id: int, event: Mapping[str, Any]) -> None:
    """Queue an event built by :func:`parameters` whose record's id is ``subject_id`` (a capture on SQLite)."""
    await connection.write(_QUEUE_WITH_SUBJECT, {"event_tenant_id": tenant_id, "event_subject_id": subject_id, **event})


def parameters(event_type: str, data: Mapping[str, Any], occurred_at: dt.datetime) -> dict[str, Any]:
    return {
        "event_type": event_type,
        "event_data": msgspec.json.encode(data).decode(),
        "event_occurred_at": occurred_at,
    }


async def emit(
    connection: Connection, tenant_id: int, event_type: str, data: Mapping[str, Any], occurred_at: dt.datetime
) -> None:
    """Queue ``event_type`` for every subscription of the tenant to it, in the caller's transaction."""
    await connection.write(_QUEUE, {"event_tenant_id": tenant_id, **parameters(event_type, data, occurred_at)})


@dataclass(frozen=True, slots=True)
class Event:
    tenant_id: int
    event_type: str
    data: Mapping[str, Any]
    occurred_at: dt.datetime


_SUBSCRIBED_TENANTS = select(_e.tenant_id).where(
    _e.event == bindparam("event_type"), _e.tenant_id.in_(bindparam("tenant_ids", expanding=True))
)


async def emit_many(connection: Connection, events: Iterable[Event]) -> None:
    """Queue a batch of events (a retention batch across tenants): the tenants subscribed to each type are looked
    up once, so a batch of a tenant without subscriptions writes nothing."""
    by_type: dict[str, list[Event]] = {}
    for event in events:
        by_type.setdefault(event.event_type, []).append(event)
    for event_type, batch in by_type.items():
        tenants = sorted({event.tenant_id for event in batch})
        parameters_ = {"event_type": event_type, "tenant_ids": tenants}
        subscribed = set(await connection.scalars(_SUBSCRIBED_TENANTS, parameters_))
        for event in batch:
            if event.tenant_id in subscribed:
                await emit(connection, event.tenant_id, event_type, event.data, event.occurred_at)


def payload_event(values: Mapping[str, Any], record_id: int | None = None) -> tuple[str, dict[str, Any]]:
    """The event a payload record's values make (captured, or dropped with its reason) and its ``data``: the record
    as ``GET /api/v1/payload-metadata/{id}`` shows it, plus ``dropped_reason``; ``id`` only when known (a capture
    on PostgreSQL draws it in the statement that queues the event: the dispatcher adds it from ``subject_id``)."""
    data: dict[str, Any] = {} if record_id is None else {"id": record_id}
    data.update(
        created_at=_laravel_text(values["created_at"]),
        updated_at=_laravel_text(values["updated_at"]),
        # Nullable columns an insert may leave out (the row then holds NULL).
        flow_version_id=values.get("flow_version_id"),
        flow_step_id=values["flow_step_id"],
        flow_run_id=values["flow_run_id"],
        payload_store_reference=values["store_key"],
        payload_size=str(values["size"]),
        dropped="1" if values["dropped"] else "0",
        flow_log_id=values.get("flow_log_id"),
        dropped_reason=values.get("dropped_reason"),
    )
    return (PAYLOAD_DROPPED if values["dropped"] else PAYLOAD_CAPTURED), data
