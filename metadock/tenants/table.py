"""Tenants: every other row belongs to one."""

from __future__ import annotations

from sqlalchemy import Column, Integer, String, Table

from metadock.kit.db import UTCDateTime, metadata

tenants = Table(
    "tenants",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("uuid", String(36), nullable=False, unique=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("created_at", UTCDateTime(), nullable=False),
    sqlite_autoincrement=True,
)
