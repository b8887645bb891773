"""Two payloads side by side: a line diff (difflib) with a time budget, word-level highlights inside changed lines,
and a "changes only" view with context. CPU-bound: the compare page runs :func:`compare` in a thread.

difflib is quadratic at worst (many repeated lines, like a JSON document's ``},``), so the common head and tail are
trimmed first and the matcher checks a deadline; past it the lines are paired by position, and the page says so.
"""

from __future__ import annotations

import difflib
import json
import re
import time
from dataclasses import dataclass

from markupsafe import Markup, escape

from metadock.console.payload_view import content_kind, format_slice
from metadock.console.pretty import Cursor, plain_lines

MAX_DIFF_LINES = 10_000  # per side
TIME_BUDGET = 0.15  # seconds of matching, then lines are paired by position (right for documents of one shape)
MAX_SHOWN_CHARS = 200_000  # per page: the rows' text plus ROW_COST each, so the page stays under 1 MB of HTML
ROW_COST = 160  # a row's markup (cells, classes, hidden "added:" labels)
WINDOW = 48 * 1024  # bytes formatted at a time
CONTEXT = 3  # unchanged lines kept around each change in the "changes only" view
MAX_WORD_DIFF_CHARS = 1000  # longer changed lines are highlighted whole
MAX_WORD_DIFF_ROWS = 400  # further changed lines are highlighted whole, so the page keeps to its time
_WORDS = re.compile(r"\w+|\s+|[^\w\s]")


class _OverBudget(Exception):
    pass


class _BudgetedMatcher(difflib.SequenceMatcher[str]):
    """difflib with a deadline checked between its matching steps. autojunk keeps each step short: lines that
    repeat everywhere (``},``) only extend matches found on rarer lines, instead of being tried against each other."""

    def __init__(self, a: list[str], b: list[str], deadline: float) -> None:
        self.deadline = deadline
        super().__init__(a=a, b=b, autojunk=True)

    def find_longest_match(
        self, alo: int = 0, ahi: int | None = None, blo: int = 0, bhi: int | None = None
    ) -> difflib.Match:
        if time.monotonic() > self.deadline:
            raise _OverBudget
        return super().find_longest_match(alo, ahi, blo, bhi)


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
    over_budget: bool  # matching took too long: lines paired by position
    json_note: str | None  # why the JSON-aware comparison was not possible


def _parsed_lines(data: bytes, *, sort_keys: bool) -> list[str] | None:
    """A whole, valid JSON document re-indented by the json module (much faster than the tokenizer, which is for
    documents that are cut or malformed), or None."""
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
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        removed, added = escape("".join(a[i1:i2])), escape("".join(b[j1:j2]))
        if tag == "equal":
            old.append(str(removed))
            new.append(str(added))
            continue
        if removed:
            old.append(f"<del>{removed}</del>")
        if added:
            new.append(f"<ins>{added}</ins>")
    return Markup("".join(old)), Markup("".join(new))  # noqa: S704 - assembled from escaped text


def _opcodes(left: list[str], right: list[str], deadline: float) -> tuple[list[tuple[str, int, int, int, int]], bool]:
    head = 0
    while head < min(len(left), len(right)) and left[head] == right[head]:
        head += 1
    tail = 0
    while tail < min(len(left), len(right)) - head and left[-1 - tail] == right[-1 - tail]:
        tail += 1
    middle_left, middle_right = left[head : len(left) - tail], right[head : len(right) - tail]
    codes: list[tuple[str, int, int, int, int]] = [("equal", 0, head, 0, head)] if head else []
    over = False
    try:
        inner = _BudgetedMatcher(middle_left, middle_right, deadline).get_opcodes()
    except _OverBudget:
        over = True
        inner = [("replace", 0, len(middle_left), 0, len(middle_right))]
    codes += [(tag, i1 + head, i2 + head, j1 + head, j2 + head) for tag, i1, i2, j1, j2 in inner]
    if tail:
        codes.append(("equal", len(left) - tail, len(left), len(right) - tail, len(right)))
    return codes, over


def compare(left: list[str], right: list[str], *, changes_only: bool, budget: float = TIME_BUDGET) -> Comparison:
    codes, over = _opcodes(left, right, time.monotonic() + budget)
    rows: list[DiffRow] = []
    changed = 0
    shown = 0
    truncated = False

    def add(row: DiffRow, length: int) -> bool:
        nonlocal shown, truncated
        if shown > MAX_SHOWN_CHARS:
            truncated = True
            return False
        rows.append(row)
        shown += length + ROW_COST
        return True

    for index, (tag, i1, i2, j1, j2) in enumerate(codes):
        if tag == "equal":
            count = i2 - i1
            keep = range(count)
            if changes_only and count > 2 * CONTEXT + 1:
                head = CONTEXT if index > 0 else 0
                tail = CONTEXT if index < len(codes) - 1 else 0
                keep = range(head)
                for offset in keep:
                    i, j = i1 + offset, j1 + offset
                    add(DiffRow("same", i + 1, escape(left[i]), j + 1, escape(right[j])), 2 * len(left[i]))
                add(DiffRow("gap", None, Markup(), None, Markup(), hidden=count - head - tail), 0)
                keep = range(count - tail, count)
            for offset in keep:
                i, j = i1 + offset, j1 + offset
                if not add(DiffRow("same", i + 1, escape(left[i]), j + 1, escape(right[j])), 2 * len(left[i])):
                    break
            continue
        span = max(i2 - i1, j2 - j1)
        for offset in range(span):
            i, j = i1 + offset, j1 + offset
            has_left, has_right = i < i2, j < j2
            changed += 1
            if has_left and has_right:
                # Past the page budget the row is not shown (skip its word diff); past enough rows, mark it whole.
                whole = shown > MAX_SHOWN_CHARS or changed > MAX_WORD_DIFF_ROWS
                old, new = (escape(left[i]), escape(right[j])) if whole else _words(left[i], right[j])
                row = DiffRow("changed", i + 1, old, j + 1, new)
            elif has_left:
                row = DiffRow("removed", i + 1, escape(left[i]), None, Markup())
            else:
                row = DiffRow("added", None, Markup(), j + 1, escape(right[j]))
            add(row, (len(left[i]) if has_left else 0) + (len(right[j]) if has_right else 0))
    return Comparison(rows, changed, truncated, over, None)
