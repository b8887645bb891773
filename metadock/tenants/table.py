"""Tenants: every other row belongs to one."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Integer, String, Table, true

from metadock.kit.db import UTCDateTime, metadata

tenants = Table(
    "tenants",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("uuid", String(36), nullable=False, unique=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("created_at", UTCDateTime(), nullable=False),
    # Content search for this tenant, when the deployment runs with it (METADOCK_CONTENT_SEARCH=1; payloads/search.py).
    Column("content_search", Boolean, nullable=False, server_default=true()),
    sqlite_autoincrement=True,
)
