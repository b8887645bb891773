"""Finding payloads by a business key (tag): the runs and overview pages' search box, its results, and the same
records as an NDJSON or CSV export. Both go through the payload service's own list and export with the list's
``filter[tag.<name>]``: no SQL of the console's."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get
from litestar.response import Stream

from metadock.console.params import OptionalText, export_format, page_number, pages
from metadock.console.rendering import render
from metadock.console.tag_search import TagSearch, parse_tag_search
from metadock.console.views_payloads import payloads_of
from metadock.context import context_of
from metadock.kit.errors import AppError, bad_request
from metadock.kit.export import export_response
from metadock.kit.unit_of_work import RequestUnitOfWork
from metadock.payloads.schemas import PayloadRecord

RESULTS_PER_PAGE = 25


def _page(request: Request[Any, Any, Any], q: str, **context: Any) -> Response[Any]:
    values: dict[str, Any] = {"search": None, "records": [], "pages": pages(1, 0, RESULTS_PER_PAGE), "error": None}
    values.update(context)
    return render(request, "search.html", q=q, **values)


@get("/search")
async def tag_search(
    request: Request[Any, Any, Any], unit: RequestUnitOfWork, q: OptionalText = None, page: OptionalText = None
) -> Response[Any]:
    typed = (q or "").strip()[:2000]  # shown back in the box; nothing longer can be a valid search
    try:
        search, page_no = parse_tag_search(q), page_number(page)
        if search is None:
            return _page(request, typed)
        async with unit.transaction() as connection:
            found = await payloads_of(request, connection).list(search.query(page=page_no, per_page=RESULTS_PER_PAGE))
    except AppError as error:
        if error.status != 400:
            raise
        # The box's mistakes (and the list parser's own 400s) are answered on the page, with what was typed kept.
        return _page(request, typed, error=error.detail, status=400)
    return _page(
        request,
        search.text,
        search=search,
        records=found.items,
        pages=pages(page_no, found.total, RESULTS_PER_PAGE),
    )


@get("/search/export")
async def tag_search_export(
    request: Request[Any, Any, Any],
    unit: RequestUnitOfWork,
    q: OptionalText = None,
    format: OptionalText = None,  # noqa: A002 - the link's field name
) -> Stream:
    """The API's export (``/api/v1/payload-metadata/export``, same rows and columns) of the search's records."""
    search: TagSearch | None = parse_tag_search(q)
    if search is None:
        raise bad_request("Type a search (name=value) before exporting its results.")
    chosen = export_format(format)
    context = context_of(request)
    async with unit.transaction() as connection:
        # The first batch is read here; the rest in short transactions of their own as the browser reads.
        batches = await payloads_of(request, connection).export(
            search.query(page=1, per_page=1), context.database, context.settings.export_batch_size
        )
    return export_response(chosen, batches, PayloadRecord, "payload-metadata")
