"""All SQL about tags: a record's tags, and a tenant's extraction rules. Tenant-scoped, except the maintenance
deletion of pruned records' tags (across tenants, as record retention is)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any, ClassVar

from sqlalchemy import bindparam, delete, func, insert, select

from metadock.kit.db import Connection
from metadock.kit.list_statements import KeyScan
from metadock.kit.repository import TenantScopedRepository
from metadock.payloads.tag_tables import payload_tags, tag_rules
from metadock.payloads.tags import Rule, parse_rule

_t = payload_tags.c
_r = tag_rules.c

# Built once: /meta reads a record's tags, and every capture with tags writes them.
_TAGS_OF = (
    select(_t.name, _t.value)
    .where(_t.tenant_id == bindparam("tenant_id"), _t.payload_id == bindparam("payload_id"))
    .order_by(_t.name)
)
_DELETE_TAGS_OF = delete(payload_tags).where(
    _t.tenant_id == bindparam("tenant_id"), _t.payload_id == bindparam("payload_id")
)
_RULES_OF = select(_r.name, _r.content_type, _r.pointer).where(_r.tenant_id == bindparam("tenant_id")).order_by(_r.id)


def _matching(table: Any, name: Any, values: list[Any]) -> tuple[Any, ...]:
    """Rows of ``table`` (payload_tags or an alias of it) of a tag ``name`` equal to one of ``values``, in the list's
    tenant: one range of the (tenant, name, value, payload_id) key per value."""
    value = table.c.value == values[0] if len(values) == 1 else table.c.value.in_(values)
    return (table.c.tenant_id == bindparam("scope_tenant_id"), table.c.name == name, value)


def tag_clause(record_id: Any, name: Any, values: list[Any]) -> Any:
    """``record_id`` is of a record with tag ``name`` equal to one of ``values``, in the list's tenant."""
    return record_id.in_(select(_t.payload_id).where(*_matching(payload_tags, name, values)))


def tag_key_scan(filters: list[tuple[Any, list[Any]]]) -> KeyScan:
    """The record ids of a list filtered by tags alone, (name, values) each, read from the tags' key alone: the first
    tag's ranges in payload_id order, every other tag a semi-join on its own ranges.

    Its rows are the list's, one each: a record's tags are written in its transaction and removed in the one that
    deletes it (or before: a partition's go first), and a record has one value per name. Through the records' table
    instead, PostgreSQL's generic plan (estimating an average tenant) merge- or hash-joined the tag's 100 ids with an
    index scan of the tenant's every record, for the page and again for the count (issue 16, S12)."""
    (name, values), *others = filters
    where = list(_matching(payload_tags, name, values))
    for index, (other_name, other_values) in enumerate(others, start=1):
        other = payload_tags.alias(f"payload_tags_{index}")
        where.append(_t.payload_id.in_(select(other.c.payload_id).where(*_matching(other, other_name, other_values))))
    return KeyScan(payload_tags, _t.payload_id, tuple(where))


class TagRepository:
    """A tenant's records' tags."""

    def __init__(self, connection: Connection, tenant_id: int) -> None:
        self.connection = connection
        self.tenant_id = tenant_id

    async def add(self, payload_id: int, tags: dict[str, str]) -> None:
        rows = [
            {"tenant_id": self.tenant_id, "payload_id": payload_id, "name": name, "value": value}
            for name, value in sorted(tags.items())
        ]
        await self.connection.write(insert(payload_tags).values(rows))

    async def of(self, payload_id: int) -> dict[str, str]:
        rows = await self.connection.fetch_all(_TAGS_OF, {"tenant_id": self.tenant_id, "payload_id": payload_id})
        return {row["name"]: row["value"] for row in rows}

    async def of_many(self, payload_ids: list[int]) -> dict[int, dict[str, str]]:
        """The tags of each of these records (a run archive's page of them) that has any."""
        statement = select(_t.payload_id, _t.name, _t.value).where(
            _t.tenant_id == self.tenant_id, _t.payload_id.in_(payload_ids)
        )
        found: dict[int, dict[str, str]] = {}
        for row in await self.connection.fetch_all(statement.order_by(_t.payload_id, _t.name)):
            found.setdefault(int(row["payload_id"]), {})[row["name"]] = row["value"]
        return found

    async def remove(self, payload_id: int) -> None:
        await self.connection.write(_DELETE_TAGS_OF, {"tenant_id": self.tenant_id, "payload_id": payload_id})

    async def rules(self) -> tuple[Rule, ...]:
        rows = await self.connection.fetch_all(_RULES_OF, {"tenant_id": self.tenant_id})
        return tuple(parse_rule(row["name"], row["content_type"], row["pointer"]) for row in rows)


async def remove_tags_of(connection: Connection, record_ids: Iterable[int]) -> None:
    """The tags of these records, whichever tenant they belong to (record retention, in its deleting transaction)."""
    await connection.write(delete(payload_tags).where(_t.payload_id.in_(list(record_ids))))


class TagRuleRepository(TenantScopedRepository):
    table: ClassVar = tag_rules
    columns: ClassVar = {"id": _r.id}

    async def list_all(self) -> list[Any]:
        statement = self._select(_r.id, _r.name, _r.content_type, _r.pointer, _r.created_at).order_by(_r.id)
        return await self.connection.fetch_all(statement)

    async def count(self) -> int:
        return int(await self.connection.scalar(self._select(func.count())) or 0)

    async def exists(self, name: str, content_type: str) -> bool:
        statement = self._select(_r.id).where(_r.name == name, _r.content_type == content_type)
        return await self.connection.scalar(statement) is not None

    async def insert(self, name: str, content_type: str, pointer: str, now: dt.datetime) -> Any:
        statement = (
            insert(tag_rules)
            .values(tenant_id=self.tenant_id, name=name, content_type=content_type, pointer=pointer, created_at=now)
            .returning(_r.id, _r.name, _r.content_type, _r.pointer, _r.created_at)
        )
        return await self.connection.fetch_one(statement)

    async def delete(self, rule_id: int) -> bool:
        return bool(await self.connection.write(self._delete().where(_r.id == rule_id)))


async def remove_tags_between(connection: Connection, first_id: int, end_id: int, records: int) -> int:
    """The tags of at most ``records`` records with ids in [first_id, end_id), whichever tenant they belong to: a
    partition's tags, taken away in short batches before the partition is dropped (a drop removes rows, not the tags
    kept in their own table). Returns how many tag rows went (0: none are left)."""
    some_records = (
        select(_t.payload_id)
        .where(_t.payload_id >= first_id, _t.payload_id < end_id)
        .order_by(_t.payload_id)
        .limit(records)
        .scalar_subquery()
    )
    return await connection.write(
        delete(payload_tags).where(_t.payload_id >= first_id, _t.payload_id < end_id, _t.payload_id.in_(some_records))
    )
