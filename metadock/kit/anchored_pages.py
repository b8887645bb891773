"""Deep pages from offset anchors (kit/keyset.py): a list whose order and filters anchors can serve starts its page
at the nearest anchor's row instead of walking the whole offset, anchors being found by walking once and kept per
worker. Used by kit/repository.py's ``_page``; a repository opts in with ``offset_generation`` and
``keyset_fields``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import BigInteger, Select, bindparam, func, select
from sqlalchemy.sql.selectable import FromClause

from metadock.kit.keyset import Anchor, AnchorCache
from metadock.kit.query import FilterOp, ListQuery

if TYPE_CHECKING:
    from metadock.kit.repository import TenantScopedRepository

# The offset anchors of this worker process, shared by every repository that opts in.
ANCHORS = AnchorCache()
# How many statement shapes a process caches (lists' and walks'), and up to how many values a cached filter has.
MAX_SHAPES = 1_000
MAX_CACHED_VALUES = 8
_WALKS: dict[tuple[Any, ...], Select[Any]] = {}
# Below every integer key: the anchor of position 0.
_BEFORE_ANY_KEY = -(2**63)


def keyset_shape(repository: TenantScopedRepository, query: ListQuery) -> tuple[Any, ...] | None:
    """The anchors' key for a query anchors can serve: ascending key order, equality filters on fields that never
    change. None for any other query, and for shallow pages (their OFFSET walk is already short)."""
    if repository.offset_generation is None or query.offset < repository.anchor_spacing:
        return None
    if any(order.field != repository.tie_breaker or order.descending for order in query.order):
        return None
    if any(item.op is not FilterOp.ANY_OF or not repository._keyset_field(item.field) for item in query.filters):
        return None
    return (repository.table.name, repository.tenant_id, tuple((item.field, item.values) for item in query.filters))


def _walk_statement(repository: TenantScopedRepository, query: ListQuery) -> Select[Any]:
    """From an anchor's row, ``walk_span`` rows in key order; every ``spacing``-th one's key and position, with the
    tenant's generation read by the same statement (so in the same snapshot as the walk)."""
    shape = (
        repository.table.name,
        tuple((repository._shape_field(item.field), item.op, len(item.values)) for item in query.filters),
    )
    cached = _WALKS.get(shape)
    if cached is not None:
        return cached
    assert repository.offset_generation is not None
    key_scan = repository._key_scan(query)
    if key_scan is None:
        source: FromClause = repository.table
        key = repository.columns[repository.tie_breaker]
        where = [
            repository.table.c.tenant_id == bindparam("scope_tenant_id"),
            *(repository._filter_clause(index, item) for index, item in enumerate(query.filters)),
        ]
    else:
        source, key, where = key_scan.source, key_scan.key, list(key_scan.where)
    walked = (
        select(key.label("walk_key"))
        .select_from(source)
        .where(*where, key >= bindparam("anchor_key", type_=BigInteger()))
        .order_by(key.asc())
        .limit(bindparam("walk_span", type_=BigInteger()))
        .subquery()
    )
    position = func.row_number().over(order_by=walked.c.walk_key)
    numbered = select(walked.c.walk_key, position.label("walk_position")).subquery()
    walk: Select[Any] = select(
        numbered.c.walk_key, numbered.c.walk_position, repository.offset_generation.label("walk_generation")
    ).where((numbered.c.walk_position - 1) % bindparam("spacing", type_=BigInteger()) == 0)
    if len(_WALKS) < MAX_SHAPES and all(len(item.values) <= MAX_CACHED_VALUES for item in query.filters):
        _WALKS[shape] = walk
    return walk


async def _walk_to(
    repository: TenantScopedRepository, query: ListQuery, shape: tuple[Any, ...], start: Anchor | None
) -> Anchor | None:
    """Walk once from ``start`` (or the first row) to the last anchor position at or before the page, keeping
    every anchor on the way; the last one found, or None if the walk cannot be trusted."""
    spacing = repository.anchor_spacing
    start_offset, start_key = (start.offset, start.key) if start is not None else (0, _BEFORE_ANY_KEY)
    parameters = {
        "scope_tenant_id": repository.tenant_id,
        "anchor_key": start_key,
        "walk_span": query.offset // spacing * spacing - start_offset + 1,
        "spacing": spacing,
        **repository._filter_values(query),
    }
    rows = await repository.connection.fetch_all(_walk_statement(repository, query), parameters)
    if not rows or rows[0]["walk_generation"] is None:
        return None
    generation = int(rows[0]["walk_generation"])
    if start is not None and start.generation != generation:
        # Rows were removed since ``start`` was counted: its position no longer holds. Walking again from the
        # first row costs what the OFFSET walk would, and leaves anchors behind.
        ANCHORS.forget(shape)
        return await _walk_to(repository, query, shape, None)
    found = [(start_offset + int(row["walk_position"]) - 1, int(row["walk_key"])) for row in rows]
    ANCHORS.add(shape, generation, found)
    offset, key = found[-1]
    return Anchor(offset, key, generation)


async def anchored_page(
    repository: TenantScopedRepository, query: ListQuery, columns: tuple[Any, ...], shape: tuple[Any, ...]
) -> tuple[list[Any], int] | None:
    """The page from the nearest anchor, or None when anchors cannot serve it (the caller takes the OFFSET path).

    The page is trusted only if the generation read *after* it equals its anchor's: on SQLite both reads share
    the transaction's snapshot; on PostgreSQL (a snapshot per statement) a later read sees at least what the page
    saw, and the anchor's generation was committed before the page began, so equal means no removal in between.
    """
    statements = repository._list_statements(query, columns, anchored=True)
    for _attempt in range(2):  # a removal just after the anchors were counted: once more from a fresh walk
        anchor = ANCHORS.nearest(shape, query.offset)
        if anchor is None or query.offset - anchor.offset >= repository.anchor_spacing:
            anchor = await _walk_to(repository, query, shape, anchor)
            if anchor is None:
                return None
        parameters = {
            "scope_tenant_id": repository.tenant_id,
            "anchor_key": anchor.key,
            "page_offset": query.offset - anchor.offset,
            **repository._filter_values(query),
        }
        rows: list[Any] = await repository.connection.fetch_all(statements.page, parameters)
        total, generation = await repository._count_and_generation(query, statements, parameters)
        if generation == anchor.generation:
            return rows, total
        ANCHORS.forget(shape)
    return None
