"""What a list is read with: its page and count statements, where its keys come from, and how its page size is
written. Shared by the list (kit/repository.py) and the export's scan (kit/scan.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Integer, Select, literal_column
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import FromClause


@dataclass(frozen=True, slots=True)
class ListStatements:
    page: Select[Any]
    count: Select[Any]


@dataclass(frozen=True, slots=True)
class KeyScan:
    """Where a list reads its keys when not from its own table: ``source``, a table whose rows matching ``where``
    (tenant-scoped, with the list's bound parameters) are one to one the list's rows, ``key`` their keys. A tag
    filter's own index is one (payloads/tag_repository.py): from it, no plan can walk the tenant's every row."""

    source: FromClause
    key: ColumnElement[Any]
    where: tuple[ColumnElement[bool], ...]


def literal_limit(rows: int) -> ColumnElement[int]:
    """A LIMIT written into the SQL. PostgreSQL's generic plans (kit/db.py) cannot see a LIMIT given as a parameter
    and plan for 10% of the rows: a page's ids joined to a scan of every partition, seconds at 10M rows. An int
    from the query's validated page size, never client text."""
    return literal_column(str(int(rows)), Integer())
