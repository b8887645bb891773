"""console_form_tokens: the console's single-use create-form tokens that have created something

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from metadock.kit.db import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "console_form_tokens",
        sa.Column("token", sa.String(64), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("used_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("token", name="pk_console_form_tokens"),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_console_form_tokens_tenant_id_tenants", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_console_form_tokens_tenant_id_used_at", "console_form_tokens", ["tenant_id", "used_at"])


def downgrade() -> None:
    op.drop_index("ix_console_form_tokens_tenant_id_used_at", table_name="console_form_tokens")
    op.drop_table("console_form_tokens")
