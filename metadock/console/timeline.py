"""A run's timeline: its steps as lanes in capture order on a millisecond axis, each payload a mark, dropped ones
marked. Replaces the hourly chart on a run's page (a run usually lasts seconds, not hours).

Marks that would fall on the same pixel of the same lane are merged into one (its title says how many), so the SVG
stays small whatever the run's size.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from metadock.payloads.runs import RunMark

WIDTH = 760
LEFT = 86  # room for the lane labels
RIGHT = 14
TOP = 10
LANE_HEIGHT = 22
AXIS_HEIGHT = 30
MAX_LANES = 30  # further steps share the last lane
PIXELS_PER_BUCKET = 3


@dataclass(frozen=True, slots=True)
class Mark:
    x: float
    y: float
    count: int
    dropped: int
    label: str  # the mark's <title>
    href: str | None  # a single payload links to its page


@dataclass(frozen=True, slots=True)
class Lane:
    y: float
    label: str


@dataclass(frozen=True, slots=True)
class Tick:
    x: float
    label: str


@dataclass(frozen=True, slots=True)
class Timeline:
    width: int
    height: int
    left: int
    plot_width: int
    lane_height: int
    axis_y: float
    lanes: list[Lane]
    marks: list[Mark]
    ticks: list[Tick]
    description: str
    truncated: bool  # the run has more records than were drawn


def offset_label(milliseconds: float) -> str:
    """+0 ms, +250 ms, +1.5 s, +2 min 5 s: the offset from the run's first capture, as an operator reads it."""
    if milliseconds < 1000:
        return f"+{milliseconds:.0f} ms"
    if milliseconds < 60_000:
        return f"+{milliseconds / 1000:.3g} s"
    minutes, seconds = divmod(milliseconds / 1000, 60)
    if minutes < 60:
        return f"+{minutes:.0f} min {seconds:.0f} s"
    return f"+{minutes / 60:.1f} h"


def _tick_step(span_ms: float) -> float:
    """A round step (1, 2 or 5 times a power of ten ms) giving at most about 7 ticks."""
    step = 1.0
    while span_ms / step > 7:
        for factor in (2, 2.5, 2):  # 1 -> 2 -> 5 -> 10
            step *= factor
            if span_ms / step <= 7:
                break
    return step


def run_timeline(marks: list[RunMark], total: int) -> Timeline:
    plot_width = WIDTH - LEFT - RIGHT
    first = marks[0].created_at if marks else dt.datetime.now(dt.UTC)
    last = marks[-1].created_at if marks else first
    span_ms = max((last - first).total_seconds() * 1000, 1.0)
    order: dict[int, int] = {}
    for mark in marks:
        if mark.step_id not in order:
            order[mark.step_id] = min(len(order), MAX_LANES - 1)
    lane_count = max(len(set(order.values())), 1)
    lanes = [Lane(TOP + index * LANE_HEIGHT, f"Step {step}") for step, index in order.items() if index < MAX_LANES - 1]
    if len(order) >= MAX_LANES:
        lanes.append(Lane(TOP + (MAX_LANES - 1) * LANE_HEIGHT, "Other steps"))
    buckets: dict[tuple[int, int], list[RunMark]] = {}
    for mark in marks:
        offset = (mark.created_at - first).total_seconds() * 1000
        column = int(offset / span_ms * plot_width / PIXELS_PER_BUCKET)
        buckets.setdefault((order[mark.step_id], column), []).append(mark)
    drawn = []
    for (lane, column), members in buckets.items():
        dropped = sum(member.dropped for member in members)
        start = (members[0].created_at - first).total_seconds() * 1000
        what = f"payload #{members[0].id}" if len(members) == 1 else f"{len(members)} payloads from #{members[0].id}"
        state = f", {dropped} dropped" if dropped else ""
        drawn.append(
            Mark(
                x=round(LEFT + min(column * PIXELS_PER_BUCKET, plot_width), 1),
                y=TOP + lane * LANE_HEIGHT + LANE_HEIGHT / 2,
                count=len(members),
                dropped=dropped,
                label=f"Step {members[0].step_id}: {what} at {offset_label(start)}{state}",
                href=f"/console/payloads/{members[0].id}" if len(members) == 1 else None,
            )
        )
    axis_y = TOP + lane_count * LANE_HEIGHT + 4
    step = _tick_step(span_ms)
    ticks = [
        Tick(round(LEFT + at / span_ms * plot_width, 1), offset_label(at))
        for at in (index * step for index in range(int(span_ms // step) + 1))
    ]
    dropped_total = sum(mark.dropped for mark in marks)
    description = (
        f"Timeline of {len(marks)} payloads in {len(order)} steps over {offset_label(span_ms if marks else 0)[1:]}, "
        f"from {first:%Y-%m-%d %H:%M:%S}.{first.microsecond // 1000:03d} UTC; {dropped_total} dropped (drawn hollow)."
    )
    return Timeline(
        width=WIDTH,
        height=int(axis_y + AXIS_HEIGHT),
        left=LEFT,
        plot_width=plot_width,
        lane_height=LANE_HEIGHT,
        axis_y=axis_y,
        lanes=lanes,
        marks=drawn,
        ticks=ticks,
        description=description,
        truncated=total > len(marks),
    )
