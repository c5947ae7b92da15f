"""Simulated scanners and scales on pseudo-terminals, speaking the real protocols.

A bridge opens the pty's device path exactly as it would open ``/dev/ttyUSB0``. Tests,
the local stack and people without hardware use them; ``gudang simulate`` runs them.
"""

from __future__ import annotations

import logging
import os
import random
import select
import termios
import threading
import time
import tty
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from firmware_bridge.protocols import SCALE_PROTOCOLS
from firmware_bridge.protocols.base import ScaleReading, ScaleStatus
from firmware_bridge.protocols.hid import InputEvent, encode_events, type_text
from firmware_bridge.protocols.scanner import encode_scan

log = logging.getLogger(__name__)

# Line noise on a serial scanner: control bytes and high bytes, ended like a frame so the
# bridge reads it as one (and drops it, counted).
SCANNER_NOISE = b"\x00\x13\x7f\x11\r\n"
KEY_F1 = 59
# Continuous-output scales send about 7 frames a second (Mettler Toledo's figure); a
# Yaohua XK3190 sends 7-25 (its baud rate and display rate): simulated at 20, so its N
# equal frames come in a quarter of a second.
STREAM_INTERVAL_S = 1 / 7
JUDGED_INTERVAL_S = 1 / 20
# How long a drum put on the scale wobbles before the reading settles.
SETTLE_S = 0.25
# A polled MT-SICS "S" waits this long for stability before answering "S I".
STABLE_TIMEOUT_S = 2.0


class Pty:
    """A pseudo-terminal pair: the simulator holds the master, a bridge opens ``path``.

    With ``link``, a symlink at that stable path points at the pty, as udev's
    /dev/serial/by-id/ names do: a replugged device gets a new pty behind the same name.
    """

    def __init__(self, link: Path | None = None) -> None:
        self.master, self._slave = os.openpty()
        tty.setraw(self._slave)  # no echo, no line discipline: bytes pass as they are
        # A reader that opens the device sets its line (baud rate, CLOCAL ...): termios is
        # the tty's, so the change shows on our end too (see ``configured_by_reader``).
        self._raw_attrs = termios.tcgetattr(self._slave)
        # A device nobody reads must not block its simulator: drop what does not fit.
        os.set_blocking(self.master, False)
        self.tty_path = os.ttyname(self._slave)
        self.link = link
        if link is not None:
            tmp = link.with_name(f".{link.name}.{os.getpid()}.tmp")
            tmp.unlink(missing_ok=True)
            tmp.symlink_to(self.tty_path)
            tmp.replace(link)  # atomic: a bridge never sees the name missing mid-swap
        self.path = str(link) if link is not None else self.tty_path
        self.closed = False
        self.dropped = 0  # bytes thrown away because nobody read them

    def configured_by_reader(self) -> bool:
        """Whether a reader (a bridge) has opened the device and set its line up."""
        if self.closed:
            return False
        try:
            return termios.tcgetattr(self._slave) != self._raw_attrs
        except termios.error:
            return False

    def write(self, data: bytes) -> None:
        """Send bytes to whoever opened the device."""
        if self.closed:
            return
        try:
            os.write(self.master, data)
        except BlockingIOError:
            self.dropped += len(data)
        except OSError as exc:  # closed under us by an unplug
            log.debug("pty %s: write failed: %s", self.tty_path, exc)

    def read(self, timeout: float) -> bytes:
        """Bytes the device received, or b"" after ``timeout``."""
        if self.closed:
            time.sleep(timeout)
            return b""
        try:
            ready, _, _ = select.select([self.master], [], [], timeout)
            if not ready:
                return b""
            return os.read(self.master, 4096)
        except (OSError, ValueError):  # closed under us by an unplug
            return b""

    def close(self) -> None:
        """Close both ends: to the bridge this looks like the USB cable pulled."""
        if not self.closed:
            self.closed = True
            link = self.link
            if link is not None and link.is_symlink() and os.readlink(link) == self.tty_path:
                link.unlink()  # the by-id name disappears with the device
            os.close(self.master)
            os.close(self._slave)


class _SerialSimulator:
    """A simulated serial device on a pty, behind an optional by-id ``link``: pluggable."""

    def __init__(self, link: Path | None) -> None:
        self.link = link
        self.pty = Pty(link)

    @property
    def path(self) -> str:
        """The device path a bridge opens."""
        return self.pty.path

    def unplug(self) -> None:
        """Pull the device's cable (the pty closes); the device itself keeps running."""
        self.pty.close()

    def replug(self) -> None:
        """Plug it back: a new pty behind the same link."""
        self.pty.close()
        self.pty = Pty(self.link)


class ScannerSimulator(_SerialSimulator):
    """A barcode scanner: each ``scan()`` sends one label with an optional AIM prefix."""

    def __init__(self, suffix: bytes = b"\r\n", link: Path | None = None) -> None:
        super().__init__(link)
        self.suffix = suffix

    def scan(self, text: str, symbology: str | None = None) -> None:
        """Send one scanned label."""
        self.pty.write(encode_scan(text, symbology, self.suffix))

    def noise(self) -> None:
        """Line noise, as a loose connector makes it, ended like a frame."""
        self.pty.write(SCANNER_NOISE)

    def close(self) -> None:
        """Unplug the scanner."""
        self.pty.close()


