"""XPath-lite for XML tag rules: a rule whose content type is XML (``application/xml``, ``text/xml`` or a ``+xml``
type) holds in its ``pointer`` an element path from the root, ``/order/id``, optionally ending in an attribute,
``/order/@id``. No predicates, wildcards, ``//``, axes or functions.

- **Value**: the text directly inside the first element the path names, in document order (``/orders/order/id``
  on several orders: the first order's id), surrounding whitespace removed; an element with child elements, or
  with no text, gives no tag (as a JSON object or array does). An attribute: its value, as given.
- **Namespaces are ignored**: names are compared by their local part, so ``/order/id`` matches
  ``<o:order xmlns:o="urn:x"><o:id>…`` and ``<order xmlns="urn:x"><id>…``; a path cannot name a prefix.
- **Safe by refusal**: the parser is expat (the standard library's ``pyexpat``), fed the capture's bounded head
  chunk by chunk (no copy of the whole; no tree is built). A document with a DTD (``<!DOCTYPE``) is refused
  outright, so no entity can be declared: no entity expansion (billion laughs, quadratic blowup), no external
  entity or DTD fetched (XXE); an undeclared entity reference is an error. Any error (malformed, refused, an
  unknown encoding) anywhere in the document means no extracted tags, as for malformed JSON; the capture itself
  never fails for it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final
from xml.parsers import expat

from metadock.payloads.tag_tables import MAX_VALUE

# An XML name's local part (no ":"): a letter or _ then letters, digits, ".", "-", "_" (Unicode letters too).
_NAME: Final = re.compile(r"[^\W\d][\w.\-]*")
_XML_TYPES: Final = frozenset({"application/xml", "text/xml"})
_SEPARATOR: Final = "\x01"  # between a namespace URI and a local name in expat's names; never in either


def is_xml_type(essence: str) -> bool:
    return essence in _XML_TYPES or essence.endswith("+xml")


class XmlPathError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class XmlPath:
    elements: tuple[str, ...]  # from the root element
    attribute: str | None = None


def parse_xml_path(text: str) -> XmlPath:
    if not text.startswith("/"):
        raise XmlPathError("An element path starts with / and names the root element first: /order/id.")
    steps = text[1:].split("/")
    attribute = steps.pop()[1:] if steps[-1].startswith("@") else None
    if attribute is not None and not _NAME.fullmatch(attribute):
        raise XmlPathError(f"{('@' + attribute)!r} is not an attribute name (no prefixes, wildcards or predicates).")
    if not steps:
        raise XmlPathError("An element path names at least the root element: /order/@id.")
    for step in steps:
        if not _NAME.fullmatch(step):
            raise XmlPathError(f"{step!r} is not an element name (no prefixes, wildcards, predicates or //).")
    return XmlPath(tuple(steps), attribute)


def _local(name: str) -> str:
    return name.rpartition(_SEPARATOR)[2]


class _Refused(Exception):
    """A DTD: nothing is extracted from this document."""


class _Extraction:
    """Follows the open elements' path; for each wanted (rule name, path), the first value found."""

    def __init__(self, wanted: Sequence[tuple[str, XmlPath]]) -> None:
        self.wanted = wanted
        self.found: dict[str, str] = {}
        self.stack: list[str] = []
        # The open element whose text a rule is collecting: (depth, rule name, text parts, has a child element).
        self.collecting: list[tuple[int, str, list[str], list[bool]]] = []

    def start(self, name: str, attributes: dict[str, str]) -> None:
        for _, _, _, child in self.collecting:
            child[0] = True  # the collecting element has a child element: no tag from it
        self.stack.append(_local(name))
        path = tuple(self.stack)
        for rule, xml_path in self.wanted:
            if rule in self.found or xml_path.elements != path:
                continue
            if xml_path.attribute is None:
                if not any(collected[1] == rule for collected in self.collecting):
                    self.collecting.append((len(path), rule, [], [False]))
                continue
            value = next((v for k, v in attributes.items() if _local(k) == xml_path.attribute), None)
            if value is not None and len(value) <= MAX_VALUE:
                self.found[rule] = value

    def end(self, _name: str) -> None:
        depth = len(self.stack)
        still: list[tuple[int, str, list[str], list[bool]]] = []
        for collected in self.collecting:
            at, rule, parts, child = collected
            if at != depth:
                still.append(collected)
                continue
            text = "".join(parts).strip()
            if text and not child[0] and len(text) <= MAX_VALUE:
                self.found[rule] = text
            # Otherwise this element gives nothing; a later one on the same path may.
        self.collecting = still
        self.stack.pop()

    def text(self, data: str) -> None:
        depth = len(self.stack)
        for at, _, parts, _ in self.collecting:
            if at == depth:
                parts.append(data)


def _refuse(*_args: object) -> int:
    raise _Refused


def extract_xml(wanted: Sequence[tuple[str, XmlPath]], chunks: Iterable[bytes]) -> dict[str, str]:
    """The values the paths find in the XML document ``chunks`` (the whole payload, already bounded), the first
    match of each; ``{}`` for a malformed document or one with a DTD."""
    extraction = _Extraction(wanted)
    parser = expat.ParserCreate(namespace_separator=_SEPARATOR)
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = _refuse
    parser.EntityDeclHandler = _refuse
    parser.ExternalEntityRefHandler = _refuse
    parser.StartElementHandler = extraction.start
    parser.EndElementHandler = extraction.end
    parser.CharacterDataHandler = extraction.text
    parser.buffer_text = True
    try:
        for chunk in chunks:
            parser.Parse(chunk, False)
        parser.Parse(b"", True)
    except (expat.ExpatError, _Refused, ValueError):
        return {}
    return extraction.found
