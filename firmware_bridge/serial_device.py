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

from firmware_bridge.device import READ_TIMEOUT_S, DeviceReader, FrameHandler, StateHandler
from gudang.settings import DeviceSettings

log = logging.getLogger(__name__)

READ_CHUNK = 4096


class Splitter(Protocol):
    """What the transport needs of a protocol's frame splitter."""

    def feed(self, data: bytes) -> list[bytes]: ...


class SerialDevice(DeviceReader):
    """One serial device read on its own thread."""

    thread_prefix = "serial"

    def __init__(
        self,
        settings: DeviceSettings,
        make_splitter: Callable[[], Splitter],
        on_frame: FrameHandler,
        on_state: StateHandler,
        idle_flush_s: float | None = None,
    ) -> None:
        super().__init__(settings, on_frame, on_state)
        self._make_splitter = make_splitter
        self._idle_flush_s = idle_flush_s
        self._port: serial.Serial | None = None
        self._write_lock = threading.Lock()

    def stop(self) -> None:
        """Stop reading and close the port."""
        super().stop()
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
        self._reset_back_off()
        while not self._stop.is_set():
            try:
                self._port = self._open()
            except (serial.SerialException, OSError, ValueError) as exc:
                self._set_state("disconnected", f"cannot open {self.settings.port}: {exc}")
                self._back_off()
                continue
            self._reset_back_off()
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
                    self._deliver(frame, now)
            elif self._idle_flush_s is not None and now - last_data > self._idle_flush_s:
                # Scanners configured without a suffix: a pause ends the frame.
                flush = getattr(splitter, "flush", None)
                pending = flush() if flush is not None else None
                if pending:
                    self._deliver(pending, now)
                last_data = now
