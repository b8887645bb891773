"""Reading the console's query parameters: ids, page numbers and times, each refused with one plain sentence."""

from __future__ import annotations

import datetime as dt
import math
import zoneinfo
from typing import Annotated

from litestar.params import QueryParameter

from metadock.kit.errors import bad_request
from metadock.kit.export import ExportFormat
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


def time_zone(raw: str | None) -> dt.tzinfo:
    """The zone the runs page's from/to were typed in: the browser's (an IANA name that console.js puts in a hidden
    field), or UTC without it (no script, or a link)."""
    if raw is None or not raw.strip() or raw.strip() == "UTC":
        return dt.UTC
    try:
        return zoneinfo.ZoneInfo(raw.strip())
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise bad_request(f"Unknown time zone {raw.strip()[:64]!r}: use a name like Europe/Berlin.") from None


def optional_time(raw: str | None, name: str, zone: dt.tzinfo = dt.UTC) -> dt.datetime | None:
    """A time typed in a filter: ISO 8601 (``2026-11-29T17:30``, seconds and an offset optional). Without an offset it
    is a wall-clock time in ``zone`` (DST-aware, for the date typed); with one (a link, ``…Z`` or ``…+02:00``), the
    offset says it all."""
    if raw is None or not raw.strip():
        return None
    try:
        moment = dt.datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError:
        raise bad_request(f"The {name} time must look like 2026-11-29T17:30.") from None
    return (moment.replace(tzinfo=zone) if moment.tzinfo is None else moment).astimezone(dt.UTC)


def wall_clock(moment: dt.datetime | None, zone: dt.tzinfo) -> str:
    """A filter's time as a datetime-local input shows it: to the second, in ``zone``, without an offset."""
    return "" if moment is None else moment.astimezone(zone).strftime("%Y-%m-%dT%H:%M:%S")


def utc_iso(moment: dt.datetime | None) -> str:
    """A filter's time for links and for console.js: unambiguous whatever zone reads it."""
    return "" if moment is None else moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def export_format(raw: str | None) -> ExportFormat:
    """An export link's ``format``: NDJSON when absent, as the APIs' exports."""
    try:
        return ExportFormat((raw or "ndjson").strip().lower())
    except ValueError:
        raise bad_request("Choose an export format: ndjson or csv.") from None
