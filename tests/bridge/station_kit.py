"""Test kit for the bridge: a station on ptys with a real bridge, and an MQTT recorder."""

from __future__ import annotations

import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.bridge_bench import station_toml
from firmware_bridge.bridge import Bridge
from firmware_bridge.protocols import SCALE_PROTOCOLS
from firmware_bridge.simulators import HidScannerSimulator, ScaleSimulator, ScannerSimulator
from gudang.mqtt import Message, MqttLink
from gudang.settings import DeviceSettings, Settings, StationSettings, load_settings
from gudang.wire import ScanV1, StationStatusV1, Topics, scan_decoder, status_decoder
from gudang_ops.servers import ServerProcess
from tests.harness import wait_for

STATION = "load-1"
# Short windows keep the tests quick; the simulated scales settle in SETTLE_S.
PAIRING_WINDOW_S = 1.2
SETTLE_S = 0.3
# Scales without a stable flag need N equal frames: simulate a 25 Hz indicator (XK3190).
JUDGED_INTERVAL_S = 1 / 25


def broker_settings(broker: ServerProcess, site: str) -> Settings:
    """Settings for ``site`` on this broker only (no InfluxDB: the bridge needs none)."""
    return load_settings(
        None,
        {
            "site": {"name": site},
            "mqtt": {"host": "127.0.0.1", "port": broker.port, "keepalive_s": 10},
        },
    )


def new_site() -> str:
    """A fresh site name: topics of its own."""
    return "t" + uuid.uuid4().hex[:12]


class Recorder:
    """Records every message on some topics, in arrival order, for assertions."""

    def __init__(
        self,
        settings: Settings,
        *topics: str,
        client_id: str | None = None,
        persistent: bool = False,
    ) -> None:
        self.messages: list[Message] = []
        self._lock = threading.Lock()
        self.link = MqttLink(
            settings.mqtt,
            client_id or f"rec-{uuid.uuid4().hex[:8]}",
            subscriptions=[(t, 1) for t in topics],
            on_message=self._on_message,
            persistent=persistent,
        )
        self.link.start()
        if not self.link.wait_connected(10) or not self.link.wait_subscribed(10):
            raise RuntimeError("recorder could not connect and subscribe")

    def _on_message(self, message: Message) -> None:
        with self._lock:
            self.messages.append(message)

    def on(self, suffix: str) -> list[Message]:
        """Messages whose topic ends with ``/suffix`` (``scan``, ``status``, ``weight``)."""
        with self._lock:
            return [m for m in self.messages if m.topic.endswith("/" + suffix)]

    def scans(self) -> list[ScanV1]:
        """Scan payloads, decoded (the contract's own decoder validates them)."""
        return [scan_decoder.decode(m.payload) for m in self.on("scan")]

    def statuses(self) -> list[StationStatusV1]:
        """Status payloads, decoded (empty retained clears skipped)."""
        return [status_decoder.decode(m.payload) for m in self.on("status") if m.payload]

    def wait_scans(self, count: int, timeout: float = 10.0) -> list[ScanV1]:
        """Wait until ``count`` scans arrived; return them all."""
        wait_for(lambda: len(self.on("scan")) >= count, timeout, f"{count} scans")
        return self.scans()

    def wait_status(
        self,
        predicate: Callable[[StationStatusV1], bool],
        timeout: float = 10.0,
        what: str = "",
        after: int = 0,
    ) -> StationStatusV1:
        """Wait for a status (from the ``after``-th on) satisfying ``predicate``; return it."""
        found: StationStatusV1 = wait_for(
            lambda: next((s for s in self.statuses()[after:] if predicate(s)), None),
            timeout,
            what or "a status",
        )
        return found

    def close(self) -> None:
        """Disconnect."""
        self.link.stop()


@dataclass
class Station:
    """A bridge on simulated devices, and a recorder on its topics."""

    bridge: Bridge
    scanner: ScannerSimulator | HidScannerSimulator
    scale: ScaleSimulator | None
    recorder: Recorder
    topics: Topics

    def device(self, name: str) -> str:
        """A device's state as the bridge sees it."""
        return self.bridge.device_states()[name]

    def require_scale(self) -> ScaleSimulator:
        """The station's scale; the test fails if the station was made without one."""
        assert self.scale is not None, "this station has no scale"
        return self.scale


