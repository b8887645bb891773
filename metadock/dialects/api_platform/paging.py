"""API Platform's paging headers for a plain JSON list: ``X-Total-Count`` and an RFC 8288 ``Link``."""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import urlencode

from litestar import Request


def paging_headers(
    request: Request[Any, Any, Any], pairs: list[tuple[str, str]], page: int, limit: int, total: int
) -> dict[str, str]:
    """``first``/``prev``/``next``/``last`` links that keep every other query parameter as the client sent it."""
    return {"X-Total-Count": str(total), "Link": _link_header(request, pairs, page, limit, total)}


def _link_header(
    request: Request[Any, Any, Any], pairs: list[tuple[str, str]], page: int, limit: int, total: int
) -> str:
    last = max(1, math.ceil(total / limit))
    others = [(k, v) for k, v in pairs if k != "page"]

    def link(target: int, rel: str) -> str:
        return f'<{request.url.path}?{urlencode([*others, ("page", str(target))])}>; rel="{rel}"'

    links = [link(1, "first")]
    if page > 1:
        links.append(link(min(page - 1, last), "prev"))
    if page < last:
        links.append(link(page + 1, "next"))
    links.append(link(last, "last"))
    return ", ".join(links)
