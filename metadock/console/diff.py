"""Two payloads side by side: a line diff, word-level highlights inside changed lines, and a "changes only" view
with context. CPU-bound: the compare page runs :func:`compare` in a thread.

Lines are matched by rapidfuzz's Levenshtein alignment on whole lines (bit-parallel, in C): its cost depends only on
the two lengths, never on their content, so with at most MAX_DIFF_LINES a side it is bounded (~10 ms for two 160 KB
documents, ~40 ms for 10,000 lines that all differ) where difflib's took 100-150 ms on a JSON document's repeated
lines and needed a deadline. A changed line is paired with the line it replaces; word highlights use the same
alignment on the line's words.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import msgspec
from markupsafe import Markup, escape
from rapidfuzz.distance import Levenshtein

from metadock.console.payload_view import content_kind, format_slice
from metadock.console.pretty import Cursor, plain_lines

MAX_DIFF_LINES = 10_000  # per side
MAX_SHOWN_CHARS = 200_000  # per page: the rows' text plus ROW_COST each, so the page stays under 1 MB of HTML
ROW_COST = 160  # a row's markup (cells, classes, hidden "added:" labels)
WINDOW = 48 * 1024  # bytes formatted at a time
CONTEXT = 3  # unchanged lines kept around each change in the "changes only" view
MAX_WORD_DIFF_CHARS = 1000  # longer changed lines are highlighted whole
MAX_WORD_DIFF_ROWS = 400  # further changed lines are highlighted whole, so the page keeps to its time
_WORDS = re.compile(r"\w+|\s+|[^\w\s]")

Block = tuple[bool, int, int, int, int]  # equal?, left start, left end, right start, right end


def _blocks(left: Sequence[str], right: Sequence[str]) -> Iterator[Block]:
    """The alignment as alternating blocks: equal runs, and changed runs (lines replaced, removed and added next to
    each other merged into one block, whose lines are then paired by position)."""
    pending: Block | None = None
    for code in Levenshtein.opcodes(left, right):
        if code.tag == "equal":
            if pending is not None:
                yield pending
                pending = None
            yield (True, code.src_start, code.src_end, code.dest_start, code.dest_end)
        elif pending is None:
            pending = (False, code.src_start, code.src_end, code.dest_start, code.dest_end)
        else:
            pending = (False, pending[1], code.src_end, pending[3], code.dest_end)
    if pending is not None:
        yield pending


@dataclass(frozen=True, slots=True)
class DiffRow:
    kind: str  # "same", "changed", "removed" (left only), "added" (right only), "gap" (unchanged lines hidden)
    left_number: int | None
    left: Markup
    right_number: int | None
    right: Markup
    hidden: int = 0  # for a gap: how many unchanged lines it stands for


@dataclass(frozen=True, slots=True)
class Comparison:
    rows: list[DiffRow]
    changed: int  # lines that differ
    truncated: bool  # the rows stop before the end (line or page budget)
    json_note: str | None  # why the JSON-aware comparison was not possible


def _parsed_lines(data: bytes, *, sort_keys: bool) -> list[str] | None:
    """A whole, valid JSON document re-indented in C by msgspec (the json module's indenting encoder is pure Python,
    ~80 ms for 160 KB), or None. As it is, only the whitespace changes (the payload's own escapes stay); JSON-aware,
    the document is parsed once and written back with every object's keys sorted."""
    try:
        text = msgspec.json.encode(msgspec.json.decode(data), order="sorted") if sort_keys else data
        formatted = msgspec.json.format(text, indent=2)
    except (msgspec.DecodeError, msgspec.EncodeError, ValueError, RecursionError):
        return _parsed_by_json_module(data, sort_keys=sort_keys)
    return formatted.decode("utf-8", errors="replace").splitlines()[:MAX_DIFF_LINES]


def _parsed_by_json_module(data: bytes, *, sort_keys: bool) -> list[str] | None:
    """What msgspec refuses but the json module reads (integers past 64 bits, say), or None."""
    try:
        text = json.dumps(json.loads(data), indent=2, sort_keys=sort_keys, ensure_ascii=False)
    except (ValueError, RecursionError):
        return None
    return text.splitlines()[:MAX_DIFF_LINES]


def compare_lines(data: bytes, content_type: str, *, eof: bool, json_aware: bool) -> tuple[list[str], str | None]:
    """The lines two payloads are compared by: pretty-printed, or (JSON-aware) the parsed document with its keys
    sorted, so a reordered object compares equal. A cut or malformed document goes through the tolerant formatter."""
    kind = content_kind(content_type, data)
    note = None
    if kind == "json" and eof:
        parsed = _parsed_lines(data, sort_keys=json_aware)
        if parsed is not None:
            return parsed, None
        note = "Not valid JSON: compared as formatted text." if json_aware else None
    elif json_aware:
        note = (
            "The payloads are too large to parse whole: compared as formatted text."
            if kind == "json"
            else "Not JSON: compared as formatted text."
        )
    lines: list[str] = []
    cursor: Cursor | None = Cursor()
    while cursor is not None and len(lines) < MAX_DIFF_LINES and cursor.offset < len(data):
        # A slice's window at a time: the tokenizer runs in C without releasing the GIL, so a whole megabyte at
        # once would stall the event loop's thread for that long even though this runs in a worker thread.
        window = data[cursor.offset : cursor.offset + WINDOW]
        piece = format_slice(window, kind, cursor, eof=eof and cursor.offset + WINDOW >= len(data))
        lines.extend(plain_lines(piece.lines))
        if piece.next is not None and piece.next.offset <= cursor.offset:
            break  # no progress (cannot happen with a well-formed cursor; never loop on one)
        cursor = piece.next
    return lines[:MAX_DIFF_LINES], note


def _words(left: str, right: str) -> tuple[Markup, Markup]:
    """Both lines with the words that differ marked (<del>/<ins>); every character escaped."""
    if len(left) > MAX_WORD_DIFF_CHARS or len(right) > MAX_WORD_DIFF_CHARS:
        return Markup(f"<del>{escape(left)}</del>"), Markup(f"<ins>{escape(right)}</ins>")  # noqa: S704
    a, b = _WORDS.findall(left), _WORDS.findall(right)
    old, new = [], []
    for equal, i1, i2, j1, j2 in _blocks(a, b):
        removed, added = escape("".join(a[i1:i2])), escape("".join(b[j1:j2]))
        if equal:
            old.append(str(removed))
            new.append(str(added))
            continue
        if removed:
            old.append(f"<del>{removed}</del>")
        if added:
            new.append(f"<ins>{added}</ins>")
    return Markup("".join(old)), Markup("".join(new))  # noqa: S704 - assembled from escaped text


def compare(left: list[str], right: list[str], *, changes_only: bool) -> Comparison:
    codes = list(_blocks(left, right))
    rows: list[DiffRow] = []
    changed = 0
    shown = 0
    truncated = False  # the rows stop before the end

    def add(row: DiffRow, length: int) -> None:
        nonlocal shown
        rows.append(row)
        shown += length + ROW_COST

    def same(i: int, j: int) -> None:
        add(DiffRow("same", i + 1, escape(left[i]), j + 1, escape(right[j])), 2 * len(left[i]))

    for index, (equal, i1, i2, j1, j2) in enumerate(codes):
        if shown > MAX_SHOWN_CHARS:
            # The page is full: the rest is only counted (no escaping, no word diff for rows nobody sees).
            truncated = True
            changed += 0 if equal else max(i2 - i1, j2 - j1)
            continue
        if equal:
            count = i2 - i1
            if changes_only and count > 2 * CONTEXT + 1:
                head = CONTEXT if index > 0 else 0
                tail = CONTEXT if index < len(codes) - 1 else 0
                for offset in range(head):
                    same(i1 + offset, j1 + offset)
                add(DiffRow("gap", None, Markup(), None, Markup(), hidden=count - head - tail), 0)
                keep = range(count - tail, count)
            else:
                keep = range(count)
            for offset in keep:
                if shown > MAX_SHOWN_CHARS:
                    truncated = True
                    break
                same(i1 + offset, j1 + offset)
            continue
        span = max(i2 - i1, j2 - j1)
        for offset in range(span):
            if shown > MAX_SHOWN_CHARS:
                truncated = True
                changed += span - offset
                break
            i, j = i1 + offset, j1 + offset
            has_left, has_right = i < i2, j < j2
            changed += 1
            if has_left and has_right:
                # Past enough rows, a changed line is marked whole: the word diff is the page's costliest part.
                whole = changed > MAX_WORD_DIFF_ROWS
                old, new = (escape(left[i]), escape(right[j])) if whole else _words(left[i], right[j])
                add(DiffRow("changed", i + 1, old, j + 1, new), len(left[i]) + len(right[j]))
            elif has_left:
                add(DiffRow("removed", i + 1, escape(left[i]), None, Markup()), len(left[i]))
            else:
                add(DiffRow("added", None, Markup(), j + 1, escape(right[j])), len(right[j]))
    return Comparison(rows, changed, truncated, None)
