"""Captures and bytes per hour as an SVG bar chart, computed here and drawn by a template (no script, no library).

Everything the template draws is a number computed here, so no client text ever reaches the SVG but the labels
the template escapes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from metadock.console.rendering import human_bytes
from metadock.payloads.runs import HourActivity

WIDTH = 760
PANEL_HEIGHT = 110
LEFT = 70  # room for the axis labels
RIGHT = 10
TOP = 22
GAP = 46  # between the two panels, room for the date labels


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str  # the hour and its value, for the bar's <title>


@dataclass(frozen=True, slots=True)
class Tick:
    x: float
    label: str


@dataclass(frozen=True, slots=True)
class Panel:
    title: str
    top: float
    maximum_label: str
    bars: list[Bar]


@dataclass(frozen=True, slots=True)
class Chart:
    title: str
    description: str
    width: int
    height: int
    left: int
    plot_width: float
    panel_height: int
    panels: list[Panel]
    ticks: list[Tick]
    rows: list[HourActivity]  # the hours with captures, for the table alternative
    total_captures: int
    total_bytes: int


def _bars(
    hours: list[HourActivity], value: Callable[[HourActivity], int], top: float, label: Callable[[int], str]
) -> list[Bar]:
    slot = (WIDTH - LEFT - RIGHT) / max(len(hours), 1)
    peak = max((value(hour) for hour in hours), default=0) or 1
    bars = []
    for index, hour in enumerate(hours):
        amount = value(hour)
        if amount == 0:
            continue
        height = max(PANEL_HEIGHT * amount / peak, 1.5)
        bars.append(
            Bar(
                x=round(LEFT + index * slot + slot * 0.1, 2),
                y=round(top + PANEL_HEIGHT - height, 2),
                width=round(max(slot * 0.8, 1.0), 2),
                height=round(height, 2),
                label=f"{hour.hour:%Y-%m-%d %H}:00 UTC: {label(amount)}",
            )
        )
    return bars


def _ticks(hours: list[HourActivity]) -> list[Tick]:
    """One label per day at midnight UTC (every other day on long ranges), or every 6 hours on short ones."""
    slot = (WIDTH - LEFT - RIGHT) / max(len(hours), 1)
    short = len(hours) <= 48
    ticks = []
    for index, hour in enumerate(hours):
        if short and hour.hour.hour % 6 == 0:
            ticks.append(Tick(round(LEFT + index * slot, 2), f"{hour.hour:%d %b %H}h"))
        elif not short and hour.hour.hour == 0 and (len(hours) <= 240 or hour.hour.day % 2 == 0):
            ticks.append(Tick(round(LEFT + index * slot, 2), f"{hour.hour:%d %b}"))
    return ticks


def activity_chart(hours: list[HourActivity], subject: str) -> Chart:
    captures = sum(hour.captures for hour in hours)
    stored = sum(hour.bytes for hour in hours)
    start = hours[0].hour if hours else dt.datetime.now(dt.UTC)
    end = hours[-1].hour + dt.timedelta(hours=1) if hours else start
    description = (
        f"Bar chart of {subject}: {captures} captures and {human_bytes(stored)} stored, per hour from "
        f"{start:%Y-%m-%d %H}:00 to {end:%Y-%m-%d %H}:00 UTC. The table below lists the same figures."
    )
    second_top = TOP + PANEL_HEIGHT + GAP
    panels = [
        Panel(
            "Captures per hour",
            TOP,
            str(max((hour.captures for hour in hours), default=0)),
            _bars(hours, lambda hour: hour.captures, TOP, lambda n: f"{n} captures"),
        ),
        Panel(
            "Bytes stored per hour",
            second_top,
            human_bytes(max((hour.bytes for hour in hours), default=0)),
            _bars(hours, lambda hour: hour.bytes, second_top, human_bytes),
        ),
    ]
    return Chart(
        title=f"Captures and bytes per hour, {subject}",
        description=description,
        width=WIDTH,
        height=int(second_top + PANEL_HEIGHT + 24),
        left=LEFT,
        plot_width=WIDTH - LEFT - RIGHT,
        panel_height=PANEL_HEIGHT,
        panels=panels,
        ticks=_ticks(hours),
        rows=[hour for hour in hours if hour.captures],
        total_captures=captures,
        total_bytes=stored,
    )
