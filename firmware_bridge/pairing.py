"""Pairing a scan with the scale's next stable weight.

A scan never takes a weight read before it: for a polled scale the bridge asks after
the scan; for a streaming scale it waits for a stable frame that arrived after the scan.
When no stable weight comes within the window, or the scale reports overload or an
error, that is what the scan carries: it is never dropped.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from firmware_bridge.protocols.base import ScaleReading, ScaleStatus
from gudang.wire import WeightStatus

# A polled scale answering "busy" is asked again after this pause.
REPOLL_S = 0.15


@dataclass(frozen=True, slots=True)
class PairedWeight:
    """The weight a scan carries."""

    weight_kg: float | None
    stable: bool
    status: WeightStatus


_STATUS = {
    ScaleStatus.OVERLOAD: WeightStatus.OVERLOAD,
    ScaleStatus.UNDERLOAD: WeightStatus.UNDERLOAD,
    ScaleStatus.ERROR: WeightStatus.ERROR,
}


class ScaleWatch:
    """The latest readings of one scale, for pairing; fed by the scale's reader thread."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._last: tuple[float, ScaleReading] | None = None
        self.connected = False

    def feed(self, reading: ScaleReading, at: float) -> None:
        """A reading arrived at monotonic time ``at``."""
        with self._cond:
            self._last = (at, reading)
            self._cond.notify_all()

    def set_connected(self, connected: bool) -> None:
        """The scale's port opened or closed."""
        with self._cond:
            self.connected = connected
            self._cond.notify_all()

    def latest(self) -> tuple[float, ScaleReading] | None:
        """The most recent reading and its arrival time."""
        with self._cond:
            return self._last

    def wait_after(
        self, since: float, deadline: float, poll: Callable[[], bool] | None
    ) -> PairedWeight:
        """Wait for a stable reading newer than ``since``; report what happened otherwise."""
        last_bad: ScaleReading | None = None
        next_poll = 0.0
        with self._cond:
            while True:
                now = time.monotonic()
                if self._last is not None and self._last[0] > since:
                    at, reading = self._last
                    if reading.status is ScaleStatus.STABLE and reading.weight_kg is not None:
                        return PairedWeight(reading.weight_kg, True, WeightStatus.STABLE)
                    if reading.status in _STATUS:
                        last_bad = reading
                    since = at  # only newer readings from here on
                if now >= deadline:
                    break
                if poll is not None and now >= next_poll:
                    if not poll():
                        return PairedWeight(None, False, WeightStatus.ERROR)
                    next_poll = now + REPOLL_S
                wait = deadline - now
                if poll is not None:
                    wait = min(wait, max(next_poll - now, 0.01))
                self._cond.wait(wait)
        if not self.connected:
            return PairedWeight(None, False, WeightStatus.ERROR)
        if last_bad is not None:
            return PairedWeight(None, False, _STATUS[last_bad.status])
        return PairedWeight(None, False, WeightStatus.NO_STABLE)
