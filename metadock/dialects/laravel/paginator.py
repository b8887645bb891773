"""Laravel's LengthAwarePaginator as JSON: ``links`` and ``meta``, including the numbered ``meta.links`` window."""

from __future__ import annotations

import math
from collections.abc import Sequence
from urllib.parse import urlencode

from metadock.dialects.laravel.schemas import PageLink, PaginationLinks, PaginationMeta

ON_EACH_SIDE = 3  # Laravel's default
PREVIOUS_LABEL = "&laquo; Previous"
NEXT_LABEL = "Next &raquo;"


class PageUrls:
    """Builds ``path?...&page=N``, keeping every other query parameter where the client put it (PHP's array_merge):
    the first ``page`` is replaced in place, later ones dropped, and a missing one goes last.

    A page of a list links up to a dozen pages that differ only in the number, so the rest of the query is encoded
    once (encoding it per link was a tenth of a 100-record page)."""

    def __init__(self, path: str, params: Sequence[tuple[str, str]]) -> None:
        self.path = path
        before: list[tuple[str, str]] = []
        after: list[tuple[str, str]] = []
        placed = False
        for key, value in params:
            if key == "page":
                placed = True
            elif placed:
                after.append((key, value))
            else:
                before.append((key, value))
        self._prefix = f"{path}?{urlencode(before)}&page=" if before else f"{path}?page="
        self._suffix = f"&{urlencode(after)}" if after else ""

    def url(self, page: int) -> str:
        return f"{self._prefix}{page}{self._suffix}"


def _window(current: int, last: int) -> list[list[int] | str]:
    """Laravel's UrlWindow: every page when there are few, else the ends and a slider with '...' between."""
    if last < ON_EACH_SIDE * 2 + 8:
        return [list(range(1, last + 1))]
    window = ON_EACH_SIDE + 4
    start, finish = [1, 2], [last - 1, last]
    if current <= window:
        return [list(range(1, window + ON_EACH_SIDE + 1)), "...", finish]
    if current > last - window:
        return [start, "...", list(range(last - (window + (ON_EACH_SIDE - 1)), last + 1))]
    return [start, "...", list(range(current - ON_EACH_SIDE, current + ON_EACH_SIDE + 1)), "...", finish]


def paginate(
    urls: PageUrls, *, page: int, per_page: int, total: int, count: int
) -> tuple[PaginationLinks, PaginationMeta]:
    last_page = max(math.ceil(total / per_page), 1)
    previous_url = urls.url(page - 1) if page > 1 else None
    next_url = urls.url(page + 1) if page < last_page else None
    numbered = [PageLink(previous_url, PREVIOUS_LABEL, False)]
    for element in _window(page, last_page):
        if isinstance(element, str):
            numbered.append(PageLink(None, element, False))
        else:
            numbered.extend(PageLink(urls.url(n), str(n), n == page) for n in element)
    numbered.append(PageLink(next_url, NEXT_LABEL, False))
    offset = (page - 1) * per_page
    links = PaginationLinks(first=urls.url(1), last=urls.url(last_page), prev=previous_url, next=next_url)
    meta = PaginationMeta(
        current_page=page,
        from_=offset + 1 if count else None,
        last_page=last_page,
        links=numbered,
        path=urls.path,
        per_page=per_page,
        to=offset + count if count else None,
        total=total,
    )
    return links, meta
