"""payload counts per tenant

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "payload_counts",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", name="pk_payload_counts"),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_payload_counts_tenant_id_tenants", ondelete="CASCADE"
        ),
    )
    op.execute(
        "INSERT INTO payload_counts (tenant_id, total) "
        "SELECT tenant_id, count(*) FROM payload_metadata GROUP BY tenant_id"
    )


def downgrade() -> None:
    op.drop_table("payload_counts")
