"""PostgreSQL: payload_metadata range-partitioned by id (ids follow time), so retention drops whole partitions

The existing table is converted in place: a partitioned ``payload_metadata_partitioned`` is created with partitions
of ``WIDTH`` ids covering every id handed out so far and ``AHEAD`` more, plus a DEFAULT partition (the safety net:
a row whose id no partition covers lands there instead of failing); the rows are copied in id-range batches; the
old table is dropped and the new one takes its name, its constraint and index names and its id sequence (ids go
on where they were). The primary key stays ``id``: a lookup by id reads one partition.

The old table is locked in EXCLUSIVE mode for the whole conversion: reads go on, writes (captures, deletes) wait
until it commits. It is not an online migration (README, "Partitioned payload table": ~37 s per million rows on a loaded
2-core machine).
Later partitions are made by ``metadock.payloads.partitions.ensure_partitions`` (startup, ``payloads prune`` and
``serve --prune-every``), with the configured width.

SQLite: nothing changes.

Revision ID: 0011
Revises: 0008
Create Date: 2026-11-29
"""

from __future__ import annotations

from typing import Any

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

TABLE = "payload_metadata"
WIDTH = 1_000_000  # ids per partition made here; later ones follow METADOCK_PAYLOAD_PARTITION_IDS
AHEAD = 4  # empty partitions made above the highest id handed out
PARTITION_BY = " PARTITION BY RANGE (id)"
COPY_BATCH = 200_000  # ids per INSERT … SELECT: bounded work per statement
# (name, columns) as migration 0002 made them; the partitioned table's get the same names (created on the parent,
# PostgreSQL makes one per partition and names those itself).
INDEXES = (
    ("ix_payload_metadata_tenant_id_id", "tenant_id, id"),
    ("ix_payload_metadata_tenant_run", "tenant_id, flow_run_id, id"),
    ("ix_payload_metadata_tenant_step", "tenant_id, flow_step_id, id"),
    ("ix_payload_metadata_tenant_log", "tenant_id, flow_log_id, id"),
    ("ix_payload_metadata_tenant_created", "tenant_id, created_at, id"),
    ("ix_payload_metadata_prune", "dropped, created_at"),
    ("ix_payload_metadata_store_key", "store_key"),
)


def _run(template: str, **values: object) -> Any:
    """``template`` with names and integers made here put in (no input reaches this migration's statements)."""
    return op.get_bind().exec_driver_sql(template.format(table=TABLE, **values))


def _is_partitioned() -> bool:
    return bool(_run("SELECT relkind = 'p' FROM pg_class WHERE oid = '{table}'::regclass").scalar())


def _rebuild(*, partitioned: bool) -> None:
    """Copy ``payload_metadata`` into a new table (partitioned or not) and give the new one its name."""
    new = f"{TABLE}_{'partitioned' if partitioned else 'plain'}"
    sequence = _run("SELECT pg_get_serial_sequence('{table}', 'id')").scalar()
    if sequence is None:
        raise RuntimeError(f"{TABLE}.id has no owned sequence: cannot convert")
    _run("LOCK TABLE {table} IN EXCLUSIVE MODE")  # reads go on; writes wait for the commit
    top = max(
        int(_run("SELECT coalesce(max(id), 0) FROM {table}").scalar()),
        int(_run("SELECT last_value FROM {sequence}", sequence=sequence).scalar()),
    )
    # LIKE … INCLUDING DEFAULTS keeps id's nextval() of the same sequence and every NOT NULL.
    _run("CREATE TABLE {new} (LIKE {table} INCLUDING DEFAULTS){by}", new=new, by=PARTITION_BY if partitioned else "")
    if partitioned:
        for start in range(0, (top // WIDTH + 1 + AHEAD) * WIDTH, WIDTH):
            _run(
                "CREATE TABLE {table}_ids_{start} PARTITION OF {new} FOR VALUES FROM ({start}) TO ({end})",
                new=new,
                start=start,
                end=start + WIDTH,
            )
        _run("CREATE TABLE {table}_default PARTITION OF {new} DEFAULT", new=new)
    # Rows first, indexes after: building an index once is cheaper than maintaining it row by row.
    for start in range(0, top + 1, COPY_BATCH):
        _run(
            "INSERT INTO {new} SELECT * FROM {table} WHERE id >= {start} AND id < {end}",
            new=new,
            start=start,
            end=start + COPY_BATCH,
        )
    _run("ALTER SEQUENCE {sequence} OWNED BY NONE", sequence=sequence)  # dropping the old table would drop it
    _run("DROP TABLE {table}")
    _run("ALTER TABLE {new} RENAME TO {table}", new=new)
    _run("ALTER SEQUENCE {sequence} OWNED BY {table}.id", sequence=sequence)
    _run("ALTER TABLE {table} ADD CONSTRAINT pk_{table} PRIMARY KEY (id)")
    _run(
        "ALTER TABLE {table} ADD CONSTRAINT fk_{table}_tenant_id_tenants FOREIGN KEY (tenant_id) "
        "REFERENCES tenants (id) ON DELETE CASCADE"
    )
    for name, columns in INDEXES:
        _run("CREATE INDEX {name} ON {table} ({columns})", name=name, columns=columns)
    _run("ANALYZE {table}")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql" and not _is_partitioned():
        _rebuild(partitioned=True)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql" and _is_partitioned():
        _rebuild(partitioned=False)
