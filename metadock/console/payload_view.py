"""Showing a payload's bytes in a page: pretty-printed and highlighted text, or a hex preview for binary.

Payload bytes are hostile input. Pygments escapes every character it emits (``<``, ``>``, ``&``, quotes), the CSV
table and the hex view go through the template's autoescaping, and nothing here parses XML (an entity bomb or an
external entity has nothing to expand): XML is re-indented by a tokenizer that only splits between tags.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import re
from dataclasses import dataclass, field

from markupsafe import Markup
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexer import Lexer
from pygments.lexers import JsonLexer, TextLexer, XmlLexer

PREVIEW_BYTES = 1024 * 1024  # what a page shows of a payload
HEX_PREVIEW_BYTES = 4096
MAX_CSV_ROWS = 500
_FORMATTER = HtmlFormatter(cssclass="highlight", wrapcode=True)


@dataclass(frozen=True, slots=True)
class PayloadPreview:
    kind: str  # "json", "xml", "csv", "text", "binary", "empty"
    truncated: bool  # only the first PREVIEW_BYTES were read
    shown_bytes: int
    html: Markup | None = None  # highlighted text (already escaped by pygments)
    csv_rows: list[list[str]] = field(default_factory=list)
    hex_lines: list[tuple[str, str, str]] = field(default_factory=list)  # offset, hex, printable
    note: str | None = None  # e.g. why pretty-printing was skipped


def media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def _kind(content_type: str, text: str) -> str:
    media = media_type(content_type)
    if media.endswith(("/json", "+json")) or (media.startswith("text/plain") and text.lstrip()[:1] in ("{", "[")):
        return "json"
    if media.endswith(("/xml", "+xml")) or (media.startswith("text/") and text.lstrip().startswith("<?xml")):
        return "xml"
    if media in ("text/csv", "application/csv", "text/tab-separated-values"):
        return "csv"
    return "text"


def _decode(data: bytes, truncated: bool) -> str | None:
    """The bytes as UTF-8 text, or None for binary. A cut preview may end inside a character: drop that tail."""
    if b"\x00" in data:
        return None
    for cut in range(4 if truncated else 1):
        try:
            return data[: len(data) - cut].decode("utf-8")
        except UnicodeDecodeError:
            continue
    return None


def _pretty_json(text: str) -> tuple[str, str | None]:
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False), None
    except (ValueError, RecursionError):
        return text, "Not valid JSON (or cut short): shown as captured."


_XML_TOKEN = re.compile(r"(<[^>]*>)")


def _pretty_xml(text: str) -> str:
    """One element per line, indented by depth: for single-line documents only, leaving formatted ones alone."""
    if text.count("\n") > 3:
        return text
    lines: list[str] = []
    depth = 0
    for token in (part.strip() for part in _XML_TOKEN.split(text)):
        if not token:
            continue
        closing = token.startswith("</")
        special = token.startswith(("<?", "<!")) or token.endswith("/>")
        opening = token.startswith("<") and not closing and not special
        if closing:
            depth = max(depth - 1, 0)
        if not token.startswith("<") and lines and not lines[-1].lstrip().startswith("</"):
            lines[-1] += token  # text content stays on its element's line
        else:
            lines.append("  " * depth + token)
        if opening:
            depth += 1
    joined = "\n".join(lines)
    # Text followed by its closing tag reads better on one line: <a>text</a>.
    return re.sub(r"(<[^/!?][^>]*>[^<\n]+)\n\s*(</)", r"\1\2", joined)


def _csv_rows(text: str) -> list[list[str]]:
    dialect: type[csv.Dialect] | csv.Dialect = csv.excel
    with contextlib.suppress(csv.Error):
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t|")
    rows = []
    for index, row in enumerate(csv.reader(io.StringIO(text), dialect)):
        if index >= MAX_CSV_ROWS:
            break
        rows.append(row)
    return rows


def _hex_lines(data: bytes) -> list[tuple[str, str, str]]:
    lines = []
    for offset in range(0, min(len(data), HEX_PREVIEW_BYTES), 16):
        chunk = data[offset : offset + 16]
        hex_part = " ".join(f"{byte:02x}" for byte in chunk)
        printable = "".join(chr(byte) if 32 <= byte < 127 else "." for byte in chunk)
        lines.append((f"{offset:08x}", hex_part, printable))
    return lines


def _highlight(text: str, lexer: Lexer) -> Markup:
    return Markup(highlight(text, lexer, _FORMATTER))  # noqa: S704 - pygments has escaped every character of text


def preview(data: bytes, content_type: str, *, truncated: bool) -> PayloadPreview:
    if not data:
        return PayloadPreview("empty", truncated, 0)
    text = _decode(data, truncated)
    if text is None:
        return PayloadPreview("binary", truncated, len(data), hex_lines=_hex_lines(data))
    kind = _kind(content_type, text)
    note = None
    if kind == "json":
        if not truncated:
            text, note = _pretty_json(text)
        return PayloadPreview(kind, truncated, len(data), html=_highlight(text, JsonLexer()), note=note)
    if kind == "xml":
        return PayloadPreview(kind, truncated, len(data), html=_highlight(_pretty_xml(text), XmlLexer()))
    if kind == "csv":
        rows = _csv_rows(text)
        note = f"The first {MAX_CSV_ROWS} rows are shown." if len(rows) >= MAX_CSV_ROWS else None
        return PayloadPreview(kind, truncated, len(data), csv_rows=rows, note=note)
    return PayloadPreview(kind, truncated, len(data), html=_highlight(text, TextLexer()))


def pretty_text(data: bytes, content_type: str) -> list[str] | None:
    """The lines two payloads are compared by (JSON and XML re-indented first), or None for binary."""
    text = _decode(data, truncated=True)
    if text is None:
        return None
    kind = _kind(content_type, text)
    if kind == "json":
        text = _pretty_json(text)[0]
    elif kind == "xml":
        text = _pretty_xml(text)
    return text.splitlines()


def stylesheet() -> str:
    """The highlighting colours, served as a static file (no inline style under the pages' CSP)."""
    return str(_FORMATTER.get_style_defs(".highlight"))
