"""Offset anchors: where a deep page of a list in primary-key order starts, without walking its whole offset.

An anchor says "in this query shape (table, tenant, filters with their values), the row at 0-based position
``offset`` has primary key ``key``", i.e. exactly ``offset`` rows of the shape have a smaller key. Anchors sit every
``spacing`` rows; page N then starts from the nearest anchor at or before its offset and walks only the difference.

An anchor stays true while no row of the shape is removed and no row with a smaller key appears. The repository that
uses anchors guarantees the second (its rows of one tenant commit in key order) and keeps a per-tenant *generation*
that every removal raises in the removing transaction. Each anchor carries the generation it was counted under and
is only trusted when the same generation is read no earlier than the page it served (README, Benchmarks).

One cache per worker process, bounded: least recently used shapes are forgotten past ``max_anchors`` anchors.
"""

from __future__ import annotations

import bisect
from collections import OrderedDict
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Anchor:
    offset: int
    key: int
    generation: int


@dataclass(slots=True)
class _ShapeAnchors:
    generation: int
    offsets: list[int] = field(default_factory=list)
    keys: list[int] = field(default_factory=list)


class AnchorCache:
    def __init__(self, max_anchors: int = 200_000) -> None:
        self.max_anchors = max_anchors
        self._shapes: OrderedDict[Hashable, _ShapeAnchors] = OrderedDict()
        self._size = 0

    def nearest(self, shape: Hashable, offset: int) -> Anchor | None:
        """The anchor at the largest offset not above ``offset``, if the shape has one."""
        anchors = self._shapes.get(shape)
        if anchors is None:
            return None
        self._shapes.move_to_end(shape)
        index = bisect.bisect_right(anchors.offsets, offset) - 1
        if index < 0:
            return None
        return Anchor(anchors.offsets[index], anchors.keys[index], anchors.generation)

    def add(self, shape: Hashable, generation: int, found: Iterable[tuple[int, int]]) -> None:
        """Remember ``(offset, key)`` pairs counted under ``generation``; the shape's anchors of any other generation
        are dropped (generations are compared for equality only: they start at random, see the repository)."""
        anchors = self._shapes.get(shape)
        if anchors is None or anchors.generation != generation:
            self.forget(shape)
            anchors = self._shapes[shape] = _ShapeAnchors(generation)
        self._shapes.move_to_end(shape)
        for offset, key in found:
            if len(anchors.offsets) >= self.max_anchors:
                break  # one shape alone at the bound: pages past its last anchor walk from there
            index = bisect.bisect_left(anchors.offsets, offset)
            if index < len(anchors.offsets) and anchors.offsets[index] == offset:
                continue
            anchors.offsets.insert(index, offset)
            anchors.keys.insert(index, key)
            self._size += 1
        while self._size > self.max_anchors and len(self._shapes) > 1:
            oldest = next(iter(self._shapes))
            self.forget(oldest)

    def forget(self, shape: Hashable) -> None:
        anchors = self._shapes.pop(shape, None)
        if anchors is not None:
            self._size -= len(anchors.offsets)

    def clear(self) -> None:
        self._shapes.clear()
        self._size = 0

    def count(self) -> int:
        return self._size

    def anchors(self, shape: Hashable) -> list[Anchor]:
        """Every anchor of the shape (for tests and diagnostics)."""
        anchors = self._shapes.get(shape)
        if anchors is None:
            return []
        return [Anchor(o, k, anchors.generation) for o, k in zip(anchors.offsets, anchors.keys, strict=True)]
