"""What a list is read with: its page and count statements, where its keys come from, and how its page size is
written. Shared by the list (kit/repository.py) and the export's scan (kit/scan.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Integer, Select, literal_column
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import FromClause

# The label of the total that a counted page (see ListStatements) reads with each of its rows.
TOTAL_COLUMN = "list_total"


@dataclass(frozen=True, slots=True)
class ListStatements:
    page: Select[Any]
    count: Select[Any]
    # The page with its exact total as one more column (TOTAL_COLUMN): an uncorrelated scalar subquery, which
    # PostgreSQL runs once (an InitPlan), so the page and its total are one round trip (kit/repository.py _page).
    counted_page: Select[Any]


@dataclass(frozen=True, slots=True)
class KeyScan:
    """Where a list reads its keys when not from its own table: ``source``, a table whose rows matching ``where``
    (tenant-scoped, with the list's bound parameters) are one to one the list's rows, ``key`` their keys. A tag
    filter's own index is one (payloads/tag_repository.py): from it, no plan can walk the tenant's every row."""

    source: FromClause
    key: ColumnElement[Any]
    where: tuple[ColumnElement[bool], ...]


def without_total(rows: list[Any]) -> tuple[list[Any], int]:
    """A counted page's rows (at least one) without their total, and the total."""
    total = int(rows[0][TOTAL_COLUMN])
    if isinstance(rows[0], dict):  # a plan's rows (kit/prepared.py): dicts made for this call alone
        for row in rows:
            del row[TOTAL_COLUMN]
        return rows, total
    return [{key: value for key, value in row.items() if key != TOTAL_COLUMN} for row in rows], total


def literal_limit(rows: int) -> ColumnElement[int]:
    """A LIMIT written into the SQL. PostgreSQL's generic plans (kit/db.py) cannot see a LIMIT given as a parameter
    and plan for 10% of the rows: a page's ids joined to a scan of every partition, seconds at 10M rows. An int
    from the query's validated page size, never client text."""
    return literal_column(str(int(rows)), Integer())
