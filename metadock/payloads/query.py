r"""The Patchworks (Laravel + spatie/laravel-query-builder) query language of ``GET /api/v1/payload-metadata``.

| parameter | meaning | values | on a bad value |
|---|---|---|---|
| `filter[id\|flow_run_id\|flow_step_id\|flow_log_id]` | exact; `a,b`: any of; AND | integers | non-integer: no match |
| `filter[tag.<name>]` | exact tag value (text, compared as given); `a,b`: any of; AND | text | no match |
| `filter[search]` | search on (deployment and tenant): every word in the text (payloads/search.py) | text | 400 off |
| `filter[...]=` (empty) | ignored, as Laravel + spatie do | | |
| `filter[<other>]` | not allowed | | 400 |
| `sort` | `id`, `created_at`; `-` = descending; `a,-b` = several | | 400 on another field |
| `page` | page number (default 1); past the last page: an empty page | integer >= 1 | read as 1 |
| `per_page` | page size (default 15); above 100: clamped to 100 | integer | see below |

``page`` and ``per_page`` (``dialects/laravel/query.py``) are read the way a Laravel controller reads them
(``$request->integer('per_page')``, ``Paginator::resolveCurrentPage``), never refused: a client that asks for more
than the maximum (the public PHP client always sends ``per_page=250``) gets pages of 100 with ``meta.per_page``,
``last_page`` and ``links`` computed on 100.

- ``per_page``: its leading integer, as PHP's ``intval`` reads it (``20abc`` -> 20, ``2.5`` -> 2); above 100 -> 100;
  0, negative or no leading integer (``abc``, empty) -> the default 15 (Laravel's ``$perPage ?: $model->perPage``).
- ``page``: an integer >= 1 (surrounding spaces and a ``+`` allowed); anything else (0, negative, ``abc``, ``1.5``,
  more than 18 digits) -> 1, as ``resolveCurrentPage`` does; above 1,000,000,000 -> 1,000,000,000 (past the end of
  any list, and ``(page - 1) * per_page`` stays inside a 64-bit offset).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from metadock.dialects.laravel import query as laravel
from metadock.kit.query import ListQuery
from metadock.payloads.search import MAX_QUERY_CHARS, SEARCH_FILTER
from metadock.payloads.tags import NAME, TAG_FILTER_PREFIX, TRACE_TAG

PAYLOAD_QUERY = laravel.AllowedQuery(
    filters=("id", "flow_run_id", "flow_step_id", "flow_log_id"),
    sorts=("id", "created_at"),
    dynamic_prefix=TAG_FILTER_PREFIX,
    dynamic_name=NAME,
)
ALLOWED_FILTERS = PAYLOAD_QUERY.filters
# With content search on (METADOCK_CONTENT_SEARCH=1 and the caller's tenant's switch), filter[search] is allowed too;
# off, it is an unknown filter.
SEARCH_QUERY = dataclasses.replace(PAYLOAD_QUERY, text_filter=SEARCH_FILTER, text_filter_max=MAX_QUERY_CHARS)


def parse_list_query(params: Iterable[tuple[str, str]], *, content_search: bool = False) -> ListQuery:
    return laravel.parse_list_query(params, SEARCH_QUERY if content_search else PAYLOAD_QUERY)


def documented_parameters() -> list[tuple[str, str, str]]:
    # A tag filter's name is the tag's: the document names the one every traced capture has, and says so of all.
    tag = (
        f"filter[{TAG_FILTER_PREFIX}{TRACE_TAG}]",
        "string",
        f"Exact value of the record's tag `{TRACE_TAG}` (any tag: `filter[{TAG_FILTER_PREFIX}<name>]`); "
        "comma-separated for any of.",
    )
    search = (
        f"filter[{SEARCH_FILTER}]",
        "string",
        "Content search, when the server runs with `METADOCK_CONTENT_SEARCH=1` and the caller's tenant has it on "
        "(otherwise 400, not an allowed filter): payloads whose text contains every word, in any order, "
        "case-insensitively; a word is a run of letters and digits, no operators. Only JSON, XML, CSV and text "
        "payloads up to the server's size limit "
        f"are indexed. At most {MAX_QUERY_CHARS} characters.",
    )
    documented = laravel.documented_parameters(PAYLOAD_QUERY)
    return [*documented[: len(PAYLOAD_QUERY.filters)], tag, search, *documented[len(PAYLOAD_QUERY.filters) :]]
