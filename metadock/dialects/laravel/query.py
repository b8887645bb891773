"""spatie/laravel-query-builder's list grammar as Patchworks serves it, for any resource's allow-list.

A resource declares an :class:`AllowedQuery` (its exact integer filters and its sorts) and documents its own table
(see ``payloads/query.py``); this module parses ``filter[...]``, ``sort``, ``page`` and ``per_page`` against it into
the internal :class:`~metadock.kit.query.ListQuery`. ``page`` and ``per_page`` are never refused: they are read as a
Laravel controller reads them (:func:`page_number`, :func:`page_size`; the payload table in ``payloads/query.py``
spells the cases out). ``parse_bounded_int`` is Laravel's ``integer|min|max`` rule with its messages, for other
parameters (the capture's ids).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from metadock.kit.errors import AppError, Violation
from metadock.kit.query import MAX_FILTER_VALUES, Filter, FilterOp, ListQuery, Order

DEFAULT_PER_PAGE = 15  # Laravel's Model::$perPage
MAX_PER_PAGE = 100
MAX_PAGE = 1_000_000_000  # keeps (page - 1) * per_page inside a signed 64-bit offset

_FILTER_PARAM = re.compile(r"^filter\[(?P<name>[^\[\]]*)\]$")
_INTEGER = re.compile(r"^[ \t]*[+-]?[0-9]{1,18}[ \t]*$")  # not \s, which admits characters int() refuses
# A bounded integer is compared with its bounds, so 19 digits may be read: up to 2**63 - 1 is a flow id.
_BOUNDED_INTEGER = re.compile(r"^[ \t]*[+-]?[0-9]{1,19}[ \t]*$")
# PHP's intval(): optional leading whitespace and sign, then digits; whatever follows is ignored.
_LEADING_INTEGER = re.compile(r"^[ \t\n\r\v\f]*(?P<sign>[+-]?)(?P<digits>[0-9]+)")
# An id no row can have: what an exact filter whose values are all non-integers compares against.
NO_MATCH = -1


@dataclass(frozen=True, slots=True)
class AllowedQuery:
    """A resource's allow-list: exact integer filters, sortable fields (internal query field names)."""

    filters: tuple[str, ...]
    sorts: tuple[str, ...]
    default_sort: str = "id"
    # Exact string filters ``filter[<prefix><name>]`` for any ``name`` this pattern matches (a resource's tags):
    # parsed into the field ``<prefix><name>`` with its values as text.
    dynamic_prefix: str | None = None
    dynamic_name: re.Pattern[str] | None = None
    # A free-text filter ``filter[<text_filter>]=<text>`` (content search): its value is one text, never split on
    # commas, at most ``text_filter_max`` characters; parsed into an ANY_OF filter of that one value.
    text_filter: str | None = None
    text_filter_max: int = 1000

    def dynamic(self, field: str) -> bool:
        return (
            self.dynamic_prefix is not None
            and self.dynamic_name is not None
            and field.startswith(self.dynamic_prefix)
            and self.dynamic_name.fullmatch(field.removeprefix(self.dynamic_prefix)) is not None
        )

    def allowed_text(self) -> str:
        names = [*self.filters, f"{self.dynamic_prefix}*"] if self.dynamic_prefix else list(self.filters)
        return ", ".join([*names, self.text_filter] if self.text_filter else names)


def _attribute(name: str) -> str:
    return name.replace("_", " ")


def parse_bounded_int(name: str, raw: str, *, minimum: int, maximum: int, violations: list[Violation]) -> int | None:
    """Laravel's ``integer|min:..|max:..`` rules, with Laravel's messages."""
    if not _BOUNDED_INTEGER.match(raw):
        violations.append(Violation(name, f"The {_attribute(name)} field must be an integer."))
        return None
    value = int(raw)
    if value < minimum:
        violations.append(Violation(name, f"The {_attribute(name)} field must be at least {minimum}."))
        return None
    if value > maximum:
        violations.append(Violation(name, f"The {_attribute(name)} field must not be greater than {maximum}."))
        return None
    return value


def page_number(raw: str) -> int:
    """Laravel's resolveCurrentPage: a valid integer >= 1, else 1; capped where no list reaches."""
    value = int(raw) if _INTEGER.match(raw) else 1
    return min(value, MAX_PAGE) if value >= 1 else 1


