"""What duplicate detection keeps: scan ids (and scan points) only as far back as a scan may arrive.

A scan whose device time is older than ``floor.max_scan_age_s`` is quarantined before its
id is looked at twice (``services/floor.py``, ``clock_problem``), so an id, or a station's
point time, older than that window can never matter again: it leaves memory. The window
is measured on the point times (device time), with a margin for a services' clock that
was set back.
"""

from __future__ import annotations

from collections.abc import Hashable
from datetime import datetime
from typing import TypeVar

from gudang.settings import FloorSettings
from gudang.storage import datetime_to_ns

# Kept beyond max_scan_age_s: a services' clock stepped back by NTP must not forget early.
WINDOW_MARGIN_S = 3600.0

K = TypeVar("K", bound=Hashable)


def window_start_ns(now: datetime, settings: FloorSettings) -> int:
    """The oldest point time a scan arriving at ``now`` (or later) can still have."""
    return datetime_to_ns(now) - int((settings.max_scan_age_s + WINDOW_MARGIN_S) * 1e9)


class RecentIds(dict[K, int]):
    """Key (a scan id) -> point time (ns); ``prune`` forgets what the window left behind."""

    def prune(self, start_ns: int) -> int:
        """Forget the keys whose point time is before ``start_ns``; how many went."""
        old = [k for k, ts in self.items() if ts < start_ns]
        for k in old:
            del self[k]
        return len(old)


class RecentPoints(set[tuple[str, int]]):
    """(station, point time ns) of the stored scans inside the window."""

    def prune(self, start_ns: int) -> int:
        """Forget the points before ``start_ns``; how many went."""
        old = [p for p in self if p[1] < start_ns]
        self.difference_update(old)
        return len(old)
