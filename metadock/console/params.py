"""Reading the console's query parameters: ids, page numbers and times, each refused with one plain sentence."""

from __future__ import annotations

import datetime as dt
import math
from typing import Annotated

from litestar.params import QueryParameter

from metadock.kit.errors import bad_request
from metadock.payloads.service import parse_record_id

OptionalText = Annotated[str | None, QueryParameter(required=False)]

# The runs page's quick ranges: the last hour, day or week (relative to now, so zone-independent).
QUICK_RANGES = {"1h": dt.timedelta(hours=1), "24h": dt.timedelta(hours=24), "7d": dt.timedelta(days=7)}


def optional_id(raw: str | None, name: str) -> int | None:
    if raw is None or not raw.strip():
        return None
    value = parse_record_id(raw.strip())
    if value is None:
        raise bad_request(f"The {name} must be a positive whole number.")
    return value


def page_number(raw: str | None) -> int:
    value = optional_id(raw, "page")
    return min(value or 1, 100_000)


def pages(page: int, total: int, per_page: int) -> dict[str, int]:
    return {"page": page, "last": max(1, math.ceil(total / per_page)), "total": total}


def optional_time(raw: str | None, name: str) -> dt.datetime | None:
    """A time typed in a filter: ISO 8601 (``2026-11-29T17:30``, seconds and an offset optional), UTC unless said."""
    if raw is None or not raw.strip():
        return None
    try:
        moment = dt.datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError:
        raise bad_request(f"The {name} time must look like 2026-11-29T17:30 (UTC).") from None
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)
