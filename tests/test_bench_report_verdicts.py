"""The bench's verdicts: a p50 target is met only by a run that completed requests within it."""

from __future__ import annotations

from bench.report import _met
from bench.scenarios import Target
from bench.wrk import WrkResult

P50_10MS = Target("p50", 10.0)


def test_p50_met_by_a_run_within_the_bound() -> None:
    assert _met(P50_10MS, WrkResult(connections=1, duration_s=6, requests=500, p50_ms=3.4), {}) is True
    assert _met(P50_10MS, WrkResult(connections=1, duration_s=6, requests=500, p50_ms=12.0), {}) is False


def test_p50_missed_by_a_run_that_completed_no_request() -> None:
    # wrk reports p50 0 when every request outlived the run (a stalled scenario): that is a miss, not a 0 ms p50.
    assert _met(P50_10MS, WrkResult(connections=1, duration_s=6, requests=0, p50_ms=0.0), {}) is False


def test_p50_applies_at_one_connection_only() -> None:
    assert _met(P50_10MS, WrkResult(connections=32, duration_s=6, requests=0, p50_ms=0.0), {}) is None