class HidScannerSimulator:
    """A USB keyboard-wedge scanner: a FIFO at ``path`` carrying kernel input event records.

    These machines have no /dev/input (nor /dev/uinput to make one), so the bridge reads the
    FIFO as it would read ``/dev/input/by-id/...-event-kbd``. Unplugging removes the FIFO
    and closes it (the bridge reads end of file); replugging makes a new one at the path.
    """

    def __init__(
        self, path: Path, layout: str = "us", suffix: str = "\r", alt_codes: bool = True
    ) -> None:
        self.path = str(path)
        self.layout = layout
        self.suffix = suffix  # "\r" Enter, "\t" Tab, "" none (a pause ends the scan)
        self.alt_codes = alt_codes  # GS as Alt + 0 2 9 on the number pad, else Ctrl+]
        self.dropped = 0  # bytes thrown away because nobody read them
        self._fd: int | None = None
        self.replug()

    def scan(self, text: str, symbology: str | None = None) -> None:
        """Type one scanned label, as the scanner does, with its suffix."""
        events = type_text(
            (symbology or "") + text,
            self.layout,
            start=time.time(),
            suffix=self.suffix,
            alt_codes=self.alt_codes,
        )
        self.write(encode_events(events))

    def noise(self) -> None:
        """A key that types nothing known (F1), then Enter: a scan the bridge refuses.

        Whole records only: the kernel never tears one, and a torn one would shift every
        record after it.
        """
        now = time.time()
        typed_a = type_text("a", "us", start=now, suffix="")  # one key: its events, as F1
        f1 = [InputEvent(e.sec, e.usec, e.type, KEY_F1, e.value) for e in typed_a]
        self.write(encode_events(f1 + list(type_text("", self.layout, start=now + 0.01))))

    def write(self, data: bytes) -> None:
        """Send raw records (or noise) to whoever reads the device."""
        if self._fd is None:
            return
        try:
            os.write(self._fd, data)
        except BlockingIOError:
            self.dropped += len(data)

    def unplug(self) -> None:
        """Pull the scanner: its node disappears and the reader gets end of file."""
        if self._fd is not None:
            Path(self.path).unlink(missing_ok=True)
            os.close(self._fd)
            self._fd = None

    def replug(self) -> None:
        """Plug it (back) in: a new node at the same path."""
        self.unplug()
        os.mkfifo(self.path)
        # Read-write: opening never waits for a reader, and the bridge sees end of file only
        # when this end closes. This end never reads.
        self._fd = os.open(self.path, os.O_RDWR | os.O_NONBLOCK)

    def close(self) -> None:
        """Unplug the scanner."""
        self.unplug()


@dataclass(slots=True)
class _Load:
    weight_kg: float
    since: float


