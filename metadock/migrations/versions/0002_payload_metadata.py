"""payload metadata

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from metadock.kit.db import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

big_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "payload_metadata",
        sa.Column("id", big_id, autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("flow_run_id", sa.BigInteger(), nullable=False),
        sa.Column("flow_step_id", sa.BigInteger(), nullable=False),
        sa.Column("flow_version_id", sa.BigInteger(), nullable=True),
        sa.Column("flow_log_id", sa.BigInteger(), nullable=True),
        sa.Column("store_key", sa.String(80), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=True),
        sa.Column("content_type", sa.String(255), nullable=False),
        sa.Column("dropped", sa.Boolean(), nullable=False),
        sa.Column("dropped_reason", sa.String(16), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("stored_at", UTCDateTime(), nullable=True),
        sa.Column("expires_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_payload_metadata"),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_payload_metadata_tenant_id_tenants", ondelete="CASCADE"
        ),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_payload_metadata_tenant_id_id", "payload_metadata", ["tenant_id", "id"])
    op.create_index("ix_payload_metadata_tenant_run", "payload_metadata", ["tenant_id", "flow_run_id", "id"])
    op.create_index("ix_payload_metadata_tenant_step", "payload_metadata", ["tenant_id", "flow_step_id", "id"])
    op.create_index("ix_payload_metadata_tenant_log", "payload_metadata", ["tenant_id", "flow_log_id", "id"])
    op.create_index("ix_payload_metadata_tenant_created", "payload_metadata", ["tenant_id", "created_at", "id"])
    op.create_index("ix_payload_metadata_prune", "payload_metadata", ["dropped", "created_at"])
    op.create_index("ix_payload_metadata_store_key", "payload_metadata", ["store_key"])


def downgrade() -> None:
    op.drop_table("payload_metadata")
