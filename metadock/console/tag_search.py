"""The console's tag search box: ``name=value`` (``order_id=1234``; ``a,b`` = any of, as the API's filter) read into
the payload list's own query, so the console adds no SQL and no grammar of its own beyond the box's one line."""

from __future__ import annotations

from dataclasses import dataclass

from metadock.kit.errors import bad_request
from metadock.kit.query import MAX_FILTER_VALUES, ListQuery
from metadock.payloads.query import parse_list_query
from metadock.payloads.tag_tables import MAX_NAME, MAX_VALUE
from metadock.payloads.tags import NAME, TAG_FILTER_PREFIX

SYNTAX_HINT = "name=value, e.g. order_id=1234; order_id=1234,1235 finds either"


@dataclass(frozen=True, slots=True)
class TagSearch:
    name: str
    value: str  # as typed, surrounding spaces removed; commas separate values of which any may match

    @property
    def text(self) -> str:
        return f"{self.name}={self.value}"

    def params(self) -> list[tuple[str, str]]:
        """The payload list's parameters for this search (``filter[tag.<name>]``)."""
        return [(f"filter[{TAG_FILTER_PREFIX}{self.name}]", self.value)]

    def query(self, *, page: int, per_page: int) -> ListQuery:
        """Newest first, through the list's parser: its allow-list and limits apply here as they do to the API."""
        params = [*self.params(), ("sort", "-id"), ("page", str(page)), ("per_page", str(per_page))]
        return parse_list_query(params)


def parse_tag_search(raw: str | None) -> TagSearch | None:
    """None for an empty box; a 400 with one plain sentence for anything that is not ``name=value``."""
    text = (raw or "").strip()
    if not text:
        return None
    name, equals, value = text.partition("=")
    name, value = name.strip().lower(), value.strip()
    if not equals:
        raise bad_request(f"Search by tag as {SYNTAX_HINT}.")
    if not NAME.fullmatch(name):
        raise bad_request(f"A tag name is 1 to {MAX_NAME} characters of a-z, 0-9 and _ (then =value).")
    parts = value.split(",")
    if not value or any(not part for part in parts):
        raise bad_request(f"Give the value to look for after {name}=, e.g. {name}=1234.")
    if len(parts) > MAX_FILTER_VALUES:
        raise bad_request(f"Search for at most {MAX_FILTER_VALUES} values at once.")
    if any(len(part) > MAX_VALUE for part in parts):
        raise bad_request(f"A tag value is at most {MAX_VALUE} characters.")
    if "\x00" in value:
        raise bad_request("A tag value cannot contain a NUL character.")
    return TagSearch(name, value)
