"""``gudang simulate``: a random worker on ptys with stable names, read by a real bridge."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

from firmware_bridge.bridge import Bridge
from gudang.settings import DeviceSettings
from gudang.wire import ScanKind, Topics, WeightStatus
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


def test_simulated_worker_with_line_noise_feeds_a_bridge(
    mosquitto: ServerProcess, tmp_path: Path
) -> None:
    links = tmp_path / "sim"
    sim = subprocess.Popen(
        [
            gudang_command(),
            "simulate",
            "--protocol",
            "cas",
            "--interval",
            "0.6",
            "--container",
            "CSQU 305438 3",
            "--links",
            str(links),
            "--noise",
            "1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    site = new_site()
    recorder = None
    bridge = None
    try:
        wait_for((links / "scale").exists, 15, "the simulator's ptys")
        settings = station_settings(
            broker_settings(mosquitto, site),
            tmp_path,
            [
                DeviceSettings(name="scanner", role="scanner", port=str(links / "scanner")),
                DeviceSettings(
                    name="scale", role="scale", port=str(links / "scale"), protocol="cas"
                ),
            ],
            pairing_window_s=2.0,
        )
        recorder = Recorder(settings, Topics(site).scan(STATION))
        bridge = Bridge(settings)
        bridge.start()
        wait_for(lambda: len(recorder.scans()) >= DRUMS, 30, f"{DRUMS} simulated drums")
        drums = [s for s in recorder.scans() if s.kind is ScanKind.DRUM]
        # Every drum came with line noise on both lines: dropped and counted, never a scan.
        assert all(s.barcode.startswith("CB-JMB-") for s in drums)
        assert bridge.counters["scanner_bad_frames"] >= len(drums)
        assert bridge.counters["scale_bad_frames"] >= 1
        # Plausible weights (the worker puts 2.5-11.5 kg drums on the scale), paired stable.
        stable = [s for s in drums if s.weight_status is WeightStatus.STABLE]
        assert len(stable) >= len(drums) - 1  # the first may have met the scale mid-start
        assert all(s.weight_kg is not None and 2.5 <= s.weight_kg <= 11.5 for s in stable)
    finally:
        if bridge is not None:
            bridge.stop()
        if recorder is not None:
            recorder.close()
        sim.send_signal(signal.SIGTERM)
        out, _ = sim.communicate(timeout=15)
    assert sim.returncode == 0, out
    assert b"scanner:" in out
    assert b"Traceback" not in out


def test_simulated_keyboard_scanner_and_xk3190_feed_a_bridge(
    mosquitto: ServerProcess, tmp_path: Path
) -> None:
    links = tmp_path / "sim"
    sim = subprocess.Popen(
        [
            gudang_command(),
            "simulate",
            "--protocol",
            "xk3190-a12",
            "--hid",
            "de",
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
    site = new_site()
    recorder = None
    bridge = None
    try:
        wait_for((links / "scale").exists, 15, "the simulator's devices")
        wait_for((links / "scanner-kbd").exists, 15, "the simulator's keyboard FIFO")
        settings = station_settings(
            broker_settings(mosquitto, site),
            tmp_path,
            [
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
            ],
            pairing_window_s=2.0,
        )
        recorder = Recorder(settings, Topics(site).scan(STATION))
        bridge = Bridge(settings)
        bridge.start()
        wait_for(lambda: len(recorder.scans()) >= 4, 30, "4 simulated drums")
        drums = recorder.scans()
        # Typed on a German layout and read back as such; each came after a bad key.
        assert all(s.barcode.startswith("CB-JMB-") for s in drums)
        assert bridge.counters["scanner_bad_frames"] >= len(drums) - 1
        stable = [s for s in drums if s.weight_status is WeightStatus.STABLE]
        assert len(stable) >= len(drums) - 1
        assert all(s.weight_kg is not None and 2.5 <= s.weight_kg <= 11.5 for s in stable)
    finally:
        if bridge is not None:
            bridge.stop()
        if recorder is not None:
            recorder.close()
        sim.send_signal(signal.SIGTERM)
        out, _ = sim.communicate(timeout=15)
    assert sim.returncode == 0, out
    assert b'(protocol = "hid", layout = "de")' in out
    assert b"Traceback" not in out
