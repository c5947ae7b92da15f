"""Pairing a scan with the scale's next stable weight.

A scan never takes a weight read before it. A streaming scale's frames carry their arrival
time, and only frames that arrived after the scan count. A polled scale's replies are
matched to polls by order (a serial scale answers its commands one by one), and only a
reply to a poll sent after the scan counts: a late answer to an earlier poll, which also
arrives after the scan, is not taken for the scan's weight.

When no stable weight comes within the window, or the scale reports overload or an error,
or does not answer, that is what the scan carries: it is never dropped.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from firmware_bridge.protocols.base import ScaleReading, ScaleStatus
from gudang.wire import WeightStatus

log = logging.getLogger(__name__)

# A streaming frame counts only if it arrived this long after the scan: a frame read just
# after the scan may have been taken a frame's transit earlier (18 bytes at 9600 baud take
# 19 ms) plus a read's latency.
STREAM_MARGIN_S = 0.05
# A polled scale answering "busy", moving or empty is asked again after this pause.
REPOLL_S = 0.15
# A poll with no reply after this long is taken as lost, and the scale is asked again.
# Every poll command is an immediate one (MT-SICS SI, A&D Q, Ohaus IP, SMA W): a reply
# takes a frame's transit (tens of ms at 9600 baud), so this is ten times that.
POLL_REPLY_TIMEOUT_S = 0.5


NO_READING = "no reading from the scale"  # the detail of a connected scale that said nothing


@dataclass(frozen=True, slots=True)
class PairedWeight:
    """The weight a scan carries, and why."""

    weight_kg: float | None
    stable: bool
    status: WeightStatus
    detail: str = ""


_STATUS = {
    ScaleStatus.OVERLOAD: WeightStatus.OVERLOAD,
    ScaleStatus.UNDERLOAD: WeightStatus.UNDERLOAD,
    ScaleStatus.ERROR: WeightStatus.ERROR,
}


class ScaleWatch:
    """The readings of one scale, for pairing; fed by the scale's reader thread.

    ``polled``: the scale speaks only when asked, so replies are counted against polls.
    ``min_weight_kg``: a stable reading below it is an empty platter, not a drum's weight.
    """

    def __init__(self, polled: bool = False, min_weight_kg: float = 0.0) -> None:
        self.polled = polled
        self.min_weight_kg = min_weight_kg
        self._cond = threading.Condition()
        self._last: tuple[int, float, ScaleReading | None] | None = None  # reply no., at, reading
        self._polls = 0  # polls sent since start
        self._replies = 0  # frames received since start (for a polled scale: replies)
        self._poll_at = 0.0
        self.lost_replies = 0
        self.connected = False

    def feed(self, reading: ScaleReading | None, at: float) -> None:
        """A reading (None: a garbled frame) arrived at monotonic time ``at``."""
        with self._cond:
            self._replies += 1
            if self.polled and self._replies > self._polls:
                # Unsolicited: it answers no poll, so it cannot count as after a scan.
                self._replies = self._polls
            self._last = (self._replies, at, reading)
            self._cond.notify_all()

    def set_connected(self, connected: bool) -> None:
        """The scale's port opened or closed: nothing is outstanding on a fresh port."""
        with self._cond:
            if connected != self.connected:
                self.connected = connected
                self._replies = self._polls
            self._cond.notify_all()

    def latest(self) -> tuple[float, ScaleReading] | None:
        """The most recent readable reading and its arrival time."""
        with self._cond:
            if self._last is None or self._last[2] is None:
                return None
            return self._last[1], self._last[2]

    def poll_idle(self, poll: Callable[[], bool], interval_s: float) -> bool:
        """Between scans, ask a polled scale for a reading (one poll at a time, at most every
        ``interval_s``); whether a poll went out. Pairing ignores the replies: they answer
        polls sent before its scan."""
        with self._cond:
            now = time.monotonic()
            if not (self.polled and self.connected) or now - self._poll_at < interval_s:
                return False
            if self._polls > self._replies:
                if now - self._poll_at <= POLL_REPLY_TIMEOUT_S:
                    return False  # the last poll's reply may still come
                self.lost_replies += 1
                self._replies = self._polls
            return self._poll(poll, now)

    def _poll(self, poll: Callable[[], bool], now: float) -> bool:
        self._polls += 1
        self._poll_at = now
        if not poll():
            self._polls -= 1
            return False
        return True

    def wait_after(
        self, since: float, deadline: float, poll: Callable[[], bool] | None
    ) -> PairedWeight:
        """Wait for a stable weight taken after ``since``; report what happened otherwise."""
        polled = self.polled and poll is not None
        with self._cond:
            first = self._polls + 1  # polled: the first reply that can be after the scan
            seen = self._last[0] if self._last is not None else 0
            last: ScaleReading | None = None
            answered = False
            next_poll = 0.0
            while True:
                now = time.monotonic()
                if not self.connected:
                    return PairedWeight(None, False, WeightStatus.ERROR, "scale disconnected")
                if self._last is not None and self._last[0] != seen:
                    index, at, reading = self._last
                    seen = index
                    after = index >= first if polled else at > since + STREAM_MARGIN_S
                    if after:
                        answered = True
                        last = reading
                        if (
                            reading is not None
                            and reading.status is ScaleStatus.STABLE
                            and reading.weight_kg is not None
                            and reading.weight_kg >= self.min_weight_kg
                        ):
                            return PairedWeight(reading.weight_kg, True, WeightStatus.STABLE)
                if now >= deadline:
                    break
                if polled:
                    assert poll is not None
                    if self._polls > self._replies and now - self._poll_at > POLL_REPLY_TIMEOUT_S:
                        self.lost_replies += 1
                        log.warning("scale: no reply to a poll in %.1f s", POLL_REPLY_TIMEOUT_S)
                        self._replies = self._polls
                    if self._polls == self._replies and now >= next_poll:
                        if not self._poll(poll, now):
                            return PairedWeight(None, False, WeightStatus.ERROR, "poll failed")
                        next_poll = now + REPOLL_S
                wait = deadline - now
                if polled:
                    wait = min(wait, max(next_poll - now, 0.01))
                self._cond.wait(wait)
        if not answered:
            # Connected but silent: a scale in a fault it has no words for, or a wrong baud.
            return PairedWeight(None, False, WeightStatus.ERROR, NO_READING)
        if last is not None and last.status in _STATUS:
            return PairedWeight(None, False, _STATUS[last.status], last.detail)
        return PairedWeight(None, False, WeightStatus.NO_STABLE, "no stable weight in the window")
