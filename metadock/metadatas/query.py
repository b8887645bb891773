r"""The DigitalState (API Platform) query language of ``GET /metadatas``, parsed in this one place.

| parameter | meaning | values |
|---|---|---|
| `id`, `id[]` | exact, any of | integers |
| `uuid`, `uuid[]`, `ownerUuid`, `ownerUuid[]` | exact, any of | UUIDs (case-insensitive) |
| `owner`, `owner[]`, `slug`, `slug[]`, `type`, `type[]` | exact, any of | strings |
| `title`, `title[]` | partial, case-insensitive, any locale, any of | strings |
| `createdAt[before\|after\|strictly_before\|strictly_after]`, `updatedAt[...]` | date range | ISO 8601 |
| `order[id\|createdAt\|updatedAt\|owner\|title\|type\|slug]` | order, in the order given, then `id` | `asc`, `desc` |
| `page` | page number | integer >= 1 |
| `limit` | page size | integer >= 1, clamped to the configured maximum |

Unknown parameters are ignored, as API Platform does; a known parameter with an invalid value, or an ``order[...]``
on an unknown property, is a 400 naming the parameter.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from metadock.kit.errors import Violation, validation_failed
from metadock.kit.query import MAX_FILTER_VALUES, Filter, FilterOp, ListQuery, Order

# offset = (page - 1) * limit must fit a signed 64-bit integer on every database.
MAX_PAGE = 10_000_000
# Ids are 32-bit integers; PostgreSQL refuses to compare one with a larger value rather than matching nothing.
MIN_ID, MAX_ID = -(2**31), 2**31 - 1


# Integers are read with at most this many digits (any 18-digit value fits a signed 64-bit integer).
INTEGER_DIGITS = 18
LARGEST_INTEGER = 10**INTEGER_DIGITS - 1
_INTEGER = re.compile(rf"[+-]?[0-9]{{1,{INTEGER_DIGITS}}}")


def parse_int(raw: str) -> int:
    if not _INTEGER.fullmatch(raw.strip()):
        raise ValueError("This value should be an integer.")
    return int(raw)


def parse_id(raw: str) -> int:
    value = parse_int(raw)
    if not MIN_ID <= value <= MAX_ID:
        raise ValueError("This value is out of range.")
    return value


def parse_uuid(raw: str) -> str:
    try:
        return str(uuid.UUID(raw.strip()))
    except ValueError:
        raise ValueError("This value is not a valid UUID.") from None


def parse_text(raw: str) -> str:
    if "\x00" in raw:  # PostgreSQL text cannot hold NUL; SQLite would silently cut the value there
        raise ValueError("This value should not contain NUL characters.")
    return raw


def parse_title(raw: str) -> str:
    return parse_text(raw).casefold()


def parse_datetime(raw: str) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(raw.strip().replace(" ", "+"))  # a '+' arrives as ' ' when not encoded
    except ValueError:
        raise ValueError("This value is not a valid date.") from None
    try:
        # Converting here, not in the database layer, turns a date that leaves the calendar in UTC into a 400.
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
    except OverflowError:
        raise ValueError("This value is not a valid date.") from None


@dataclass(frozen=True, slots=True)
class FilterParam:
    name: str  # as clients send it
    field: str  # the internal query field
    op: FilterOp
    parse: Callable[[str], object]
    description: str


FILTERS: tuple[FilterParam, ...] = (
    FilterParam("id", "id", FilterOp.ANY_OF, parse_id, "Exact id; `id[]=1&id[]=2` for any of."),
    FilterParam("uuid", "uuid", FilterOp.ANY_OF, parse_uuid, "Exact uuid; repeat with `uuid[]`."),
    FilterParam("owner", "owner", FilterOp.ANY_OF, parse_text, "Exact owner; repeat with `owner[]`."),
    FilterParam("ownerUuid", "owner_uuid", FilterOp.ANY_OF, parse_uuid, "Exact owner uuid; repeat with `ownerUuid[]`."),
    FilterParam("title", "title", FilterOp.CONTAINS_ANY, parse_title, "Partial, case-insensitive, in any locale."),
    FilterParam("slug", "slug", FilterOp.ANY_OF, parse_text, "Exact slug; repeat with `slug[]`."),
    FilterParam("type", "type", FilterOp.ANY_OF, parse_text, "Exact type; repeat with `type[]`."),
)
_FILTERS_BY_NAME = {param.name: param for param in FILTERS}

DATE_FIELDS = {"createdAt": "created_at", "updatedAt": "updated_at"}
DATE_OPS = {
    "before": FilterOp.BEFORE,
    "strictly_before": FilterOp.STRICTLY_BEFORE,
    "after": FilterOp.AFTER,
    "strictly_after": FilterOp.STRICTLY_AFTER,
}
ORDER_FIELDS = {
    "id": "id",
    "createdAt": "created_at",
    "updatedAt": "updated_at",
    "owner": "owner",
    "title": "title",
    "type": "type",
    "slug": "slug",
}

_BRACKETED = re.compile(r"^(?P<name>[A-Za-z_]+)\[(?P<key>[^\[\]]*)\]$")


def parse_list_query(params: Iterable[tuple[str, str]], *, default_limit: int, max_limit: int) -> ListQuery:
    values: dict[str, list[object]] = {}
    date_filters: list[Filter] = []
    order: list[Order] = []
    page, limit = 1, default_limit
    violations: list[Violation] = []

    for raw_name, raw_value in params:
        match = _BRACKETED.match(raw_name)
        name, key = (match["name"], match["key"]) if match else (raw_name, None)
        try:
            if name in _FILTERS_BY_NAME and (key is None or key == "" or key.isdigit()):
                param = _FILTERS_BY_NAME[name]
                values.setdefault(param.name, []).append(param.parse(raw_value))
            elif name in DATE_FIELDS and key is not None:
                if key not in DATE_OPS:
                    raise ValueError("Unknown date filter; use before, after, strictly_before or strictly_after.")
                date_filters.append(Filter(DATE_FIELDS[name], DATE_OPS[key], (parse_datetime(raw_value),)))
            elif name == "order" and key is not None:
                if key not in ORDER_FIELDS:
                    raise ValueError(f"Ordering by this property is not allowed; use one of {', '.join(ORDER_FIELDS)}.")
                direction = raw_value.strip().lower()
                if direction not in ("asc", "desc"):
                    raise ValueError("This value should be asc or desc.")
                order = [item for item in order if item.field != ORDER_FIELDS[key]]
                order.append(Order(ORDER_FIELDS[key], direction == "desc"))
            elif raw_name == "page":
                page = parse_int(raw_value)
                if not 1 <= page <= MAX_PAGE:
                    raise ValueError(f"Page should be between 1 and {MAX_PAGE}.")
            elif raw_name == "limit":
                limit = parse_int(raw_value)
                if limit < 1:
                    raise ValueError("Limit should not be less than 1.")
                limit = min(limit, max_limit)
        except ValueError as error:
            violations.append(Violation(raw_name, str(error)))

    too_many = f"At most {MAX_FILTER_VALUES} values are allowed."
    violations += [Violation(name, too_many) for name, vals in values.items() if len(vals) > MAX_FILTER_VALUES]
    if len(date_filters) > MAX_FILTER_VALUES:
        violations.append(Violation("createdAt", f"At most {MAX_FILTER_VALUES} date filters are allowed."))
    if violations:
        raise validation_failed(violations)
    filters = [
        Filter(_FILTERS_BY_NAME[name].field, _FILTERS_BY_NAME[name].op, tuple(vals)) for name, vals in values.items()
    ]
    return ListQuery(tuple(filters + date_filters), tuple(order) or (Order("id"),), page, limit)


def documented_parameters() -> list[tuple[str, str, str]]:
    """(name, schema type, description) of every query parameter, for the OpenAPI document."""
    documented = [(p.name, "integer" if p.parse is parse_id else "string", p.description) for p in FILTERS]
    documented += [(f"{p.name}[]", "array", f"Any of several values of `{p.name}`.") for p in FILTERS]
    documented += [
        (f"{field}[{op}]", "string", f"ISO 8601 date; {op.replace('_', ' ')} (inclusive unless strictly).")
        for field in DATE_FIELDS
        for op in DATE_OPS
    ]
    documented += [(f"order[{name}]", "string", "asc or desc") for name in ORDER_FIELDS]
    documented += [("page", "integer", "Page number, from 1."), ("limit", "integer", "Items per page.")]
    return documented
