from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Index, Integer, String, Table, Text, UniqueConstraint, column, table

from metadock.kit.db import JsonValue, UTCDateTime, metadata

metadatas = Table(
    "metadatas",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("tenant_id", Integer, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("uuid", String(36), nullable=False),
    Column("owner", String(255), nullable=False),
    Column("owner_uuid", String(36), nullable=True),
    Column("title", JsonValue, nullable=False),
    # The title's translations, case-folded and joined: what the partial `title` filter and `order[title]` read.
    Column("title_search", Text, nullable=False),
    Column("slug", String(255), nullable=False),
    Column("type", String(255), nullable=False),
    Column("data", JsonValue, nullable=False),
    Column("version", Integer, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    UniqueConstraint("tenant_id", "uuid"),
    UniqueConstraint("tenant_id", "slug"),
    Index("ix_metadatas_tenant_type", "tenant_id", "type", "id"),
    Index("ix_metadatas_tenant_owner", "tenant_id", "owner", "id"),
    Index("ix_metadatas_tenant_created", "tenant_id", "created_at", "id"),
    Index("ix_metadatas_tenant_updated", "tenant_id", "updated_at", "id"),
    sqlite_autoincrement=True,
)

# SQLite's trigram index of `title_search` (FTS5, migration 0006): its rowid is the metadata's id, and a MATCH is
# written against the column named like the table. Not in `metadata`: PostgreSQL indexes the column itself instead.
metadatas_title_fts = table("metadatas_title_fts", column("rowid", Integer), column("metadatas_title_fts", Text))
