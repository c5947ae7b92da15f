"""``gudang simulate``: a random worker on ptys with stable names, read by a real bridge."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from firmware_bridge.bridge import Bridge
from gudang.settings import DeviceSettings
from gudang.wire import ScanKind, ScanV1, Topics, WeightStatus
from gudang_ops.servers import ServerProcess
from tests.bridge.station_kit import (
    STATION,
    Recorder,
    broker_settings,
    gudang_command,
    new_site,
    station_settings,
)
from tests.harness import wait_for

DRUMS = 6


class _Simulator:
    """``gudang simulate ARGS`` with line noise, its devices linked in `links`."""

    def __init__(self, links: Path, *args: str) -> None:
        self.process = subprocess.Popen(
            [
                gudang_command(),
                "simulate",
                *args,
                "--interval",
                "0.6",
                "--links",
                str(links),
                "--noise",
                "1",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        self.output = b""

    def stop(self) -> bytes:
        """SIGTERM, as a person's Ctrl-C; what it printed."""
        self.process.send_signal(signal.SIGTERM)
        out, _ = self.process.communicate(timeout=15)
        return out


@contextmanager
def _simulator(links: Path, *args: str, devices: list[DeviceSettings]) -> Iterator[_Simulator]:
    """``gudang simulate ARGS``, once the `devices` a bridge will open are linked in `links`;
    stopped when the block ends, it must end cleanly, with no traceback (its output kept)."""
    sim = _Simulator(links, *args)
    try:
        for device in devices:
            wait_for(Path(device.port).exists, 15, f"the simulator's {device.port}")
        yield sim
    finally:
        sim.output = sim.stop()
    assert sim.process.returncode == 0, sim.output
    assert b"Traceback" not in sim.output


def _assert_drums_weighed(drums: list[ScanV1]) -> None:
    """The simulated worker's drums: its labels, paired stable with its 2.5-11.5 kg weights."""
    assert all(s.barcode.startswith("CB-JMB-") for s in drums)
    stable = [s for s in drums if s.weight_status is WeightStatus.STABLE]
    assert len(stable) >= len(drums) - 1  # the first may have met the scale mid-start
    assert all(s.weight_kg is not None and 2.5 <= s.weight_kg <= 11.5 for s in stable)


@contextmanager
def _bridge(
    mosquitto: ServerProcess, tmp_path: Path, devices: list[DeviceSettings]
) -> Iterator[tuple[Bridge, Recorder]]:
    """A real bridge on `devices` and a recorder of the scans it publishes."""
    site = new_site()
    settings = station_settings(
        broker_settings(mosquitto, site), tmp_path, devices, pairing_window_s=2.0
    )
    recorder = Recorder(settings, Topics(site).scan(STATION))
    try:
        bridge = Bridge(settings)
        bridge.start()
        try:
            yield bridge, recorder
        finally:
            bridge.stop()
    finally:
        recorder.close()


def test_simulated_worker_with_line_noise_feeds_a_bridge(
    mosquitto: ServerProcess, tmp_path: Path
) -> None:
    links = tmp_path / "sim"
    devices = [
        DeviceSettings(name="scanner", role="scanner", port=str(links / "scanner")),
        DeviceSettings(name="scale", role="scale", port=str(links / "scale"), protocol="cas"),
    ]
    args = ("--protocol", "cas", "--container", "CSQU 305438 3")
    with (
        _simulator(links, *args, devices=devices) as sim,
        _bridge(mosquitto, tmp_path, devices) as (bridge, recorder),
    ):
        wait_for(lambda: len(recorder.scans()) >= DRUMS, 30, f"{DRUMS} simulated drums")
        drums = [s for s in recorder.scans() if s.kind is ScanKind.DRUM]
        _assert_drums_weighed(drums)
        # Every drum came with line noise on both lines: dropped and counted, never a scan.
        assert bridge.counters["scanner_bad_frames"] >= len(drums)
        assert bridge.counters["scale_bad_frames"] >= 1
    assert b"scanner:" in sim.output


def test_simulated_keyboard_scanner_and_xk3190_feed_a_bridge(
    mosquitto: ServerProcess, tmp_path: Path
) -> None:
    links = tmp_path / "sim"
    devices = [
        DeviceSettings(
            name="scanner",
            role="scanner",
            port=str(links / "scanner-kbd"),
            protocol="hid",
            layout="de",
        ),
        DeviceSettings(
            name="scale", role="scale", port=str(links / "scale"), protocol="xk3190-a12"
        ),
    ]
    with (
        _simulator(links, "--protocol", "xk3190-a12", "--hid", "de", devices=devices) as sim,
        _bridge(mosquitto, tmp_path, devices) as (bridge, recorder),
    ):
        wait_for(lambda: len(recorder.scans()) >= 4, 30, "4 simulated drums")
        drums = recorder.scans()
        # Typed on a German layout and read back as such; each came after a bad key.
        _assert_drums_weighed(drums)
        assert bridge.counters["scanner_bad_frames"] >= len(drums) - 1
    assert b'(protocol = "hid", layout = "de")' in sim.output
