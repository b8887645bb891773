"""All SQL of content search (``payloads/search.py``). The index is ``payload_search`` (migration 0012), one entry
per indexed record, shaped per database:

- SQLite: an FTS5 table ``payload_search(body, tenant_id UNINDEXED, detail=none)`` whose rowid is the payload id.
  ``detail=none`` keeps no positions (the smallest index; a query is a set of required words, no phrases). It is a
  regular (content-storing) FTS5 table: SQLite 3.40 has no ``contentless_delete``, and a contentless table can
  only forget an entry given its original text, which the index would no longer have.
- PostgreSQL: ``payload_search(payload_id primary key, tenant_id, document tsvector)`` with a GIN index on
  ``document``; the tsvector is ``strip(to_tsvector('simple', text))`` (no positions, as on SQLite; ``simple``: no
  language's stemming or stop words, so an order number or a name is found as written, in any language).

The match is scoped to the list's tenant inside the subquery, as well as by the list's base statement. No foreign
key to payload_metadata (partitioned on PostgreSQL): entries go with their record's bytes or their record, in the
transaction that removes them, and before a partition is dropped (:func:`remove_search_between`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

from sqlalchemy import (
    BigInteger,
    Integer,
    String,
    bindparam,
    column,
    func,
    literal_column,
    select,
    table,
    text,
    true,
)
from sqlalchemy.dialects.postgresql import TSVECTOR

from metadock.kit.db import Connection
from metadock.tenants.table import tenants

TABLE: Final = "payload_search"
_SAVEPOINT: Final = "payload_search_entry"

# The two shapes of the one table, as lightweight constructs (an FTS5 table is no SQLAlchemy Table).
_fts = table(TABLE, column("rowid", BigInteger()), column("tenant_id", Integer()), column("body"))
_pg = table(TABLE, column("payload_id", BigInteger()), column("tenant_id", Integer()), column("document", TSVECTOR()))


def _entry_insert(dialect: str) -> Any:
    """The entry, only if the tenant still has content search on when the statement runs: the principal's switch was
    read when the request authenticated, maybe minutes before a large body finished streaming, and a tenant switched
    off since must not get entries after its purge began (:func:`remove_search_of_tenant`). Same statement, no round
    trip of its own (a primary key read of the tenant's row)."""
    tenant = tenants.c.id.label("tenant_id")
    body: Any
    if dialect == "sqlite":
        target, key, body = _fts, "rowid", bindparam("body", type_=String())
        columns = ["rowid", "tenant_id", "body"]
    else:
        target, key = _pg, "payload_id"
        body = func.strip(func.to_tsvector(literal_column("'simple'::regconfig"), bindparam("body", type_=String())))
        columns = ["payload_id", "tenant_id", "document"]
    values = select(bindparam("payload_id", type_=BigInteger()).label(key), tenant, body).where(
        tenants.c.id == bindparam("tenant_id"), tenants.c.content_search.is_(true())
    )
    return target.insert().from_select(columns, values)


_INSERT = {dialect: _entry_insert(dialect) for dialect in ("sqlite", "postgresql")}


def _key(dialect: str) -> Any:
    return _fts.c.rowid if dialect == "sqlite" else _pg.c.payload_id


async def add_search_entry(connection: Connection, tenant_id: int, payload_id: int, body: str) -> None:
    """Index ``body`` as the record's text, unless the tenant's content search was switched off meanwhile. An error
    (say, PostgreSQL's limit of 1 MB of tsvector) undoes this entry
    alone and is raised for the caller to log, the record's transaction going on: on PostgreSQL, where an error
    aborts the whole transaction, through a savepoint; on SQLite a failed statement undoes only itself already (and
    a SAVEPOINT there, not a write, would make the connection restart the transaction as a writer, kit/db.py)."""
    parameters = {"payload_id": payload_id, "tenant_id": tenant_id, "body": body}
    if connection.dialect_name == "sqlite":
        await connection.write(_INSERT["sqlite"], parameters)
        return
    await connection.execute(text(f"SAVEPOINT {_SAVEPOINT}"))
    try:
        await connection.write(_INSERT["postgresql"], parameters)
    except BaseException:
        await connection.execute(text(f"ROLLBACK TO SAVEPOINT {_SAVEPOINT}"))
        raise
    await connection.execute(text(f"RELEASE SAVEPOINT {_SAVEPOINT}"))


def search_clause(dialect: str, record_id: Any, words: Any) -> Any:
    """``record_id`` is of a record of the list's tenant (``scope_tenant_id``) whose text has all of ``words``: an
    FTS5 query (``payloads/search.py`` quotes every word) on SQLite, the user's text on PostgreSQL."""
    if dialect == "sqlite":
        matching = select(_fts.c.rowid).where(
            literal_column(TABLE).op("MATCH")(words), _fts.c.tenant_id == bindparam("scope_tenant_id")
        )
    else:
        query = func.plainto_tsquery(literal_column("'simple'::regconfig"), words)
        matching = select(_pg.c.payload_id).where(
            _pg.c.tenant_id == bindparam("scope_tenant_id"), _pg.c.document.op("@@")(query)
        )
    return record_id.in_(matching)


async def remove_search_of(connection: Connection, record_ids: Iterable[int]) -> None:
    """The entries of these records, whichever tenant they belong to (their bytes or they themselves are going, in
    this transaction)."""
    ids = list(record_ids)
    if ids:
        key = _key(connection.dialect_name)
        await connection.write(key.table.delete().where(key.in_(ids)))


async def remove_search_between(connection: Connection, first_id: int, end_id: int, records: int) -> int:
    """At most ``records`` entries of records with ids in [first_id, end_id): a partition's, in short batches
    before the partition is dropped. Returns how many went (0: none are left)."""
    key = _key(connection.dialect_name)
    some = select(key).where(key >= first_id, key < end_id).order_by(key).limit(records).scalar_subquery()
    return await connection.write(key.table.delete().where(key.in_(some)))


async def remove_search_of_tenant(connection: Connection, tenant_id: int, records: int) -> int:
    """At most ``records`` entries of the tenant (its content search switched off), in short batches as retention
    removes them. Returns how many went (0: none are left)."""
    key = _key(connection.dialect_name)
    some = select(key).where(key.table.c.tenant_id == tenant_id).limit(records).scalar_subquery()
    return await connection.write(key.table.delete().where(key.in_(some)))


async def transactions_in_progress(connection: Connection) -> Any:
    """PostgreSQL: a snapshot of the transactions running now (``pg_current_snapshot()``); SQLite: None (one writer
    at a time: a write transaction begun after a commit sees it)."""
    if connection.dialect_name == "sqlite":
        return None
    # An xid8 (64 bits: epoch and xid) fits a bigint.
    return int(await connection.scalar(text("SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint")))


async def finished_since(connection: Connection, snapshot_xmax: Any) -> bool:
    """Every transaction that was running at ``snapshot_xmax``'s snapshot has ended (committed or not)."""
    if snapshot_xmax is None:
        return True
    oldest = "pg_snapshot_xmin(pg_current_snapshot())"
    return bool(await connection.scalar(text(f"SELECT {oldest}::text::bigint >= :xmax"), {"xmax": snapshot_xmax}))
