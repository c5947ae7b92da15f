"""A whole simulated station: scanner and scale simulators, a bridge on their ptys, and a
worker who scans drums at a steady pace. The local stack runs one."""

from __future__ import annotations

import logging
import random
import threading
from pathlib import Path

from firmware_bridge.bridge import Bridge
from firmware_bridge.simulators import (
    HidScannerSimulator,
    ScaleSimulator,
    ScannerSimulator,
    drum_weight,
)
from gudang.settings import DeviceSettings, Settings, StationSettings

log = logging.getLogger(__name__)

DEMO_SKUS = ("JMB-L", "JMB-M", "JMB-S")
# After a bridge set the scanner's line up, how long its open may still flush the input.
READER_SETTLE_S = 0.5
# Line noise as a loose connector or a motor nearby makes it (the scanners make their own).
SCALE_NOISE = b"\xff\xfe\x00S\x1b\r\n"


class SimulatedWorker:
    """Scans a container label, then drum after drum, each put on the scale."""

    def __init__(
        self,
        scanner: ScannerSimulator | HidScannerSimulator,
        scale: ScaleSimulator,
        interval_s: float,
        container_no: str | None,
        prefix: str = "CB",
        seed: int | None = None,
        noise: float = 0.0,
    ) -> None:
        self.scanner = scanner
        self.noise = noise  # chance per drum of line noise on the scanner and the scale
        self.scale = scale
        self.interval_s = interval_s
        self.container_no = container_no
        self.prefix = prefix
        self.rng = random.Random(seed)
        self.drums = 0
        self.noisy = 0  # drums that came with line noise
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sim-worker", daemon=True)

    def start(self) -> None:
        """Start scanning."""
        self._thread.start()

    def stop(self) -> None:
        """Stop scanning."""
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        if self.container_no:
            self.scanner.scan(self.container_no)
            self._stop.wait(0.5)
        serial = self.rng.randrange(100_000, 900_000)
        while not self._stop.is_set():
            sku = self.rng.choices(DEMO_SKUS, weights=(6, 3, 1))[0]
            serial += 1
            if self.noise and self.rng.random() < self.noise:
                self.noisy += 1
                self.scanner.noise()
                self.scale.pty.write(SCALE_NOISE)
            self.scanner.scan(f"{self.prefix}-{sku}-{serial:06d}", None)
            self._stop.wait(0.05)
            self.scale.place(drum_weight(sku, self.rng))
            self.drums += 1
            self._stop.wait(self.interval_s)
            self.scale.place(0.0)


class SimulatedStation:
    """Simulators + bridge + worker for one station."""

    def __init__(
        self,
        settings: Settings,
        station: str,
        spool_dir: Path,
        interval_s: float = 2.0,
        container_no: str | None = None,
        protocol: str = "mt-sics",
        hid_layout: str | None = None,
    ) -> None:
        self.scanner: ScannerSimulator | HidScannerSimulator
        if hid_layout is None:
            self.scanner = ScannerSimulator()
            scanner = DeviceSettings(name="scanner", role="scanner", port=self.scanner.path)
        else:  # a USB keyboard scanner: input events on a FIFO beside the spool
            spool_dir.mkdir(parents=True, exist_ok=True)
            self.scanner = HidScannerSimulator(spool_dir / f"{station}-event-kbd", hid_layout)
            scanner = DeviceSettings(
                name="scanner",
                role="scanner",
                port=self.scanner.path,
                protocol="hid",
                layout=hid_layout,
            )
        self.scale = ScaleSimulator(protocol)
        station_settings = StationSettings(
            name=station,
            mode="loading",
            devices=[
                scanner,
                DeviceSettings(name="scale", role="scale", port=self.scale.path, protocol=protocol),
            ],
            spool_path=spool_dir / f"{station}.spool.sqlite3",
        )
        self.bridge = Bridge(settings.model_copy(update={"station": station_settings}))
        self.worker = SimulatedWorker(self.scanner, self.scale, interval_s, container_no)

    def start(self) -> None:
        """Start the bridge, then the worker once the bridge is connected."""
        self.bridge.start()
        self.bridge.link.wait_connected(10)
        self.worker.start()

    def stop(self) -> None:
        """Stop worker, bridge and simulators."""
        self.worker.stop()
        self.bridge.stop()
        self.scanner.close()
        self.scale.close()


def run_simulators(
    protocol: str,
    interval_s: float,
    container_no: str | None,
    stop: threading.Event,
    links: Path | None = None,
    noise: float = 0.0,
    hid_layout: str | None = None,
    drift_kg_per_min: float = 0.0,
) -> None:
    """Run a scanner and a scale simulator for a bridge to open; print their paths.

    With ``drift_kg_per_min`` the scale's zero wanders at that rate (scale_drift alerts).

    With ``hid_layout`` the scanner is a USB keyboard set to that layout: a FIFO of input
    events at ``links/scanner-kbd`` (``links`` is required then).
    """
    scanner: ScannerSimulator | HidScannerSimulator
    if hid_layout is not None:
        if links is None:
            raise ValueError("a simulated USB keyboard scanner needs a folder for its FIFO")
        scanner = HidScannerSimulator(links / "scanner-kbd", hid_layout)
        kind = f' (protocol = "hid", layout = "{hid_layout}")'
    else:
        scanner = ScannerSimulator(link=links / "scanner" if links else None)
        kind = ""
    scale = ScaleSimulator(protocol, link=links / "scale" if links else None)
    scale.drift(drift_kg_per_min / 60)
    print(f"scanner: {scanner.path}{kind}\nscale ({protocol}): {scale.path}", flush=True)
    print("point a bridge's station.devices at these ports; Ctrl-C stops", flush=True)
    if isinstance(scanner, ScannerSimulator):
        # Scanning starts once a bridge has opened the scanner: what is sent before is thrown
        # away when it opens the port (pyserial flushes its input), the container label with
        # it. A FIFO keeps what was written until it is read: no wait.
        while not scanner.pty.configured_by_reader():
            if stop.wait(0.1):
                scanner.close()
                scale.close()
                return
        # The flush follows the line set-up at once; the label goes after it.
        stop.wait(READER_SETTLE_S)
        print("a bridge opened the scanner: scanning", flush=True)
    worker = SimulatedWorker(scanner, scale, interval_s, container_no, noise=noise)
    worker.start()
    try:
        stop.wait()
    finally:
        worker.stop()
        scanner.close()
        scale.close()
