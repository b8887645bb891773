"""Business keys (tags) of a capture: given as ``tag[<name>]=<value>`` query parameters, extracted from the payload by
the tenant's rules (RFC 6901 JSON pointers; element paths for XML, ``payloads/xml_paths.py``), and the request's
trace id when tracing is on.

Extraction reads only what the capture already streams: the first :attr:`CaptureTags.head_limit` bytes are kept in
memory (the chunks themselves, no copy) while the store writes them, and a payload that fit is parsed once, after
the store has it. A larger, malformed or non-JSON payload simply gets no extracted tags; extraction never fails a
capture. A value that is not a string, number or boolean (an object, an array, null), or longer than
:data:`MAX_VALUE` characters, gives no tag either.

Precedence when one name comes from several places: the trace id over the client's ``tag[...]`` over a rule.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import msgspec

from metadock.kit.errors import Violation
from metadock.payloads.tag_tables import MAX_NAME, MAX_VALUE
from metadock.payloads.xml_paths import XmlPath, extract_xml, is_xml_type, parse_xml_path

MAX_TAGS: Final = 16  # given by the client on one capture
MAX_RULES: Final = 16  # per tenant
TRACE_TAG: Final = "trace_id"
TAG_FILTER_PREFIX: Final = "tag."  # filter[tag.<name>] on the list
NAME: Final = re.compile(rf"[a-z0-9_]{{1,{MAX_NAME}}}")
_TAG_PARAM: Final = re.compile(r"tag\[(?P<name>[^\[\]]*)\]")
# Rules are read from the database at most this often per tenant and worker; a new or deleted rule is in force on
# every worker within this many seconds (at once on the worker that served the change).
RULES_TTL_SECONDS: Final = 5.0
_ARRAY_INDEX: Final = re.compile(r"0|[1-9][0-9]{0,17}")


class PointerError(ValueError):
    pass


def parse_pointer(text: str) -> tuple[str, ...]:
    """RFC 6901: ``""`` (the whole document) or ``/``-separated tokens, ``~1`` for ``/`` and ``~0`` for ``~``."""
    if text == "":
        return ()
    if not text.startswith("/"):
        raise PointerError("A JSON pointer must be empty or start with /.")
    tokens = text[1:].split("/")
    if any(re.search(r"~(?![01])", token) for token in tokens):
        raise PointerError("In a JSON pointer, ~ must be followed by 0 or 1.")
    # ~1 first would turn "~01" into "/"; RFC 6901 says ~1 then ~0 ("~01" is "~1").
    return tuple(token.replace("~1", "/").replace("~0", "~") for token in tokens)


def resolve(document: Any, tokens: Sequence[str]) -> Any:
    """The value at ``tokens``, or :data:`MISSING`: an array member by its decimal index (no leading zeros; ``-``,
    past the end, names nothing)."""
    value = document
    for token in tokens:
        if isinstance(value, dict):
            if token not in value:
                return MISSING
            value = value[token]
        elif isinstance(value, list):
            if not _ARRAY_INDEX.fullmatch(token) or int(token) >= len(value):
                return MISSING
            value = value[int(token)]
        else:
            return MISSING
    return value


MISSING: Final = object()


def tag_text(value: Any) -> str | None:
    """A scalar as tag text: a string as it is, a number as JSON writes it, a boolean as ``true``/``false``; None
    for anything else (an object, an array, null) and for text longer than a tag value may be."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str):
        text = value
    elif isinstance(value, int | float):
        text = msgspec.json.encode(value).decode()
    else:
        return None
    return text if len(text) <= MAX_VALUE and "\x00" not in text else None


def parse_tag_params(params: Iterable[tuple[str, str]], violations: list[Violation]) -> dict[str, str]:
    """``tag[<name>]=<value>`` parameters, validated as Laravel validates an array input (``tag.<name>`` paths)."""
    tags: dict[str, str] = {}
    for key, value in params:
        if key == "tag":  # tag=…: a value where Laravel's array rule wants tag[<name>]=<value>
            violations.append(Violation("tag", "The tag field must be an array."))
            continue
        if not key.startswith("tag["):
            continue
        match = _TAG_PARAM.fullmatch(key)
        name = match["name"] if match else key[4:]
        path = f"tag.{name[: MAX_NAME + 1]}"
        if match is None or not NAME.fullmatch(name):
            violations.append(Violation(path, f"A tag name must be 1 to {MAX_NAME} characters of a-z, 0-9 and _."))
        elif len(value) > MAX_VALUE:
            violations.append(Violation(path, f"The {path} field must not be greater than {MAX_VALUE} characters."))
        elif "\x00" in value:  # PostgreSQL text cannot hold NUL
            violations.append(Violation(path, f"The {path} field must not contain NUL characters."))
        else:
            tags[name] = value
    if len(tags) > MAX_TAGS:
        violations.append(Violation("tag", f"The tag field must not have more than {MAX_TAGS} items."))
    return tags


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    content_type: str
    pointer: tuple[str, ...]  # a JSON rule's
    xml: XmlPath | None = None  # an XML rule's (its content type is XML)


def parse_rule(name: str, content_type: str, pointer: str) -> Rule:
    """A rule as stored: ``pointer`` is an element path when ``content_type`` is XML, a JSON pointer otherwise.
    Raises :class:`PointerError` or ``XmlPathError``."""
    if is_xml_type(content_type):
        return Rule(name, content_type, (), parse_xml_path(pointer))
    return Rule(name, content_type, parse_pointer(pointer))


def media_type_essence(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def extract(rules: Sequence[Rule], content_type: str, head: Sequence[bytes]) -> dict[str, str]:
    """The tags ``rules`` find in a whole payload ``head`` of ``content_type``; empty when none applies or the
    payload is not JSON (not XML, for an XML type)."""
    essence = media_type_essence(content_type)
    applicable = [rule for rule in rules if rule.content_type == essence]
    if not applicable:
        return {}
    if is_xml_type(essence):
        return extract_xml([(rule.name, rule.xml) for rule in applicable if rule.xml is not None], head)
    try:
        document = msgspec.json.decode(b"".join(head))
    except msgspec.DecodeError:
        return {}
    found: dict[str, str] = {}
    for rule in applicable:
        text = tag_text(resolve(document, rule.pointer))
        if text is not None:
            found.setdefault(rule.name, text)
    return found


class RuleCache:
    """Each tenant's rules, read from the database at most every :data:`RULES_TTL_SECONDS` per worker process."""

    def __init__(self, ttl_seconds: float = RULES_TTL_SECONDS) -> None:
        self.ttl_seconds = ttl_seconds
        self._rules: dict[int, tuple[float, tuple[Rule, ...]]] = {}

    def fresh(self, tenant_id: int) -> tuple[Rule, ...] | None:
        entry = self._rules.get(tenant_id)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def put(self, tenant_id: int, rules: tuple[Rule, ...]) -> None:
        if len(self._rules) > 10_000:  # bounded: tenants idle for a TTL are re-read anyway
            self._rules.clear()
        self._rules[tenant_id] = (time.monotonic() + self.ttl_seconds, rules)

    def forget(self, tenant_id: int) -> None:
        self._rules.pop(tenant_id, None)

    def clear(self) -> None:
        self._rules.clear()


RULES = RuleCache()