def page_size(raw: str) -> int:
    """``$request->integer('per_page')`` (PHP's intval), then Laravel's ``?: default`` and the clamp to the maximum."""
    match = _LEADING_INTEGER.match(raw)
    if match is None or match["sign"] == "-":
        return DEFAULT_PER_PAGE
    digits = match["digits"].lstrip("0")
    if not digits:
        return DEFAULT_PER_PAGE  # 0
    # Compared by length first: int() of thousands of digits is slow, and refused past Python's digit limit.
    return MAX_PER_PAGE if len(digits) > 3 else min(int(digits), MAX_PER_PAGE)


def _integers(raw: str) -> tuple[int, ...]:
    values = tuple(int(part) for part in raw.split(",") if _INTEGER.match(part))
    return values or (NO_MATCH,)


def parse_list_query(params: Iterable[tuple[str, str]], allowed: AllowedQuery) -> ListQuery:
    filters: dict[str, tuple[int, ...] | tuple[str, ...]] = {}
    unknown_filters: list[str] = []
    sort_raw: str | None = None
    page, per_page = 1, DEFAULT_PER_PAGE

    for name, raw in params:
        if match := _FILTER_PARAM.match(name):
            field = match["name"]
            dynamic = allowed.dynamic(field)
            if field == allowed.text_filter:
                if len(raw) > allowed.text_filter_max:
                    raise AppError(
                        400, f"Requested filter `{field}` is longer than {allowed.text_filter_max} characters."
                    )
                if "\x00" in raw:
                    raise AppError(400, f"Requested filter `{field}` must not contain NUL characters.")
                if raw.strip():
                    filters[field] = (raw,)
                else:
                    filters.pop(field, None)
            elif dynamic or field in allowed.filters:
                if raw.count(",") >= MAX_FILTER_VALUES:
                    raise AppError(400, f"Requested filter `{field}` has more than {MAX_FILTER_VALUES} values.")
                if dynamic and "\x00" in raw:  # PostgreSQL text cannot hold NUL; no value of ours has one
                    raise AppError(400, f"Requested filter `{field}` must not contain NUL characters.")
                if raw.strip():
                    # A dynamic (tag) filter compares text exactly: a value is never trimmed or converted.
                    filters[field] = tuple(dict.fromkeys(raw.split(","))) if dynamic else _integers(raw)
                else:
                    # Laravel turns an empty query value into null and spatie skips a null filter: no filtering.
                    filters.pop(field, None)
            elif field not in unknown_filters:
                unknown_filters.append(field)
        elif name == "sort":
            sort_raw = raw
        elif name == "page":
            page = page_number(raw)
        elif name == "per_page":
            per_page = page_size(raw)

    if unknown_filters:
        raise AppError(
            400,
            f"Requested filter(s) `{', '.join(unknown_filters)}` are not allowed. "
            f"Allowed filter(s) are `{allowed.allowed_text()}`.",
        )
    order = _parse_sort(sort_raw, allowed.sorts) if sort_raw else ()
    return ListQuery(
        filters=tuple(Filter(field, FilterOp.ANY_OF, values) for field, values in filters.items()),
        order=order or (Order(allowed.default_sort),),
        page=page,
        per_page=per_page,
    )


def _parse_sort(raw: str, allowed: tuple[str, ...]) -> tuple[Order, ...]:
    order: list[Order] = []
    unknown: list[str] = []
    for part in (piece.strip() for piece in raw.split(",")):
        if not part:
            continue
        descending = part.startswith("-")
        field = part.removeprefix("-")
        if field not in allowed:
            unknown.append(field)
        elif all(item.field != field for item in order):
            order.append(Order(field, descending))
    if unknown:
        raise AppError(
            400,
            f"Requested sort(s) `{', '.join(unknown)}` is not allowed. Allowed sort(s) are `{', '.join(allowed)}`.",
        )
    return tuple(order)


def documented_parameters(allowed: AllowedQuery) -> list[tuple[str, str, str]]:
    """The parameters for the OpenAPI document: name, type, description."""
    documented = [
        (f"filter[{name}]", "string", f"Exact {name}; comma-separated for any of.") for name in allowed.filters
    ]
    sorts = " or ".join(allowed.sorts)
    documented += [
        ("sort", "string", f"Sort field: {sorts}; prefix with - for descending; comma-separated."),
        ("page", "integer", "Page number, from 1 (anything else reads as 1; past the end: an empty page)."),
        (
            "per_page",
            "integer",
            f"Results per page (default {DEFAULT_PER_PAGE}); above {MAX_PER_PAGE} clamped to {MAX_PER_PAGE}, "
            f"0 or below reads as {DEFAULT_PER_PAGE}.",
        ),
    ]
    return documented
