"""Laravel's LengthAwarePaginator JSON: ``links`` and ``meta`` of every list."""

from __future__ import annotations

import msgspec


class PaginationLinks(msgspec.Struct):
    first: str
    last: str
    prev: str | None
    next: str | None


class PageLink(msgspec.Struct):
    url: str | None
    label: str
    active: bool


class PaginationMeta(msgspec.Struct, kw_only=True):
    """Fields in Laravel's order."""

    current_page: int
    from_: int | None = msgspec.field(name="from")
    last_page: int
    links: list[PageLink]
    path: str
    per_page: int
    to: int | None
    total: int