def station_settings(
    settings: Settings, tmp_path: Path, devices: list[DeviceSettings], **overrides: Any
) -> Settings:
    """The test settings with a station of these devices and quick windows."""
    values: dict[str, Any] = {
        "name": STATION,
        "devices": devices,
        "spool_path": tmp_path / "spool.sqlite3",
        "pairing_window_s": PAIRING_WINDOW_S,
    }
    values.update(overrides)
    return settings.model_copy(update={"station": StationSettings(**values)})


@contextmanager
def running_station(
    settings: Settings,
    tmp_path: Path,
    protocol: str | None = "mt-sics",
    suffix: bytes = b"\r\n",
    hid_layout: str | None = None,
    **overrides: Any,
) -> Iterator[Station]:
    """Simulators on ptys behind stable links, a started bridge, a recorder; all stopped after.

    With ``hid_layout`` the scanner is a USB keyboard set to that layout, on a FIFO of input
    events (``suffix`` b"" for none, else Enter).
    """
    scanner: ScannerSimulator | HidScannerSimulator
    if hid_layout is None:
        scanner = ScannerSimulator(suffix=suffix, link=tmp_path / "ttyScanner")
        scanner_device = DeviceSettings(name="scanner", role="scanner", port=scanner.path)
    else:
        scanner = HidScannerSimulator(
            tmp_path / "event-kbd", hid_layout, suffix="\r" if suffix else ""
        )
        scanner_device = DeviceSettings(
            name="scanner", role="scanner", port=scanner.path, protocol="hid", layout=hid_layout
        )
    scale = (
        ScaleSimulator(
            protocol,
            settle_s=SETTLE_S,
            link=tmp_path / "ttyScale",
            **(
                {}
                if SCALE_PROTOCOLS[protocol].flags_stability
                else {"interval_s": JUDGED_INTERVAL_S}
            ),
        )
        if protocol
        else None
    )
    devices = [scanner_device]
    if scale is not None and protocol is not None:
        devices.append(
            DeviceSettings(name="scale", role="scale", port=scale.path, protocol=protocol)
        )
    full = station_settings(settings, tmp_path, devices, **overrides)
    topics = Topics(full.site.name)
    recorder = Recorder(full, topics.scan(STATION), topics.status(STATION), topics.weight(STATION))
    bridge = Bridge(full)
    try:
        bridge.start()
        expected = {d.name: "connected" for d in devices}
        wait_for(lambda: bridge.device_states() == expected, 10, "bridge opened the ptys")
        wait_for(lambda: bridge.link.connected, 10, "bridge connected to the broker")
        yield Station(bridge, scanner, scale, recorder, topics)
    finally:
        bridge.stop()
        recorder.close()
        scanner.close()
        if scale is not None:
            scale.close()


def write_station_toml(
    path: Path, broker: ServerProcess, site: str, tmp_path: Path, station_extra: str = ""
) -> None:
    """A station file: scanner and MT-SICS scale at the stable pty links under ``tmp_path``."""
    text = station_toml(
        site,
        broker,
        STATION,
        tmp_path / "spool.sqlite3",
        tmp_path / "ttyScanner",
        tmp_path / "ttyScale",
        mqtt_extra="keepalive_s = 10",
        station_extra="pairing_window_s = 1.5\n" + station_extra,
    )
    path.write_text(text, encoding="utf-8")


def gudang_command() -> str:
    """The ``gudang`` console script of this environment."""
    return str(Path(sys.executable).parent / "gudang")


def start_bridge_process(config: Path, log_path: Path) -> subprocess.Popen[bytes]:
    """``gudang --config <config> bridge`` as its own process, its output in ``log_path``."""
    with log_path.open("ab") as out:
        return subprocess.Popen(
            [gudang_command(), "--config", str(config), "bridge"], stdout=out, stderr=out
        )
