"""All SQL about metadata resources. Every statement starts from the tenant-scoped base."""

from __future__ import annotations

import enum
from collections.abc import Hashable, Iterable
from typing import Any, ClassVar

from sqlalchemy import Integer, Text, and_, bindparam, func, insert, literal_column, or_, select, type_coerce
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import BindParameter, ColumnElement

from metadock.kit.export import ScanBatch
from metadock.kit.query import Filter, FilterOp, ListQuery
from metadock.kit.read_ahead import ScopedRead
from metadock.kit.scan import ScannedRepository
from metadock.kit.timestamps import UTCSecondsText
from metadock.metadatas.table import metadatas, metadatas_title_fts

_c = metadatas.c

# What every read of a resource gives the service (an item, a list, a write's RETURNING): the columns it shows, the
# timestamps as the API prints them (parsing and formatting two datetimes per row was a third of a 100-row page).
_SHOWN = (
    _c.id,
    _c.uuid,
    type_coerce(_c.created_at, UTCSecondsText()).label("created_at"),
    type_coerce(_c.updated_at, UTCSecondsText()).label("updated_at"),
    _c.owner,
    _c.owner_uuid,
    _c.title,
    _c.slug,
    _c.type,
    _c.data,
    _c.version,
)

# A trigram index finds a term by its three-character pieces: a shorter term has none and is matched by the scan.
TRIGRAM = 3
# The index lookup is given at most this many of a term's trigrams (spread over it; the LIKE on top checks the whole
# term), and serves a filter of at most this many values (more are OR-ed LIKEs, the scan): bounds on its query.
MAX_TRIGRAMS_PER_TERM = 16
MAX_INDEXED_TERMS = 32


_fts = metadatas_title_fts.c
_COUNT_CANDIDATES = select(func.count()).select_from(
    select(_fts.rowid)
    .where(_fts.metadatas_title_fts.op("MATCH")(bindparam("fts_query", type_=Text())))
    .limit(bindparam("bound", type_=Integer()))
    .subquery()
)


def _quoted(text: str) -> str:
    """An FTS5 string: inside double quotes every character is literal, and a double quote is written twice."""
    return '"' + text.replace('"', '""') + '"'


