"""A keyboard-wedge (USB HID) scanner read from its Linux input device, grabbed exclusively.

The kernel's evdev node (``/dev/input/by-id/usb-...-event-kbd``) is opened with python-evdev
and grabbed (EVIOCGRAB), so the scanner's keystrokes reach neither the console nor a desktop,
and a keyboard plugged into the station box is never taken for the scanner. Its raw
``struct input_event`` records are decoded by ``protocols.hid.KeyDecoder``.

A path that is not a character device (a FIFO or a file carrying recorded records, as the
tests use: these machines have no /dev/input) is read the same way without evdev. A FIFO at
end of file, like a node that raises ENODEV or vanishes, is an unplugged scanner: it is
reopened with back-off, as serial devices are, and its state shows in the station status.
"""

from __future__ import annotations

import logging
import os
import select
import stat
import time
from typing import Any

from firmware_bridge.device import READ_TIMEOUT_S, DeviceReader, FrameHandler, StateHandler
from firmware_bridge.protocols.hid import EventReader, KeyDecoder
from gudang.settings import DeviceSettings

log = logging.getLogger(__name__)

READ_CHUNK = 24 * 256  # whole records: 256 events, a long label's worth


class DeviceGone(OSError):
    """The input device was unplugged (end of file, or its node went away)."""


class _Source:
    """An open input source: an evdev device (grabbed) or a FIFO / file."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.device: Any = None  # evdev.InputDevice when a real input device
        self.caps_lock = False  # its Caps Lock LED: scanners that see it invert Shift
        st = os.stat(path)
        self.fifo = stat.S_ISFIFO(st.st_mode)
        if stat.S_ISCHR(st.st_mode):
            try:
                import evdev
            except ImportError as exc:
                raise OSError(
                    f"{path} is an input device, and python-evdev is missing: "
                    "pip install 'gudang[bridge]'"
                ) from exc
            self.device = evdev.InputDevice(path)
            try:
                self.device.grab()  # exclusive: keystrokes go to us only
            except OSError:
                self.device.close()
                raise
            self.fd = self.device.fd
            os.set_blocking(self.fd, False)
            self.caps_lock = evdev.ecodes.LED_CAPSL in self.device.leds()
        else:
            # O_NONBLOCK: opening a FIFO without a writer must not hang the reader.
            self.fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        self._inode = (st.st_dev, st.st_ino)

    def read(self, timeout: float) -> bytes:
        """Bytes waiting, or b"" after ``timeout``; DeviceGone when unplugged."""
        if self.fifo or self.device is not None:
            ready, _, _ = select.select([self.fd], [], [], timeout)
            if not ready:
                return b""
            try:
                data = os.read(self.fd, READ_CHUNK)
            except BlockingIOError:
                return b""
            if not data:
                # The writer of a FIFO left (a FIFO that never had one is not readable), or
                # the kernel ended an unplugged node.
                raise DeviceGone(f"{self.path}: end of file (unplugged)")
            return data
        data = os.read(self.fd, READ_CHUNK)
        if data:
            return data
        # A plain file: at its end, wait for more unless the file went away or was replaced.
        try:
            st = os.stat(self.path)
        except FileNotFoundError as exc:
            raise DeviceGone(f"{self.path}: gone (unplugged)") from exc
        if (st.st_dev, st.st_ino) != self._inode:
            raise DeviceGone(f"{self.path}: replaced (replugged)")
        time.sleep(timeout)  # the stop event is checked by the caller between reads
        return b""

    def close(self) -> None:
        """Release the grab and close."""
        if self.device is not None:
            try:
                self.device.ungrab()
            except OSError:
                pass  # unplugged: nothing to release
            self.device.close()
        else:
            os.close(self.fd)


class HidDevice(DeviceReader):
    """One HID scanner read on its own thread; the same face as ``SerialDevice``."""

    thread_prefix = "hid"

    def __init__(
        self,
        settings: DeviceSettings,
        on_frame: FrameHandler,
        on_state: StateHandler,
        idle_flush_s: float,
    ) -> None:
        super().__init__(settings, on_frame, on_state)
        self._idle_flush_s = idle_flush_s
        self.errors = 0  # unexpected failures of the reader, each logged
        self.decoder = KeyDecoder(settings.layout, idle_flush_s)

    def write(self, data: bytes) -> bool:
        """A keyboard takes no commands: always False."""
        return False

    def _run(self) -> None:
        self._reset_back_off()
        while not self._stop.is_set():
            path = self.settings.port
            try:
                source = _Source(path)
            except OSError as exc:
                self._set_state("disconnected", f"cannot open {path}: {exc}")
                self._back_off()
                continue
            except Exception as exc:  # a bug must not end the reader: log, count, retry
                self._failed(exc)
                self._back_off()
                continue
            self._reset_back_off()
            try:
                self._read_loop(source)
            except OSError as exc:  # DeviceGone, ENODEV of an unplugged node, ...
                log.warning("%s: lost %s: %s", self.settings.name, path, exc)
                self._set_state("disconnected", str(exc))
                self.reopens += 1
            except Exception as exc:
                self._failed(exc)
                self._back_off()
            finally:
                source.close()
                self._flush(time.monotonic())  # a frame cut by the unplug is still a frame
        self._set_state("disconnected", "stopped")

    def _failed(self, exc: Exception) -> None:
        self.errors += 1
        log.exception("%s: reader failed: %s", self.settings.name, exc)
        self._set_state("error", f"reader failed: {exc}")

    def _read_loop(self, source: _Source) -> None:
        """Read until stopped, or raise when the device is lost."""
        reader = EventReader()
        last_data = time.monotonic()
        self.decoder = KeyDecoder(self.settings.layout, self._idle_flush_s, source.caps_lock)
        self._opened(source)
        while not self._stop.is_set():
            data = source.read(READ_TIMEOUT_S)
            now = time.monotonic()
            if data:
                last_data = now
                for event in reader.feed(data):
                    for frame in self.decoder.feed(event):
                        self._deliver(frame, now)
            elif now - last_data > self._idle_flush_s:
                self._flush(now)  # scanners set to send no suffix: a pause ends the frame
                last_data = now

    def _opened(self, source: _Source) -> None:
        grabbed = " (grabbed)" if source.device is not None else ""
        log.info("%s: opened %s%s", self.settings.name, source.path, grabbed)
        self._set_state("connected")

    def _flush(self, now: float) -> None:
        pending = self.decoder.flush()
        if pending:
            self._deliver(pending, now)
