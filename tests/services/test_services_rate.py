"""A container's loading rate: the window's loads kept in time order (pure floor code)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.floor import Container

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def _container() -> Container:
    return Container("CSQU3054383", "40HC", capacity_drums=2600, max_payload_kg=26000.0)


def _load(c: Container, seconds: float, window_s: float) -> None:
    at = T0 + timedelta(seconds=seconds)
    c.last_scan_at = at if c.last_scan_at is None else max(c.last_scan_at, at)
    c.note_load(at, c.last_scan_at, window_s)


def test_loads_out_of_order_are_kept_in_order_and_the_rate_spans_the_window() -> None:
    c = _container()
    # Two stations' clocks interleave: a load can be older than the newest one.
    for seconds in (0, 60, 30, 120, 90, 45):
        _load(c, seconds, window_s=3600)
    assert list(c.recent_loads) == [T0 + timedelta(seconds=s) for s in (0, 30, 45, 60, 90, 120)]
    # 6 loads over 120 s: 5 intervals.
    assert c.rate_per_h() == pytest.approx(5 / 120 * 3600)


def test_loads_older_than_the_window_are_forgotten_even_when_they_came_late() -> None:
    c = _container()
    for seconds in (0, 100, 200):
        _load(c, seconds, window_s=150)
    # 0 is more than 150 s before 200: gone. A late load at 20 s is gone at once.
    assert list(c.recent_loads) == [T0 + timedelta(seconds=s) for s in (100, 200)]
    _load(c, 20, window_s=150)
    assert list(c.recent_loads) == [T0 + timedelta(seconds=s) for s in (100, 200)]
    _load(c, 150, window_s=150)
    assert list(c.recent_loads) == [T0 + timedelta(seconds=s) for s in (100, 150, 200)]
    assert c.rate_per_h() == pytest.approx(2 / 100 * 3600)


def test_no_rate_until_loads_span_a_minute() -> None:
    c = _container()
    assert c.rate_per_h() is None
    _load(c, 10, window_s=3600)
    assert c.rate_per_h() is None
    _load(c, 10, window_s=3600)
    assert c.rate_per_h() is None  # two loads, no time between them
    _load(c, 40, window_s=3600)
    assert c.rate_per_h() is None  # 30 s of loads: too short to say what an hour brings
    _load(c, 70, window_s=3600)
    assert c.rate_per_h() == pytest.approx(3 / 60 * 3600)