def fts_trigram_query(terms: Iterable[str]) -> str:
    """The FTS5 query that finds every row containing any of ``terms`` (each of >= 3 characters): per term, the AND
    of its distinct trigrams (a row containing the term has all of them), the terms OR-ed. Built from FTS5 strings
    only, so no character of a term is query syntax; it is bound as a parameter, never written into SQL."""
    alternatives = []
    for term in terms:
        trigrams = list(dict.fromkeys(term[start : start + TRIGRAM] for start in range(len(term) - TRIGRAM + 1)))
        if len(trigrams) > MAX_TRIGRAMS_PER_TERM:
            last = len(trigrams) - 1
            trigrams = [trigrams[(n * last) // (MAX_TRIGRAMS_PER_TERM - 1)] for n in range(MAX_TRIGRAMS_PER_TERM)]
        alternatives.append("(" + " AND ".join(_quoted(trigram) for trigram in trigrams) + ")")
    return " OR ".join(alternatives)


class Duplicate(enum.Enum):
    UUID = "uuid"
    SLUG = "slug"


class DuplicateValue(Exception):
    def __init__(self, which: Duplicate) -> None:
        super().__init__(which.value)
        self.which = which


def _duplicate_of(error: IntegrityError) -> Duplicate:
    # Both drivers name the violated unique constraint or its columns in the message.
    return Duplicate.SLUG if "slug" in str(error.orig).lower() else Duplicate.UUID


class MetadataRepository(ScannedRepository):
    table = metadatas
    scan_walks_primary_key = True  # no (tenant_id, id) index (kit/scan.py)
    # At most this many rows in all tenants containing the title: read them by id instead of walking the tenant.
    few: ClassVar[int] = 1_000
    _from_candidates = False
    columns: ClassVar[dict[str, Any]] = {
        "id": _c.id,
        "uuid": _c.uuid,
        "owner": _c.owner,
        "owner_uuid": _c.owner_uuid,
        "title": _c.title_search,
        "slug": _c.slug,
        "type": _c.type,
        "created_at": _c.created_at,
        "updated_at": _c.updated_at,
    }

    # --- the title filter: a trigram index finds the candidates, the scan's LIKEs decide ----------------------------

    def _title_index_serves(self, item: Filter) -> bool:
        return (
            item.field == "title"
            and len(item.values) <= MAX_INDEXED_TERMS
            and all(len(str(value)) >= TRIGRAM for value in item.values)
        )

    def _contains_variant(self, item: Filter) -> Hashable:
        return (self.connection.dialect_name, self._title_index_serves(item), self._from_candidates)

    async def _few_candidates(self, query: ListQuery) -> bool:
        """On SQLite, whether the list should be read from the index's candidates rather than walked: the title is
        its only filter besides dates (an equality filter's own index bounds the walk better than a global count
        can tell), and the index finds few rows in all tenants, counted up to a bound (SQLite has no estimate)."""
        if self.connection.dialect_name != "sqlite":
            return False
        titles = [item for item in query.filters if item.field == "title" and self._title_index_serves(item)]
        if not titles or any(item.op is FilterOp.ANY_OF for item in query.filters):
            return False
        terms = fts_trigram_query(str(value) for value in titles[0].values)
        found = await self.connection.scalar(_COUNT_CANDIDATES, {"fts_query": terms, "bound": self.few + 1})
        return int(found) <= self.few

    def _list_scope(self) -> ColumnElement[bool]:
        if self._from_candidates:
            # `+ 0`: no tenant index can serve this clause, so the only way in is the candidate ids (in id order).
            return (_c.tenant_id + literal_column("0")) == bindparam("scope_tenant_id")
        return super()._list_scope()

    def _contains_parameters(self, index: int, item: Filter) -> dict[str, Any]:
        if self.connection.dialect_name == "sqlite" and self._title_index_serves(item):
            return {f"filter_{index}_fts": fts_trigram_query(str(value) for value in item.values)}
        return {}

    def _contains_clause(
        self, index: int, item: Filter, column: ColumnElement[Any], patterns: list[BindParameter[Any]]
    ) -> ColumnElement[bool]:
        likes = super()._contains_clause(index, item, column, patterns)
        indexed = self._title_index_serves(item)
        if self.connection.dialect_name == "sqlite":
            if not indexed:
                return likes
            candidates = select(_fts.rowid).where(
                _fts.metadatas_title_fts.op("MATCH")(bindparam(f"filter_{index}_fts", type_=Text()))
            )
            if self._from_candidates:
                return and_(_c.id.in_(candidates), likes)  # each candidate read by id (with _list_scope)
            # `id + 0`: the candidates are gathered once and each row the other filters reach is checked against
            # them, rather than one index probe per candidate in every tenant followed by a sort (SQLite has no
            # statistics to weigh the two; this way the cost is bounded by the scan it replaces).
            return and_((_c.id + literal_column("0")).in_(candidates), likes)
        if indexed:
            return likes  # PostgreSQL's trigram index serves the LIKEs themselves (and rechecks them)
        # A term under three characters: the trigram index could only be read whole, so the scan is written on an
        # expression it does not cover, whatever plan a prepared statement settled on for longer terms.
        return or_(*(column.concat(literal_column("''")).like(pattern, escape="\\") for pattern in patterns))

    async def list_page(self, query: ListQuery) -> tuple[list[Any], int]:
        self._from_candidates = await self._few_candidates(query)
        return await self._page(query, _SHOWN)

    async def export_batch(
        self, query: ListQuery, *, after: tuple[Any, ...] | None, through: int, limit: int
    ) -> ScanBatch:
        """The next batch of an export, in the list's order (kit/scan.py); the title filter as the list's walk."""
        return await self._scan_batch(query, _SHOWN, after=after, through=through, limit=limit)

    async def get(self, uuid: str) -> Any | None:
        return await self._one_by("uuid", uuid, _SHOWN)

    @classmethod
    def read_of_get(cls, uuid: str) -> ScopedRead:
        """:meth:`get` as a read authentication may fetch ahead."""
        return cls._read_one_by("uuid", uuid, _SHOWN)

    async def insert(self, values: dict[str, Any]) -> Any:
        statement = insert(metadatas).values(tenant_id=self.tenant_id, **values).returning(*_SHOWN)
        try:
            return await self.connection.fetch_one(statement)
        except IntegrityError as error:
            raise DuplicateValue(_duplicate_of(error)) from None

    async def update_if_version(self, uuid: str, expected_version: int, values: dict[str, Any]) -> Any | None:
        """One statement: the compare-and-set that makes optimistic locking safe across processes."""
        statement = (
            self._update()
            .where(_c.uuid == uuid, _c.version == expected_version)
            .values(version=_c.version + 1, **values)
            .returning(*_SHOWN)
        )
        try:
            return await self.connection.fetch_one(statement)
        except IntegrityError as error:
            raise DuplicateValue(_duplicate_of(error)) from None

    async def current_version(self, uuid: str) -> int | None:
        version = await self.connection.scalar(self._select(_c.version).where(_c.uuid == uuid))
        return None if version is None else int(version)

    async def delete(self, uuid: str) -> Any | None:
        """The deleted row (its event shows it), or None when there was none."""
        return await self.connection.fetch_one(self._delete().where(_c.uuid == uuid).returning(*_SHOWN))