class ScaleSimulator(_SerialSimulator):
    """A scale of any supported protocol; ``place()`` puts a load on it.

    Request/response scales answer their poll command; streaming scales send frames
    continuously. A new load reads as moving for ``settle_s`` before it is stable.
    A fault the protocol has no words for is sent the way such a device behaves: "busy"
    as a moving weight, anything else as silence (counted in ``unsent``).
    A streaming scale sends a frame every ``interval_s``; ``play()`` scripts its next frames.
    """

    def __init__(
        self,
        protocol: str = "mt-sics",
        settle_s: float = SETTLE_S,
        link: Path | None = None,
        interval_s: float | None = None,
    ) -> None:
        self.protocol = SCALE_PROTOCOLS[protocol]
        if interval_s is None:
            interval_s = STREAM_INTERVAL_S if self.protocol.flags_stability else JUDGED_INTERVAL_S
        super().__init__(link)
        self.settle_s = settle_s
        self.interval_s = interval_s
        self._script: list[ScaleReading | bytes] = []
        self._script_lock = threading.Lock()
        self.played = 0  # scripted frames sent
        self._load = _Load(0.0, time.monotonic() - 10)
        self._fault: ScaleStatus | None = None
        self._wobble_sign = 1
        self._drift = (0.0, time.monotonic())  # kg/s its zero wanders by, since when
        self._zero_kg = 0.0  # where its zero had wandered to then
        self._unsettled = False
        self.unsent = 0  # readings the protocol could not express, so nothing was sent
        self.commands = 0  # commands received (request/response scales)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"sim-{protocol}", daemon=True)
        self._thread.start()

    @property
    def alive(self) -> bool:
        """True while the simulator's device thread runs."""
        return self._thread.is_alive()

    def place(self, weight_kg: float) -> None:
        """Put a load on the scale (0 empties it)."""
        self._load = _Load(weight_kg, time.monotonic())

    def play(self, script: list[ScaleReading | bytes]) -> None:
        """Send these next, one per frame interval, then go on as before (streaming only).

        A reading is sent encoded; bytes are sent as they are (noise, a bad checksum).
        """
        if not self.protocol.streaming:
            raise ValueError(f"{self.protocol.name} answers polls: it has no frames to script")
        with self._script_lock:
            self._script.extend(script)

    @property
    def script_left(self) -> int:
        """Scripted frames not sent yet."""
        with self._script_lock:
            return len(self._script)

    def drift(self, kg_per_s: float) -> None:
        """Let the zero wander from where it is now at this rate (0 stops it there)."""
        now = time.monotonic()
        self._zero_kg = self.zero_kg(now)
        self._drift = (kg_per_s, now)

    def rezero(self) -> None:
        """Zero the scale (the worker's "zero" key): back to 0, the drift stopped."""
        self._zero_kg = 0.0
        self._drift = (0.0, time.monotonic())

    def zero_kg(self, now: float | None = None) -> float:
        """What the empty platter reads now."""
        rate, since = self._drift
        return self._zero_kg + rate * ((time.monotonic() if now is None else now) - since)

    def unsettle(self, on: bool = True) -> None:
        """Never settle (a draught, a vibrating floor): every reading moving until undone."""
        self._unsettled = on

    def fault(self, status: ScaleStatus | None) -> None:
        """Make the scale report overload, underload, busy or error (None: back to normal)."""
        self._fault = status

    def reading(self) -> ScaleReading:
        """What the scale shows now."""
        if self._fault is not None:
            return ScaleReading(self._fault, None)
        load = self._load
        now = time.monotonic()
        shown = load.weight_kg + self.zero_kg(now)
        if self._unsettled or now - load.since < self.settle_s:
            # Each reading 50-150 g the other side of the load from the last, so no two in a
            # row agree: an indicator without a stable flag (XK3190) shows a moving drum too.
            self._wobble_sign = -self._wobble_sign
            wobble = shown + self._wobble_sign * random.uniform(0.05, 0.15)
            return ScaleReading(ScaleStatus.MOTION, round(max(wobble, 0.0), 3))
        return ScaleReading(ScaleStatus.STABLE, round(shown, 3))

    def close(self) -> None:
        """Switch the scale off and unplug it."""
        self._stop.set()
        self._thread.join(timeout=STABLE_TIMEOUT_S + 1)
        self.pty.close()

    def _device_bytes(self, make: Callable[[ScaleReading], bytes], reading: ScaleReading) -> bytes:
        """What the device sends for ``reading``; a fault it cannot express is not sent."""
        try:
            return make(reading)
        except ValueError as exc:
            if reading.status is ScaleStatus.BUSY:
                # A scale without a "busy" word shows the load still moving.
                moving = ScaleReading(ScaleStatus.MOTION, round(self._load.weight_kg, 3))
                try:
                    return make(moving)
                except ValueError:
                    pass
            self.unsent += 1
            log.debug("simulated %s scale sends nothing: %s", self.protocol.name, exc)
            return b""

    def _run(self) -> None:
        pending = b""
        while not self._stop.is_set():
            pty = self.pty
            if self.protocol.streaming:
                with self._script_lock:
                    item = self._script.pop(0) if self._script else None
                if isinstance(item, bytes):
                    pty.write(item)
                else:
                    reading = self.reading() if item is None else item
                    pty.write(self._device_bytes(self.protocol.encode, reading))
                if item is not None:
                    self.played += 1
                self._stop.wait(self.interval_s)
                continue
            pending += pty.read(0.05)
            while b"\n" in pending or b"\r" in pending:
                cut = min(i for i in (pending.find(b"\r"), pending.find(b"\n")) if i >= 0)
                command, pending = pending[: cut + 1], pending[cut + 1 :]
                command = command.strip(b"\r\n")
                if command:
                    self.commands += 1
                    self._answer(pty, command)

    def _answer(self, pty: Pty, command: bytes) -> None:
        respond = self.protocol.respond
        assert respond is not None
        reading = self.reading()
        if command == b"S" and reading.status is ScaleStatus.MOTION:
            # MT-SICS "S" waits for a stable weight, up to its timeout.
            deadline = time.monotonic() + STABLE_TIMEOUT_S
            while reading.status is ScaleStatus.MOTION and time.monotonic() < deadline:
                if self._stop.wait(0.02):
                    return
                reading = self.reading()
            if reading.status is ScaleStatus.MOTION:
                reading = ScaleReading(ScaleStatus.BUSY, None)
        pty.write(self._device_bytes(lambda r: respond(command + b"\r\n", r), reading))


def drum_weight(sku: str, rng: random.Random) -> float:
    """A plausible weight for a drum of the SKU (large 7-12 kg ...)."""
    ranges = {"JMB-S": (2.5, 4.0), "JMB-M": (4.5, 7.0), "JMB-L": (7.5, 11.5)}
    low, high = ranges.get(sku, (5.0, 10.0))
    return round(rng.uniform(low, high), 3)
