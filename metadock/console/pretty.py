"""A tolerant, streaming pretty-printer for JSON, XML and text: it formats a *slice* of a payload's bytes.

Nothing here parses the document: a tokenizer re-indents whatever it is given, so the first part of a 3 MB minified
document (or a malformed one, or one cut anywhere) is formatted as well as a whole one. Each slice starts at a
:class:`Cursor` (byte offset, nesting depth, inside a JSON string or not) and ends at the next line boundary after its
line or size budget, returning the cursor to continue from: "show more" reads the next bytes from the store there,
so no slice ever needs the bytes before it.

The output is lines of (css class, text) segments; :func:`html_lines` escapes every character (payloads are hostile).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from markupsafe import Markup, escape

SLICE_BYTES = 96 * 1024  # read from the store per slice (tokenized at once: keep it small, see diff.py)
MAX_LINES = 1500  # per slice
MAX_CHARS = 150_000  # characters shown per slice: with escaping, well under 1 MB of HTML
MAX_LINE_CHARS = 2000  # a longer line (a 1 MB base64 string) is shown cut, with how much was left out
MAX_INDENT = 32  # levels: 100k nested "[" must not make each line 200 kB of spaces

Segment = tuple[str, str]  # css class ("" for none), text
Line = list[Segment]


@dataclass(frozen=True, slots=True)
class Cursor:
    offset: int = 0
    depth: int = 0
    in_string: bool = False  # JSON only: the slice starts inside a string a previous slice cut

    def encode(self) -> str:
        return f"{self.offset}.{self.depth}.{int(self.in_string)}"

    @classmethod
    def decode(cls, raw: str | None) -> Cursor:
        """The cursor of a "show more" link; anything malformed starts from the beginning (it only shifts a view)."""
        parts = (raw or "").split(".")
        if len(parts) != 3 or not all(part.isdigit() and len(part) < 12 for part in parts):
            return cls()
        return cls(int(parts[0]), min(int(parts[1]), 1_000_000), parts[2] == "1")


@dataclass(frozen=True, slots=True)
class Slice:
    lines: list[Line]
    next: Cursor | None  # where the next slice starts; None at the end of the payload
    cut_lines: int  # lines shown shortened


class _Builder:
    """Lines with a budget: stops at a line boundary once it has enough."""

    def __init__(self, start: Cursor, max_lines: int) -> None:
        self.depth = start.depth
        self.line_start = Cursor(start.offset, start.depth, start.in_string)  # where the current line began
        self.lines: list[Line] = []
        self.current: Line = []
        self.length = 0
        self.chars = 0
        self.cut_lines = 0
        self.max_lines = max_lines

    def add(self, css: str, text: str) -> None:
        room = MAX_LINE_CHARS - self.length
        if room <= 0:
            return
        if len(text) > room:
            self.current.append((css, text[:room]))
            self.current.append(("cut", f" … ({len(text) - room} more characters on this line; download for all)"))
            self.cut_lines += 1
            self.length = MAX_LINE_CHARS
            return
        self.current.append((css, text))
        self.length += len(text)

    def newline(self, offset: int, resume_depth: int | None = None) -> None:
        """End the current line; the next one begins at the token at ``offset`` (absolute), and a slice resuming
        there starts at ``resume_depth`` (a closing bracket lowers the depth again when it is read again)."""
        self.line_start = Cursor(offset, self.depth if resume_depth is None else resume_depth)
        if self.has_text():
            self.lines.append(self.current)
            self.chars += self.length
        self.current = [("", "  " * min(max(self.depth, 0), MAX_INDENT))] if self.depth > 0 else []
        self.length = 0

    def full(self) -> bool:
        return len(self.lines) >= self.max_lines or self.chars >= MAX_CHARS

    def has_text(self) -> bool:
        return any(text.strip() for _, text in self.current)

    def ran_out(self, position: int, *, in_string: bool = False) -> Slice:
        """The slice's bytes ended mid-line: stop before that line, so the next slice shows it whole. A line longer
        than a whole slice (a huge string) is shown in part instead, and the next slice goes on from ``position``."""
        if self.lines:
            return Slice(self.lines, self.line_start, self.cut_lines)
        return Slice(self.finish(), Cursor(position, self.depth, in_string), self.cut_lines)

    def finish(self) -> list[Line]:
        if self.has_text():
            self.lines.append(self.current)
        return self.lines


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace")


_JSON_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"|[{}\[\],:]|[^{}\[\],:"\s]+|\s+|"(?:[^"\\]|\\.)*\\?\Z', re.DOTALL)
_STRING_REST = re.compile(rb'(?:[^"\\]|\\.)*"?', re.DOTALL)
_LITERALS = frozenset({b"true", b"false", b"null"})


def json_slice(data: bytes, start: Cursor, *, eof: bool, max_lines: int = MAX_LINES) -> Slice:
    """Re-indent JSON tokens from ``start`` (``data`` holds the payload's bytes from ``start.offset`` on)."""
    out = _Builder(start, max_lines)
    out.newline(start.offset)
    out.line_start = start
    position = 0
    if start.in_string:  # the rest of a string a previous slice cut: shown as a string value
        match = _STRING_REST.match(data)
        end = match.end() if match else len(data)
        out.add("s2", _decode(data[:end]))
        position = end
        if not data[:end].endswith(b'"'):
            return Slice(out.finish(), None if eof else Cursor(start.offset + end, out.depth, True), out.cut_lines)
    # (start, end, bytes) of each token but whitespace, so the look-ahead and look-behind are plain indexing.
    tokens = [(m.start(), m.end(), m.group()) for m in _JSON_TOKEN.finditer(data, position) if not m.group().isspace()]
    last = len(tokens) - 1
    for index, (begin, finish, token) in enumerate(tokens):
        at = start.offset + begin
        if index == last and not eof:
            if token.startswith(b'"') and not (len(token) > 1 and token.endswith(b'"')) and not out.lines:
                out.add("s2", _decode(token))  # a string longer than the slice: shown in part
                return out.ran_out(start.offset + finish, in_string=True)
            return out.ran_out(at)
        if out.full() and not out.has_text():
            return Slice(out.lines, out.line_start, out.cut_lines)
        following = tokens[index + 1][2] if index < last else b""
        if token in (b"{", b"["):
            out.add("p", token.decode())
            if following in (b"}", b"]"):  # an empty {} or [] stays on one line
                continue
            out.depth += 1
            out.newline(start.offset + finish)
        elif token in (b"}", b"]"):
            if not index or tokens[index - 1][2] not in (b"{", b"["):
                out.depth -= 1
                out.newline(at, out.depth + 1)
            out.add("p", token.decode())
        elif token == b",":
            out.add("p", ",")
            out.newline(start.offset + finish)
        elif token == b":":
            out.add("p", ": ")
        elif token[:1] == b'"':
            out.add("nt" if following == b":" else "s2", _decode(token))
        else:
            css = "kc" if token in _LITERALS else ("m" if token[:1] in b"-0123456789" else "err")
            out.add(css, _decode(token))
    if not eof:
        return out.ran_out(start.offset + len(data))
    return Slice(out.finish(), None, out.cut_lines)


_XML_TOKEN = re.compile(rb"<!--.*?-->|<!\[CDATA\[.*?\]\]>|<[^<>]*>|[^<]+|<", re.DOTALL)


def xml_slice(data: bytes, start: Cursor, *, eof: bool, max_lines: int = MAX_LINES) -> Slice:
    """One element per line, indented by depth; text stays on its element's line. A tokenizer, never a parser."""
    out = _Builder(start, max_lines)
    out.newline(start.offset)
    tokens = list(_XML_TOKEN.finditer(data))
    open_with_text = False  # the current line is "<a>text": its closing tag joins it
    for index, match in enumerate(tokens):
        token = match.group()
        at = start.offset + match.start()
        if index == len(tokens) - 1 and not eof and index > 0:
            return out.ran_out(at)
        if not token.strip():
            continue
        text = _decode(token.strip())
        if not token.startswith(b"<") or token == b"<":
            out.add("", text)
            open_with_text = open_with_text or len(out.current) <= 3
            continue
        if token.startswith(b"</"):
            out.depth -= 1
            if not open_with_text:
                out.newline(at, out.depth + 1)
            out.add("nt", text)
            open_with_text = False
            continue
        if out.full():
            return Slice(out.finish(), Cursor(at, out.depth), out.cut_lines)
        out.newline(at)
        special = token.startswith((b"<?", b"<!")) or token.endswith(b"/>")
        out.add("c" if token.startswith(b"<!--") else "nt", text)
        if not special:
            out.depth += 1
        open_with_text = not special
    if not eof:
        return out.ran_out(start.offset + len(data))
    return Slice(out.finish(), None, out.cut_lines)


def text_slice(data: bytes, start: Cursor, *, eof: bool, max_lines: int = MAX_LINES) -> Slice:
    """Text as captured, line by line (a last line cut by the slice is left for the next one)."""
    out = _Builder(Cursor(start.offset), max_lines)
    position = 0
    while position < len(data):
        end = data.find(b"\n", position)
        if end < 0:
            if not eof and out.lines:
                break
            end = len(data)
        out.add("", _decode(data[position:end]).rstrip("\r"))
        out.lines.append(out.current)
        out.chars += out.length
        out.current, out.length = [], 0
        position = end + 1
        if out.full():
            break
    done = eof and position >= len(data)
    return Slice(out.lines, None if done else Cursor(start.offset + min(position, len(data))), out.cut_lines)


def html_lines(lines: list[Line]) -> Markup:
    """The lines as highlighted HTML (pygments' class names, so highlight.css colours them); every character
    escaped."""
    rendered = []
    for line in lines:
        rendered.append(
            "".join(
                str(escape(text)) if not css else f'<span class="{css}">{escape(text)}</span>' for css, text in line
            )
        )
    return Markup("\n".join(rendered))  # noqa: S704 - built from escaped text and fixed class names


def plain_lines(lines: list[Line]) -> list[str]:
    return ["".join(text for css, text in line if css != "cut") for line in lines]
