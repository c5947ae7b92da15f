"""``gudang --config station.toml bridge`` as a process: bad settings, status, last will."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest

from firmware_bridge.protocols import SCALE_PROTOCOLS
from firmware_bridge.simulators import ScaleSimulator, ScannerSimulator
from gudang.settings import SCALE_PROTOCOL_NAMES
from gudang.wire import StationState, Topics
from gudang_ops.servers import ServerProcess
from tests.bridge.station_kit import (
    STATION,
    Recorder,
    broker_settings,
    gudang_command,
    new_site,
    start_bridge_process,
    write_station_toml,
)
from tests.harness import wait_for


def test_settings_know_every_protocol_the_bridge_speaks() -> None:
    assert set(SCALE_PROTOCOL_NAMES) == set(SCALE_PROTOCOLS)


# (what to change in a good station file, the setting the error must name)
BAD_SETTINGS = [
    (('protocol = "mt-sics"', 'protocol = "mt-sic"'), "station.devices.1"),
    (('role = "scanner"', 'role = "scanner"\nbaud = 9600'), "station.devices.0.baud"),
    (("pairing_window_s = 1.5", "pairing_window_s = 1.5\nbaudrate = 9600"), "station.baudrate"),
    (
        ('protocol = "mt-sics"', 'protocol = "mt-sics"\nbaudrate = 9601'),
        "station.devices.1.baudrate",
    ),
    (('protocol = "mt-sics"', 'protocol = "mt-sics"\nparity = "X"'), "station.devices.1.parity"),
    (('name = "scanner"', 'name = "scale"'), "station.devices"),
    (('role = "scanner"', 'role = "scale"'), "station.devices.0"),
    (("pairing_window_s = 1.5", "pairing_window_s = -1"), "station.pairing_window_s"),
    (
        ("pairing_window_s = 1.5", "pairing_window_s = 1.5\nreceipt_timeout_s = 0"),
        "station.receipt_timeout_s",
    ),
    ((f'name = "{STATION}"', 'name = "Load 1"'), "station.name"),
    (("keepalive_s = 10", 'keepalive_s = "often"'), "mqtt.keepalive_s"),
    (("spool_path = ", 'spool_path = "/proc/no/such/spool.sqlite3"\n# '), "station.spool_path"),
]


@pytest.mark.parametrize(("change", "named"), BAD_SETTINGS, ids=[b[1] for b in BAD_SETTINGS])
def test_a_wrong_setting_fails_at_start_naming_it(
    change: tuple[str, str], named: str, mosquitto: ServerProcess, tmp_path: Path
) -> None:
    config = tmp_path / "station.toml"
    write_station_toml(config, mosquitto, new_site(), tmp_path)
    text = config.read_text()
    assert change[0] in text
    config.write_text(text.replace(change[0], change[1], 1))
    done = subprocess.run(
        [gudang_command(), "--config", str(config), "bridge"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert named in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "spool.sqlite3").exists() or named == "station.spool_path"


def test_bridge_process_heartbeat_device_states_and_last_will(
    mosquitto: ServerProcess, tmp_path: Path
) -> None:
    site = new_site()
    topics = Topics(site)
    config = tmp_path / "station.toml"
    write_station_toml(config, mosquitto, site, tmp_path, "heartbeat_s = 0.3")
    scanner = ScannerSimulator(link=tmp_path / "ttyScanner")
    scale = ScaleSimulator("mt-sics", link=tmp_path / "ttyScale")
    settings = broker_settings(mosquitto, site)
    recorder = Recorder(settings, topics.status(STATION))
    bridge = start_bridge_process(config, tmp_path / "bridge.log")
    try:
        wait_for(
            lambda: (
                sum(
                    s.state is StationState.ONLINE
                    and all(d.state == "connected" for d in s.devices)
                    for s in recorder.statuses()
                )
                >= 3
            ),
            15,
            "three heartbeats with both devices connected",
        )
        beats = [s for s in recorder.statuses() if s.state is StationState.ONLINE]
        assert all(b.heartbeat_s == 0.3 for b in beats)
        stamps = [b.ts for b in beats]
        assert stamps == sorted(stamps)
        assert len(set(stamps)) == len(stamps)
        last = beats[-1]
        assert [(d.name, d.role) for d in last.devices] == [
            ("scanner", "scanner"),
            ("scale", "scale"),
        ]
        assert (last.spool_depth, last.spool_nearly_full) == (0, False)

        # Retained: whoever subscribes later learns the station is online at once.
        late = Recorder(settings, topics.status(STATION))
        try:
            wait_for(lambda: late.on("status"), what="the retained status")
            first = late.on("status")[0]
            assert first.retain
            assert late.statuses()[0].state is StationState.ONLINE
        finally:
            late.close()

        bridge.send_signal(signal.SIGKILL)
        bridge.wait(10)
        # The broker publishes the last will: offline, retained.
        will = recorder.wait_status(
            lambda s: s.state is StationState.OFFLINE, 30, "the last will", after=len(beats)
        )
        assert will.station == STATION
        after_kill = Recorder(settings, topics.status(STATION))
        try:
            wait_for(after_kill.statuses, what="the retained will")
            assert after_kill.statuses()[0].state is StationState.OFFLINE
        finally:
            after_kill.close()

        # Restarted, then stopped cleanly: online again, then offline said by the bridge.
        bridge = start_bridge_process(config, tmp_path / "bridge-2.log")
        seen = len(recorder.statuses())
        recorder.wait_status(lambda s: s.state is StationState.ONLINE, 15, "online", after=seen)
        seen = len(recorder.statuses())
        bridge.send_signal(signal.SIGTERM)
        assert bridge.wait(15) == 0
        recorder.wait_status(lambda s: s.state is StationState.OFFLINE, 10, "offline", after=seen)
    finally:
        if bridge.poll() is None:
            bridge.kill()
            bridge.wait(10)
        recorder.close()
        scanner.close()
        scale.close()
