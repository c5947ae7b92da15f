"""What the station's device transports share: a reader thread, its state, reopen back-off.

``SerialDevice`` and ``HidDevice`` each read their kind of device in ``_run``; the thread, the
state the station status shows ("connected", "disconnected", "error") and the counters live
here once, so the two report and recover alike.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import ClassVar

from gudang.settings import DeviceSettings

# Reopen back-off after a device is lost: first retry soon, then at most every 5 s.
REOPEN_MIN_S = 0.2
REOPEN_MAX_S = 5.0
# A read returns after this long even without data, so idle flushes and stop work.
READ_TIMEOUT_S = 0.05

FrameHandler = Callable[[bytes, float], None]  # frame, monotonic time of arrival
StateHandler = Callable[[str, str], None]  # state ("connected"/"disconnected"/"error"), detail


class DeviceReader:
    """One device read on its own thread; a subclass reads it (and reopens it) in ``_run``."""

    thread_prefix: ClassVar[str]  # the reader thread is named "<prefix>-<device name>"

    def __init__(
        self, settings: DeviceSettings, on_frame: FrameHandler, on_state: StateHandler
    ) -> None:
        self.settings = settings
        self._on_frame = on_frame
        self._on_state = on_state
        # The reader thread and the pairing thread both change the state.
        self._state_lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.state = "disconnected"
        self.detail = ""
        self.frames = 0
        self.reopens = 0
        self._reopen_delay = REOPEN_MIN_S

    def start(self) -> None:
        """Start reading (and reopening) in the background."""
        self._thread = threading.Thread(
            target=self._run, name=f"{self.thread_prefix}-{self.settings.name}", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop reading; the reader thread releases the device as it ends."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)

    def mark(self, error: str | None) -> None:
        """An open device that reports a fault (``error``) or is well again (None)."""
        with self._state_lock:
            if self.state == "disconnected":
                return  # the device's own state wins: it has to reopen first
            self._set_state("error" if error is not None else "connected", error or "")

    def _set_state(self, state: str, detail: str = "") -> None:
        with self._state_lock:
            # A new reason counts too: a device missing from the start says why.
            if state != self.state or detail != self.detail:
                self.state = state
                self.detail = detail
                self._on_state(state, detail)

    def _back_off(self) -> None:
        """Wait (or until stopped) before the next open, twice as long each time in a row."""
        self._stop.wait(self._reopen_delay)
        self._reopen_delay = min(self._reopen_delay * 2, REOPEN_MAX_S)

    def _reset_back_off(self) -> None:
        """The device opened: the next loss is retried soon again."""
        self._reopen_delay = REOPEN_MIN_S

    def _deliver(self, frame: bytes, at: float) -> None:
        self.frames += 1
        self._on_frame(frame, at)

    def _run(self) -> None:
        raise NotImplementedError
