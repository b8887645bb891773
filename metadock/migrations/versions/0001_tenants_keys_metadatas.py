"""tenants, api keys and metadatas

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from metadock.kit.db import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

json_value = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "tenants",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("uuid", sa.String(36), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_tenants"),
        sa.UniqueConstraint("uuid", name="uq_tenants_uuid"),
        sa.UniqueConstraint("name", name="uq_tenants_name"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("display_prefix", sa.String(16), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_api_keys"),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_api_keys_tenant_id_tenants", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("key_hash", name="uq_api_keys_key_hash"),
    )
    op.create_index("ix_api_keys_tenant_id", "api_keys", ["tenant_id"])
    op.create_table(
        "metadatas",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(36), nullable=False),
        sa.Column("owner", sa.String(255), nullable=False),
        sa.Column("owner_uuid", sa.String(36), nullable=True),
        sa.Column("title", json_value, nullable=False),
        sa.Column("title_search", sa.Text(), nullable=False),
        sa.Column("slug", sa.String(255), nullable=False),
        sa.Column("type", sa.String(255), nullable=False),
        sa.Column("data", json_value, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_metadatas"),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_metadatas_tenant_id_tenants", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("tenant_id", "uuid", name="uq_metadatas_tenant_id_uuid"),
        sa.UniqueConstraint("tenant_id", "slug", name="uq_metadatas_tenant_id_slug"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_metadatas_tenant_type", "metadatas", ["tenant_id", "type", "id"])
    op.create_index("ix_metadatas_tenant_owner", "metadatas", ["tenant_id", "owner", "id"])
    op.create_index("ix_metadatas_tenant_created", "metadatas", ["tenant_id", "created_at", "id"])
    op.create_index("ix_metadatas_tenant_updated", "metadatas", ["tenant_id", "updated_at", "id"])


def downgrade() -> None:
    op.drop_table("metadatas")
    op.drop_table("api_keys")
    op.drop_table("tenants")
