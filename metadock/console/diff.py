"""Two payloads side by side: a line diff (difflib) shaped into rows the template renders, escaping every line."""

from __future__ import annotations

import difflib
from dataclasses import dataclass

MAX_DIFF_LINES = 5000  # per side: difflib is quadratic at worst, and nobody reads further in a page


@dataclass(frozen=True, slots=True)
class DiffRow:
    kind: str  # "same", "changed", "removed" (left only), "added" (right only)
    left_number: int | None
    left: str
    right_number: int | None
    right: str


@dataclass(frozen=True, slots=True)
class SideBySide:
    rows: list[DiffRow]
    changed: int  # rows that differ
    truncated: bool


def side_by_side(left: list[str], right: list[str]) -> SideBySide:
    truncated = len(left) > MAX_DIFF_LINES or len(right) > MAX_DIFF_LINES
    left, right = left[:MAX_DIFF_LINES], right[:MAX_DIFF_LINES]
    rows: list[DiffRow] = []
    matcher = difflib.SequenceMatcher(a=left, b=right, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            pairs = zip(range(i1, i2), range(j1, j2), strict=True)
            rows.extend(DiffRow("same", i + 1, left[i], j + 1, right[j]) for i, j in pairs)
            continue
        span = max(i2 - i1, j2 - j1)
        for offset in range(span):
            i, j = i1 + offset, j1 + offset
            has_left, has_right = i < i2, j < j2
            kind = "changed" if has_left and has_right else ("removed" if has_left else "added")
            rows.append(
                DiffRow(
                    kind,
                    i + 1 if has_left else None,
                    left[i] if has_left else "",
                    j + 1 if has_right else None,
                    right[j] if has_right else "",
                )
            )
    return SideBySide(rows, sum(1 for row in rows if row.kind != "same"), truncated)
