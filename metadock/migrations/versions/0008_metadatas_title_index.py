"""a trigram index over metadatas.title_search, for the partial `title` filter

SQLite: an FTS5 table with the trigram tokenizer over ``title_search`` (external content: it stores only the index,
the text stays in ``metadatas``), kept in step by triggers in the same transaction as every insert, update and
delete, and filled from the existing rows here. ``detail=none`` keeps no positions: a term is looked up as the AND of
its trigrams, a superset of the rows that contain it, and the repository keeps its exact ``LIKE`` on top, so the
answer is the scan's. A table rebuilt by a later batch migration loses these triggers: such a migration must
re-create them (and run ``'rebuild'``).

PostgreSQL: a GIN index with ``pg_trgm``'s ``gin_trgm_ops`` over ``title_search``, which PostgreSQL uses for
``LIKE '%term%'`` itself (and rechecks). Creating the extension needs a role that may (a superuser, or since
PostgreSQL 13 the database's owner, pg_trgm being a trusted extension). Without it the migration leaves a warning
and no index, and the filter keeps its answers by scanning; an administrator can add both later (README, "Title
search").

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

FTS = "metadatas_title_fts"
TRGM_INDEX = "ix_metadatas_title_trgm"
log = logging.getLogger("alembic.runtime.migration")

_SQLITE_UP = [
    "CREATE VIRTUAL TABLE metadatas_title_fts USING fts5(title_search, content='metadatas', content_rowid='id', "
    "tokenize='trigram case_sensitive 0', detail='none')",
    "CREATE TRIGGER metadatas_title_fts_insert AFTER INSERT ON metadatas BEGIN "
    "INSERT INTO metadatas_title_fts(rowid, title_search) VALUES (new.id, new.title_search); END",
    # External content: the index forgets a row by being told the exact text it indexed, which only the old row has.
    "CREATE TRIGGER metadatas_title_fts_delete AFTER DELETE ON metadatas BEGIN "
    "INSERT INTO metadatas_title_fts(metadatas_title_fts, rowid, title_search) VALUES ('delete', old.id, old.title_search); END",
    "CREATE TRIGGER metadatas_title_fts_update AFTER UPDATE OF title_search ON metadatas BEGIN "
    "INSERT INTO metadatas_title_fts(metadatas_title_fts, rowid, title_search) VALUES ('delete', old.id, old.title_search); "
    "INSERT INTO metadatas_title_fts(rowid, title_search) VALUES (new.id, new.title_search); END",
    "INSERT INTO metadatas_title_fts(metadatas_title_fts) VALUES ('rebuild')",  # the rows that exist already
]


def _postgres_extension(connection: sa.Connection) -> bool:
    """Whether pg_trgm is there or could be created here; a refusal is rolled back to a savepoint, not the upgrade."""
    try:
        with connection.begin_nested():
            connection.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except sa.exc.DBAPIError as error:
        log.warning(
            "pg_trgm could not be created (%s): the title filter scans instead of using a trigram index. "
            "As a privileged role run: CREATE EXTENSION pg_trgm; CREATE INDEX CONCURRENTLY %s ON metadatas "
            "USING gin (title_search gin_trgm_ops);",
            str(error.orig).strip().splitlines()[0],
            TRGM_INDEX,
        )
        return False
    return True


def upgrade() -> None:
    connection = op.get_bind()
    if connection.dialect.name == "sqlite":
        for statement in _SQLITE_UP:
            op.execute(statement)
    elif connection.dialect.name == "postgresql" and _postgres_extension(connection):
        op.execute(f"CREATE INDEX IF NOT EXISTS {TRGM_INDEX} ON metadatas USING gin (title_search gin_trgm_ops)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for trigger in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS {FTS}_{trigger}")
        op.execute(f"DROP TABLE IF EXISTS {FTS}")
    else:
        op.execute(f"DROP INDEX IF EXISTS {TRGM_INDEX}")  # the extension may serve others: it stays
