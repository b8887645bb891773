"""Showing a payload's bytes in a page: a slice of them pretty-printed and highlighted, a CSV table, or hex.

Payload bytes are hostile input. Every character reaches the page escaped (:func:`pretty.html_lines` and the
templates' autoescaping), and nothing here parses the document (an entity bomb or an external entity has nothing to
expand, and a malformed or cut document is shown as well as a valid one): see :mod:`metadock.console.pretty`.
"""

from __future__ import annotations

import contextlib
import csv
from collections.abc import Iterator
from dataclasses import dataclass, field

from markupsafe import Markup

from metadock.console.pretty import SLICE_BYTES, Cursor, Slice, html_lines, json_slice, text_slice, xml_slice
from metadock.kit.errors import AppError
from metadock.payloads.store import ObjectNotFound, PayloadStore

HEX_PREVIEW_BYTES = 4096
MAX_CSV_ROWS = 500
MAX_CSV_CELL = 500  # characters shown per cell


@dataclass(frozen=True, slots=True)
class ContentSlice:
    kind: str  # "json", "xml", "csv", "text", "binary", "empty"
    start: int  # byte offset this slice starts at
    end: int  # byte offset after what it shows
    html: Markup | None = None  # highlighted lines, every character escaped
    next: Cursor | None = None  # "show more" continues here
    csv_rows: list[list[str]] = field(default_factory=list)
    hex_lines: list[tuple[str, str, str]] = field(default_factory=list)  # offset, hex, printable
    note: str | None = None


def media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def content_kind(content_type: str, head: bytes) -> str:
    """What a payload is shown as, from its declared type and its first bytes."""
    media = media_type(content_type)
    start = head.lstrip()[:5]
    if b"\x00" in head[:8192]:
        return "binary"
    if media.endswith(("/json", "+json")) or (media.startswith("text/plain") and start[:1] in (b"{", b"[")):
        return "json"
    if media.endswith(("/xml", "+xml")) or (media.startswith("text/") and start.startswith(b"<?xml")):
        return "xml"
    if media in ("text/csv", "application/csv", "text/tab-separated-values"):
        return "csv"
    if not _is_text(head[:8192]):
        return "binary"
    return "text"


def _is_text(head: bytes) -> bool:
    for cut in range(4):  # a read may end inside a character
        try:
            head[: len(head) - cut].decode("utf-8")
        except UnicodeDecodeError:
            continue
        return True
    return False


async def read_bytes(
    store: PayloadStore, key: str, size: int, offset: int, length: int = SLICE_BYTES
) -> tuple[bytes, bool]:
    """Up to ``length`` bytes from ``offset`` (a range read: the rest never leaves the store), and whether they reach
    the payload's end."""
    start = min(offset, size)
    end = min(size, start + length)
    if end <= start:
        return b"", True
    try:
        chunks = await store.open(key, start=start, end=end)
        data = b"".join([chunk async for chunk in chunks])
    except ObjectNotFound:
        raise AppError(410, "The payload's bytes are gone from the store.") from None
    return data[: end - start], end >= size


def _csv_rows(data: bytes, *, eof: bool) -> tuple[list[list[str]], int, bool]:
    """Up to MAX_CSV_ROWS rows read from ``data`` (which starts at a row's beginning), the bytes they span, and
    whether they are all there is in ``data``. The reader is fed one physical line at a time, so the bytes it has
    taken after a row are exactly where the next row begins, even when a quoted cell holds line breaks; a line the
    read cut (no line break and more bytes after it) is left for the next slice."""
    lines = data.splitlines(keepends=True)
    if lines and not eof and not lines[-1].endswith((b"\n", b"\r")):
        lines.pop()
    taken = 0

    def physical_lines() -> Iterator[str]:
        nonlocal taken
        for line in lines:
            taken += len(line)
            yield line.decode("utf-8", errors="replace")  # UTF-8 never splits a character across a line break

    dialect: type[csv.Dialect] | csv.Dialect = csv.excel
    with contextlib.suppress(csv.Error):
        dialect = csv.Sniffer().sniff(data[:4096].decode("utf-8", errors="replace"), delimiters=",;\t|")
    rows: list[list[str]] = []
    ends: list[int] = []  # bytes spanned after each row
    try:
        for row in csv.reader(physical_lines(), dialect):
            rows.append([cell if len(cell) <= MAX_CSV_CELL else cell[:MAX_CSV_CELL] + " …" for cell in row])
            ends.append(taken)
            if len(rows) >= MAX_CSV_ROWS:
                break
    except csv.Error:
        pass  # a malformed line: the rows before it are shown
    if not eof and len(rows) > 1 and ends[-1] == sum(map(len, lines)):
        # The last row reached the end of what was read: the reader (not strict) ends a quoted cell that the read
        # cut as if it were complete. Leave that row to the next slice, which starts at its beginning.
        rows.pop()
        ends.pop()
    end = ends[-1] if ends else 0
    return rows, end, end >= len(data)


def _hex_lines(data: bytes, base: int) -> list[tuple[str, str, str]]:
    lines = []
    for offset in range(0, min(len(data), HEX_PREVIEW_BYTES), 16):
        chunk = data[offset : offset + 16]
        hex_part = " ".join(f"{byte:02x}" for byte in chunk)
        printable = "".join(chr(byte) if 32 <= byte < 127 else "." for byte in chunk)
        lines.append((f"{base + offset:08x}", hex_part, printable))
    return lines


def format_slice(data: bytes, kind: str, at: Cursor, *, eof: bool) -> Slice:
    if kind == "json":
        return json_slice(data, at, eof=eof)
    if kind == "xml":
        return xml_slice(data, at, eof=eof)
    return text_slice(data, at, eof=eof)


def content_slice(data: bytes, content_type: str, at: Cursor, *, eof: bool) -> ContentSlice:
    """What the page shows of ``data`` (the payload's bytes from ``at.offset``, up to a slice). CPU-bound: callers
    run it in a thread."""
    if not data and at.offset == 0:
        return ContentSlice("empty", 0, 0)
    kind = content_kind(content_type, data)
    if kind == "binary":
        shown = min(len(data), HEX_PREVIEW_BYTES)
        more = Cursor(at.offset + shown) if shown < len(data) or not eof else None
        return ContentSlice(kind, at.offset, at.offset + shown, next=more, hex_lines=_hex_lines(data, at.offset))
    if kind == "csv":
        rows, spanned, whole = _csv_rows(data, eof=eof)
        if spanned == 0 and rows == [] and data:
            # Not one row fits a slice (a single cell larger than a slice): shown as text instead.
            kind = "text"
        else:
            more = None if whole and eof else Cursor(at.offset + spanned)  # "show more": the next row's first byte
            return ContentSlice(kind, at.offset, at.offset + spanned, next=more, csv_rows=rows)
    piece = format_slice(data, kind, at, eof=eof)
    end = piece.next.offset if piece.next else at.offset + len(data)
    note = f"{piece.cut_lines} long lines are shown shortened." if piece.cut_lines else None
    return ContentSlice(kind, at.offset, end, html=html_lines(piece.lines), next=piece.next, note=note)
