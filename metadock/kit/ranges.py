"""HTTP byte ranges (RFC 9110 §14): one range per request; anything else is served whole, as the RFC allows."""

from __future__ import annotations

import re
from dataclasses import dataclass

_SINGLE_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)


class Unsatisfiable(Exception):
    pass


@dataclass(frozen=True, slots=True)
class ByteRange:
    start: int
    end: int  # exclusive

    def content_range(self, size: int) -> str:
        return f"bytes {self.start}-{self.end - 1}/{size}"


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """The range to serve, or None for the whole body; raises :class:`Unsatisfiable` for a 416."""
    if not header:
        return None
    match = _SINGLE_RANGE.match(header)
    if match is None or (not match[1] and not match[2]):
        return None  # malformed or multi-range: ignore the header and send everything
    if not match[1]:  # bytes=-N: the last N bytes
        suffix = int(match[2])
        if suffix == 0 or size == 0:
            raise Unsatisfiable
        return ByteRange(max(size - suffix, 0), size)
    start = int(match[1])
    end = int(match[2]) + 1 if match[2] else size
    if match[2] and end <= start:
        return None  # last-byte-pos before first-byte-pos is invalid syntax: ignore it
    if start >= size:
        raise Unsatisfiable
    return ByteRange(start, min(end, size))


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    candidates = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return "*" in candidates or etag in candidates
