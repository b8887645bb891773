"""Webhook subscriptions, the events each one wants, and the outbox of deliveries (one row per event and
subscription, written in the transaction of the change it reports)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, ForeignKey, Index, Integer, PrimaryKeyConstraint, String, Table, Text

from metadock.kit.db import UTCDateTime, metadata
from metadock.payloads.table import BigId
from metadock.tenants.table import tenants  # noqa: F401 - the foreign key needs it in the metadata

webhook_subscriptions = Table(
    "webhook_subscriptions",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("tenant_id", Integer, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("url", String(2048), nullable=False),
    Column("events", String(255), nullable=False),  # comma-separated, as the API shows them
    # Kept as issued: Standard Webhooks secrets are symmetric, signing needs the key itself (README, "Webhooks").
    Column("secret", String(128), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

# Which subscriptions want which event: a change looks up (tenant, event) here, in the statement that queues its
# deliveries, so a tenant without subscriptions pays one index probe that finds nothing.
webhook_subscription_events = Table(
    "webhook_subscription_events",
    metadata,
    Column("tenant_id", Integer, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("event", String(32), nullable=False),
    Column("subscription_id", String(36), ForeignKey("webhook_subscriptions.id", ondelete="CASCADE"), nullable=False),
    PrimaryKeyConstraint("tenant_id", "event", "subscription_id"),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("tenant_id", Integer, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("subscription_id", String(36), ForeignKey("webhook_subscriptions.id", ondelete="CASCADE"), nullable=False),
    Column("event_type", String(32), nullable=False),
    # The record's id when the change drew it in the same statement (a capture); ``data`` then lacks ``id``.
    Column("subject_id", BigInteger, nullable=True),
    Column("data", Text, nullable=False),  # the JSON of the record as the API showed it
    Column("occurred_at", UTCDateTime(), nullable=False),
    Column("status", String(16), nullable=False),  # pending, delivered, failed
    Column("attempts", Integer, nullable=False),
    # When the next attempt is due; a claimed row is pushed past its lease, so a delivery cut short by a crash is
    # retried once the lease ends (at least once), and no two dispatchers send it at the same time.
    Column("next_attempt_at", UTCDateTime(), nullable=False),
    Column("last_attempt_at", UTCDateTime(), nullable=True),
    Column("last_status", Integer, nullable=True),
    Column("last_error", String(255), nullable=True),
    Column("delivered_at", UTCDateTime(), nullable=True),
    Index("ix_webhook_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
    Index("ix_webhook_deliveries_subscription_id_id", "subscription_id", "id"),
    sqlite_autoincrement=True,
)
