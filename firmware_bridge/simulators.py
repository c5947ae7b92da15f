"""Simulated scanners and scales on pseudo-terminals, speaking the real protocols.

A bridge opens the pty's device path exactly as it would open ``/dev/ttyUSB0``. Tests,
the local stack and people without hardware use them; ``gudang simulate`` runs them.
"""

from __future__ import annotations

import logging
import os
import random
import select
import threading
import time
import tty
from dataclasses import dataclass

from firmware_bridge.protocols import SCALE_PROTOCOLS
from firmware_bridge.protocols.base import ScaleReading, ScaleStatus
from firmware_bridge.protocols.scanner import encode_scan

log = logging.getLogger(__name__)

# Continuous-output scales send about 7 frames a second (Mettler Toledo's figure).
STREAM_INTERVAL_S = 1 / 7
# How long a drum put on the scale wobbles before the reading settles.
SETTLE_S = 0.25
# A polled MT-SICS "S" waits this long for stability before answering "S I".
STABLE_TIMEOUT_S = 2.0


class Pty:
    """A pseudo-terminal pair: the simulator holds the master, a bridge opens ``path``."""

    def __init__(self) -> None:
        self.master, self._slave = os.openpty()
        tty.setraw(self._slave)  # no echo, no line discipline: bytes pass as they are
        self.path = os.ttyname(self._slave)
        self.closed = False

    def write(self, data: bytes) -> None:
        """Send bytes to whoever opened the device."""
        if not self.closed:
            os.write(self.master, data)

    def read(self, timeout: float) -> bytes:
        """Bytes the device received, or b"" after ``timeout``."""
        if self.closed:
            time.sleep(timeout)
            return b""
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return b""
        try:
            return os.read(self.master, 4096)
        except OSError:
            return b""

    def close(self) -> None:
        """Close both ends: to the bridge this looks like the USB cable pulled."""
        if not self.closed:
            self.closed = True
            os.close(self.master)
            os.close(self._slave)


class ScannerSimulator:
    """A barcode scanner: each ``scan()`` sends one label with an optional AIM prefix."""

    def __init__(self, suffix: bytes = b"\r\n") -> None:
        self.pty = Pty()
        self.suffix = suffix

    @property
    def path(self) -> str:
        return self.pty.path

    def scan(self, text: str, symbology: str | None = None) -> None:
        """Send one scanned label."""
        self.pty.write(encode_scan(text, symbology, self.suffix))

    def close(self) -> None:
        """Unplug the scanner."""
        self.pty.close()


@dataclass(slots=True)
class _Load:
    weight_kg: float
    since: float


class ScaleSimulator:
    """A scale of any supported protocol; ``place()`` puts a load on it.

    Request/response scales answer their poll command; streaming scales send frames
    continuously. A new load reads as moving for ``settle_s`` before it is stable.
    """

    def __init__(self, protocol: str = "mt-sics", settle_s: float = SETTLE_S) -> None:
        self.protocol = SCALE_PROTOCOLS[protocol]
        self.pty = Pty()
        self.settle_s = settle_s
        self._load = _Load(0.0, time.monotonic() - 10)
        self._fault: ScaleStatus | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"sim-{protocol}", daemon=True)
        self._thread.start()

    @property
    def path(self) -> str:
        return self.pty.path

    def place(self, weight_kg: float) -> None:
        """Put a load on the scale (0 empties it)."""
        self._load = _Load(weight_kg, time.monotonic())

    def fault(self, status: ScaleStatus | None) -> None:
        """Make the scale report overload, underload or error (None: back to normal)."""
        self._fault = status

    def reading(self) -> ScaleReading:
        """What the scale shows now."""
        if self._fault is not None:
            return ScaleReading(self._fault, None)
        load = self._load
        if time.monotonic() - load.since < self.settle_s:
            wobble = load.weight_kg + random.uniform(-0.05, 0.05)
            return ScaleReading(ScaleStatus.MOTION, round(max(wobble, 0.0), 3))
        return ScaleReading(ScaleStatus.STABLE, round(load.weight_kg, 3))

    def close(self) -> None:
        """Unplug the scale."""
        self._stop.set()
        self._thread.join(timeout=2)
        self.pty.close()

    def _run(self) -> None:
        pending = b""
        while not self._stop.is_set():
            if self.protocol.streaming:
                self.pty.write(self.protocol.encode(self.reading()))
                self._stop.wait(STREAM_INTERVAL_S)
                continue
            pending += self.pty.read(0.05)
            while b"\n" in pending or b"\r" in pending:
                cut = min(i for i in (pending.find(b"\r"), pending.find(b"\n")) if i >= 0)
                command, pending = pending[: cut + 1], pending[cut + 1 :]
                command = command.strip(b"\r\n")
                if command:
                    self._answer(command)

    def _answer(self, command: bytes) -> None:
        assert self.protocol.respond is not None
        reading = self.reading()
        if command == b"S" and reading.status is ScaleStatus.MOTION:
            # MT-SICS "S" waits for a stable weight, up to its timeout.
            deadline = time.monotonic() + STABLE_TIMEOUT_S
            while reading.status is ScaleStatus.MOTION and time.monotonic() < deadline:
                time.sleep(0.02)
                reading = self.reading()
            if reading.status is ScaleStatus.MOTION:
                reading = ScaleReading(ScaleStatus.BUSY, None)
        self.pty.write(self.protocol.respond(command + b"\r\n", reading))


def drum_weight(sku: str, rng: random.Random) -> float:
    """A plausible weight for a drum of the SKU (large 7-12 kg ...)."""
    ranges = {"JMB-S": (2.5, 4.0), "JMB-M": (4.5, 7.0), "JMB-L": (7.5, 11.5)}
    low, high = ranges.get(sku, (5.0, 10.0))
    return round(rng.uniform(low, high), 3)
