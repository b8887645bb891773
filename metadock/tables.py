"""Every table, imported in one place so the migrations' autogenerate sees the whole schema."""

from metadock.api_keys.table import api_keys
from metadock.kit.db import metadata
from metadock.metadatas.table import metadatas
from metadock.payloads.table import payload_counts, payload_metadata
from metadock.payloads.tag_tables import payload_tags, tag_rules
from metadock.tenants.table import tenants
from metadock.users.tables import login_failures, revoked_tokens, users
from metadock.webhooks.table import webhook_deliveries, webhook_subscription_events, webhook_subscriptions

__all__ = [
    "api_keys",
    "login_failures",
    "metadata",
    "metadatas",
    "payload_counts",
    "payload_metadata",
    "payload_tags",
    "revoked_tokens",
    "tag_rules",
    "tenants",
    "users",
    "webhook_deliveries",
    "webhook_subscription_events",
    "webhook_subscriptions",
]
