"""Users, their logged-out tokens and failed logins."""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Integer, String, Table

from metadock.kit.db import UTCDateTime, metadata
from metadock.tenants.table import tenants  # noqa: F401 - the users' foreign key needs it in the metadata

users = Table(
    "users",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("tenant_id", Integer, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False, index=True),
    # Stored case-folded: one address, one user, however it is typed.
    Column("email", String(320), nullable=False, unique=True),
    Column("role", String(16), nullable=False),
    Column("password_hash", String(255), nullable=False),  # Argon2id, PHC string format
    Column("disabled_at", UTCDateTime(), nullable=True),
    # Bumped when the user is disabled: tokens carry the generation they were issued in ("gen"), so tokens from
    # before a disable stay dead after the user is enabled again.
    Column("token_generation", Integer, nullable=False, server_default="0"),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

# Logged-out tokens, until they would have expired anyway.
revoked_tokens = Table(
    "revoked_tokens",
    metadata,
    Column("jti", String(64), primary_key=True),
    Column("expires_at", UTCDateTime(), nullable=False, index=True),
)

# Failed logins per subject ("user:<email>" or "ip:<address>"), shared by every worker through the database.
login_failures = Table(
    "login_failures",
    metadata,
    Column("subject", String(400), primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("window_started_at", UTCDateTime(), nullable=False),
    Column("blocked_until", UTCDateTime(), nullable=True),
)
