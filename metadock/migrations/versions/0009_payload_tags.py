"""business keys: payload_tags (a record's tags) and tag_rules (a tenant's extraction rules)

Additive: two new tables, nothing existing changes. ``payload_tags`` is keyed (tenant_id, name, value, payload_id),
the index a tag filter reads; its rows are deleted with their record by the repository (no foreign key to
payload_metadata, see ``payloads/tag_tables.py``).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from metadock.kit.db import UTCDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "payload_tags",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(40), nullable=False),
        sa.Column("value", sa.String(200), nullable=False),
        sa.Column("payload_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "name", "value", "payload_id", name="pk_payload_tags"),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_payload_tags_tenant_id_tenants", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_payload_tags_payload_id", "payload_tags", ["payload_id"])
    op.create_table(
        "tag_rules",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(40), nullable=False),
        sa.Column("content_type", sa.String(255), nullable=False),
        sa.Column("pointer", sa.String(1000), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_tag_rules"),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_tag_rules_tenant_id_tenants", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("tenant_id", "name", "content_type", name="uq_tag_rules_tenant_id_name_content_type"),
        sqlite_autoincrement=True,
    )


def downgrade() -> None:
    op.drop_table("tag_rules")
    op.drop_index("ix_payload_tags_payload_id", table_name="payload_tags")
    op.drop_table("payload_tags")
