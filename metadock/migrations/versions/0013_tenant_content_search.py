"""tenants.content_search: content search switched on or off per tenant (payloads/search.py)

Additive: one column, true for every tenant (existing and new), so a deployment that runs with
``METADOCK_CONTENT_SEARCH=1`` keeps indexing and searching for all its tenants until an operator switches one off
(``metadock tenants content-search <uuid> off``). With the deployment's switch off the column changes nothing.

Revision ID: 0013
Revises: 0012 (the lead re-chains it after 0013)
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("tenants", sa.Column("content_search", sa.Boolean(), nullable=False, server_default=sa.true()))


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        # SQLite's own DROP COLUMN (3.35+), not a batch copy of the table: recreating tenants with foreign keys on
        # would cascade-delete every row that refers to a tenant (keys, users, records).
        op.execute("ALTER TABLE tenants DROP COLUMN content_search")
        return
    op.drop_column("tenants", "content_search")
