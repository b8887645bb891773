r"""The Patchworks (Laravel + spatie/laravel-query-builder) query language of ``GET /api/v1/payload-metadata``.

| parameter | meaning | values | on a bad value |
|---|---|---|---|
| `filter[id\|flow_run_id\|flow_step_id\|flow_log_id]` | exact; `a,b`: any of; AND | integers | non-integer: no match |
| `filter[...]=` (empty) | ignored, as Laravel + spatie do | | |
| `filter[<other>]` | not allowed | | 400 |
| `sort` | `id`, `created_at`; `-` = descending; `a,-b` = several | | 400 on another field |
| `page` | page number (default 1) | integer >= 1 | 422 |
| `per_page` | page size (default 15) | integer 1..100 | 422 |
"""

from __future__ import annotations

from collections.abc import Iterable

from metadock.dialects.laravel import query as laravel
from metadock.kit.query import ListQuery

PAYLOAD_QUERY = laravel.AllowedQuery(
    filters=("id", "flow_run_id", "flow_step_id", "flow_log_id"), sorts=("id", "created_at")
)
ALLOWED_FILTERS = PAYLOAD_QUERY.filters


def parse_list_query(params: Iterable[tuple[str, str]]) -> ListQuery:
    return laravel.parse_list_query(params, PAYLOAD_QUERY)


def documented_parameters() -> list[tuple[str, str, str]]:
    return laravel.documented_parameters(PAYLOAD_QUERY)
