"""API keys: stored as a hash, each of one tenant and one role."""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Integer, String, Table

from metadock.kit.db import UTCDateTime, metadata
from metadock.tenants.table import tenants  # noqa: F401 - the foreign key needs it in the metadata

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("tenant_id", Integer, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("name", String(255), nullable=False),
    Column("role", String(16), nullable=False),
    # sha256 of the whole key: keys carry 256 random bits, so a fast hash is safe and keeps each request cheap.
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("display_prefix", String(16), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("revoked_at", UTCDateTime(), nullable=True),
)
