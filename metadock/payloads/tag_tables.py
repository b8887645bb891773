"""The tables of business keys (tags): each record's tags, and each tenant's rules that extract them from payloads."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    UniqueConstraint,
)

from metadock.kit.db import UTCDateTime, metadata
from metadock.payloads.table import BigId

MAX_NAME = 40
MAX_VALUE = 200
MAX_POINTER = 1000

# One row per tag of a record. The key leads with (tenant, name, value), so ``filter[tag.<name>]=<value>`` is one
# index range whose record ids come out in order, as ``filter[flow_run_id]`` reads its index. No foreign key to
# payload_metadata: the repository deletes a record's tags in the transaction that deletes the record (and a
# partitioned payload_metadata could not be referenced by id alone).
payload_tags = Table(
    "payload_tags",
    metadata,
    Column("tenant_id", Integer, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(MAX_NAME), nullable=False),
    Column("value", String(MAX_VALUE), nullable=False),
    Column("payload_id", BigInteger, nullable=False),
    PrimaryKeyConstraint("tenant_id", "name", "value", "payload_id"),
    # A record's tags (its /meta, its deletion).
    Index("ix_payload_tags_payload_id", "payload_id"),
)

tag_rules = Table(
    "tag_rules",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("tenant_id", Integer, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(MAX_NAME), nullable=False),
    Column("content_type", String(255), nullable=False),
    Column("pointer", String(MAX_POINTER), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    UniqueConstraint("tenant_id", "name", "content_type"),
    sqlite_autoincrement=True,
)
