"""The two API dialects Metadock speaks. Each router declares its dialect; an error is rendered by the dialect of the
route that raised it (:func:`error_handler`), whatever raised it: a service, authentication, the framework.

A dialect package holds everything that is the dialect's rather than a resource's: parsing its query language into
``kit.query``'s model, paging, rendering :class:`~metadock.kit.errors.AppError`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Final

from litestar import Request, Response

from metadock.kit.errors import AppError, as_app_error
from metadock.kit.openapi import ERROR_DOCS, ErrorDocs

DIALECT: Final = "dialect"  # router opt: the dialect's ErrorRenderer
ErrorRenderer = Callable[[AppError], Response[Any]]


def dialect(renderer: ErrorRenderer, docs: ErrorDocs) -> dict[str, Any]:
    """The opt that puts a router (and every route under it) in a dialect: ``Router(..., opt=dialect(render, docs))``;
    ``docs`` documents the error bodies ``render`` writes."""
    return {DIALECT: renderer, ERROR_DOCS: docs}


def error_handler(
    unmatched: Sequence[tuple[str, ErrorRenderer]], default: ErrorRenderer
) -> Callable[[Request[Any, Any, Any], Exception], Response[Any]]:
    """The app's exception handler. A request that matched no route has no dialect of its own: it gets the dialect
    of the first ``unmatched`` path prefix it starts with (a client of one API mistyping a path), else ``default``."""

    def handle(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
        error = as_app_error(exc)
        handler = request.scope.get("route_handler")
        renderer: ErrorRenderer | None = handler.opt.get(DIALECT) if handler is not None else None
        if renderer is None:
            path = request.scope["path"]
            renderer = next((render for prefix, render in unmatched if path.startswith(prefix)), default)
        return renderer(error)

    return handle
