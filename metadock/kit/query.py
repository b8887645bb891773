"""The internal query model every API dialect parses into.

A dialect's parser (``metadatas.query`` for DigitalState, ``payloads.query`` for Patchworks) owns the public grammar
and its allow-lists; repositories translate this model into SQL against their own column allow-list. Neither side
ever sees the other's vocabulary.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")

# Each value of a filter becomes one SQL term: title values are OR-ed LIKEs and SQLite refuses an expression deeper
# than 1,000 terms, and both drivers cap bound parameters near 32,000. A request may give one filter (or, in all,
# the date filters) at most this many values; more is the client's mistake, not a server error.
MAX_FILTER_VALUES = 500


class FilterOp(enum.Enum):
    ANY_OF = "any_of"  # equal to one of the values
    CONTAINS_ANY = "contains_any"  # case-insensitive substring match of one of the values
    BEFORE = "before"  # <=
    STRICTLY_BEFORE = "strictly_before"  # <
    AFTER = "after"  # >=
    STRICTLY_AFTER = "strictly_after"  # >


@dataclass(frozen=True, slots=True)
class Filter:
    field: str
    op: FilterOp
    values: tuple[object, ...]


@dataclass(frozen=True, slots=True)
class Order:
    field: str
    descending: bool = False


@dataclass(frozen=True, slots=True)
class ListQuery:
    filters: tuple[Filter, ...] = ()
    order: tuple[Order, ...] = ()
    page: int = 1
    per_page: int = 10

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    total: int
