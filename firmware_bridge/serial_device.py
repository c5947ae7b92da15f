"""A thin serial transport: open, read, split into frames, hand them on, reopen on loss.

Parsing lives in ``firmware_bridge.protocols``; this module only moves bytes. A device
that disappears (USB unplugged, pty closed) is reopened with back-off, forever, without
disturbing the station's other device.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol

import serial

from gudang.settings import DeviceSettings

log = logging.getLogger(__name__)

# Reopen back-off after a device is lost: first retry soon, then at most every 5 s.
REOPEN_MIN_S = 0.2
REOPEN_MAX_S = 5.0
# A read returns after this long even without data, so idle flushes and stop work.
READ_TIMEOUT_S = 0.05
READ_CHUNK = 4096


class Splitter(Protocol):
    """What the transport needs of a protocol's frame splitter."""

    def feed(self, data: bytes) -> list[bytes]: ...


FrameHandler = Callable[[bytes, float], None]  # frame, monotonic time of arrival
StateHandler = Callable[[str, str], None]  # state ("connected"/"disconnected"/"error"), detail


class SerialDevice:
    """One serial device read on its own thread."""

    def __init__(
        self,
        settings: DeviceSettings,
        make_splitter: Callable[[], Splitter],
        on_frame: FrameHandler,
        on_state: StateHandler,
        idle_flush_s: float | None = None,
    ) -> None:
        self.settings = settings
        self._make_splitter = make_splitter
        self._on_frame = on_frame
        self._on_state = on_state
        self._idle_flush_s = idle_flush_s
        self._port: serial.Serial | None = None
        self._write_lock = threading.Lock()
        # The reader thread and the pairing thread both change the state.
        self._state_lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.state = "disconnected"
        self.detail = ""
        self.frames = 0
        self.reopens = 0

    def start(self) -> None:
        """Start reading (and reopening) in the background."""
        self._thread = threading.Thread(
            target=self._run, name=f"serial-{self.settings.name}", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop reading and close the port."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        self._close()

    def write(self, data: bytes) -> bool:
        """Send bytes to the device; False when it is not connected."""
        port = self._port
        if port is None:
            return False
        try:
            with self._write_lock:
                port.write(data)
        except (serial.SerialException, OSError) as exc:
            log.warning("%s: write failed: %s", self.settings.name, exc)
            return False
        return True

    def mark(self, error: str | None) -> None:
        """An open device that reports a fault (``error``) or is well again (None)."""
        with self._state_lock:
            if self.state == "disconnected":
                return  # the port's own state wins: it has to reopen first
            if error is not None:
                self._set_state("error", error)
            else:
                self._set_state("connected")

    def _set_state(self, state: str, detail: str = "") -> None:
        with self._state_lock:
            # A new reason counts too: a port missing from the start says why.
            if state != self.state or detail != self.detail:
                self.state = state
                self.detail = detail
                self._on_state(state, detail)

    def _open(self) -> serial.Serial:
        s = self.settings
        port = serial.serial_for_url(
            s.port,
            baudrate=s.baudrate,
            bytesize=s.bytesize,
            parity=s.parity,
            stopbits=s.stopbits,
            timeout=READ_TIMEOUT_S,
            do_not_open=True,
        )
        if not s.port.startswith(("loop://", "socket://", "rfc2217://")):
            port.exclusive = True  # two bridges on one port would steal each other's frames
        port.open()
        return port

    def _close(self) -> None:
        port, self._port = self._port, None
        if port is not None:
            try:
                port.close()
            except (serial.SerialException, OSError):
                pass

    def _run(self) -> None:
        delay = REOPEN_MIN_S
        while not self._stop.is_set():
            try:
                self._port = self._open()
            except (serial.SerialException, OSError, ValueError) as exc:
                self._set_state("disconnected", f"cannot open {self.settings.port}: {exc}")
                self._stop.wait(delay)
                delay = min(delay * 2, REOPEN_MAX_S)
                continue
            delay = REOPEN_MIN_S
            log.info("%s: opened %s", self.settings.name, self.settings.port)
            self._set_state("connected")
            try:
                self._read_loop(self._port)
            except (serial.SerialException, OSError) as exc:
                log.warning("%s: lost %s: %s", self.settings.name, self.settings.port, exc)
                self._set_state("disconnected", str(exc))
                self.reopens += 1
            finally:
                self._close()
        self._set_state("disconnected", "stopped")

    def _read_loop(self, port: serial.Serial) -> None:
        splitter = self._make_splitter()
        last_data = time.monotonic()
        while not self._stop.is_set():
            # One byte blocks until data comes; then whatever waits. A frame's arrival time
            # is taken as soon as its bytes are there, which pairing relies on.
            data = port.read(1)
            if data and port.in_waiting:
                data += port.read(min(port.in_waiting, READ_CHUNK))
            now = time.monotonic()
            if data:
                last_data = now
                for frame in splitter.feed(data):
                    self.frames += 1
                    self._on_frame(frame, now)
            elif self._idle_flush_s is not None and now - last_data > self._idle_flush_s:
                # Scanners configured without a suffix: a pause ends the frame.
                flush = getattr(splitter, "flush", None)
                pending = flush() if flush is not None else None
                if pending:
                    self.frames += 1
                    self._on_frame(pending, now)
                last_data = now
