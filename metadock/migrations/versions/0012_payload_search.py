"""content search: payload_search, the index of captured text payloads' words (payloads/search_repository.py)

Additive: one new table, nothing existing changes; it stays empty unless ``METADOCK_CONTENT_SEARCH=1``.
SQLite: an FTS5 virtual table (rowid = payload id, ``tenant_id`` unindexed, no positions kept).
PostgreSQL: ``(payload_id, tenant_id, document tsvector)`` with a GIN index on ``document``.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import TSVECTOR

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("CREATE VIRTUAL TABLE payload_search USING fts5(body, tenant_id UNINDEXED, detail=none)")
        return
    op.create_table(
        "payload_search",
        sa.Column("payload_id", sa.BigInteger(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("document", TSVECTOR(), nullable=False),
        sa.PrimaryKeyConstraint("payload_id", name="pk_payload_search"),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_payload_search_tenant_id_tenants", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_payload_search_document", "payload_search", ["document"], postgresql_using="gin")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE payload_search")
        return
    op.drop_index("ix_payload_search_document", table_name="payload_search")
    op.drop_table("payload_search")
