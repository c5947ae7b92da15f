"""Running Gudang's parts in-process for tests: services, API, MQTT probes."""

from __future__ import annotations

import queue
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from api.app import create_app
from api.transport import AbortableHttp
from firmware_bridge.bridge import Bridge
from firmware_bridge.simulators import ScaleSimulator, ScannerSimulator
from gudang.influx import InfluxClient
from gudang.mqtt import Message, MqttLink
from gudang.settings import (
    DeviceSettings,
    InfluxSettings,
    Settings,
    StationSettings,
    load_settings,
)
from gudang_ops.servers import (
    ServerProcess,
    free_port,
    restart,
    start_influxd,
    start_mosquitto,
    stop_stale_servers,
)
from services.app import Services

# Stations the test settings configure (floor.stations).
TEST_STATIONS = ("load-1", "load-2", "load-3", "load-4", "recv-1", "recv-2", "phone-1")

# The API's well-known local token (api.allow_demo_tokens, on in make_settings).
DEMO_HEADERS = {"Authorization": "Bearer demo-admin"}


@contextmanager
def running_services(settings: Settings) -> Iterator[Services]:
    """The floor services, connected and subscribed."""
    services = Services(settings)
    services.start()
    try:
        yield services
    finally:
        services.stop()


@contextmanager
def running_api(settings: Settings, port: int | None = None) -> Iterator[str]:
    """The API served by uvicorn on a free port (or ``port``); yields its base URL."""
    port = port or free_port()
    # The protocol `gudang api` serves with: a dropped stream resets its connection.
    config = uvicorn.Config(
        create_app(settings),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="on",
        http=AbortableHttp,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("API did not start")
        time.sleep(0.05)
    url = f"http://127.0.0.1:{port}"
    # Ready once the API follows the broker.
    while time.monotonic() < deadline:
        if httpx.get(f"{url}/api/v1/health").status_code == 200:
            break
        time.sleep(0.05)
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=10)


class OutputLines:
    """A child process whose stdout (text, stderr merged) is read line by line as it comes.

    Read from a pipe by a thread: a pipe has no file-size limit, and `lines` can be waited on.
    """

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        """All it printed so far."""
        return "\n".join(self.lines)

    def close_output(self) -> None:
        """Wait a moment for the reader to reach the end, then close the pipe."""
        self._reader.join(5)
        if self.process.stdout is not None:
            self.process.stdout.close()


class Probe:
    """A plain MQTT client for tests: publish, and collect what arrives on some topics."""

    def __init__(self, settings: Settings, *topics: str) -> None:
        self.messages: queue.Queue[Message] = queue.Queue()
        self.link = MqttLink(
            settings.mqtt,
            f"probe-{uuid.uuid4().hex[:8]}",
            subscriptions=[(t, 1) for t in topics],
            on_message=self.messages.put,
        )
        self.link.start()
        if not self.link.wait_connected(10) or not self.link.wait_subscribed(10):
            raise RuntimeError("probe could not connect and subscribe")

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> None:
        self.link.publish_and_wait(topic, payload, qos=qos, retain=retain)

    def get(self, timeout: float = 10.0) -> Message:
        return self.messages.get(timeout=timeout)

    def close(self) -> None:
        self.link.stop()


def make_settings(
    mosquitto: ServerProcess,
    influxd: ServerProcess,
    site: str,
    tmp_path: Path,
    **sections: dict[str, Any],
) -> Settings:
    """Settings pointing at the test servers, with a database named after the site."""
    overrides: dict[str, dict[str, Any]] = {
        "site": {"name": site},
        "mqtt": {"host": "127.0.0.1", "port": mosquitto.port, "keepalive_s": 10},
        "influx": {"url": f"http://127.0.0.1:{influxd.port}", "database": f"db_{site}"},
        "ingest": {"linger_ms": 5},
        # The stations the tests command before they scan (a command for any other is 404).
        "floor": {"stations": list(TEST_STATIONS)},
        "api": {
            "host": "127.0.0.1",
            "port": 0,
            "command_timeout_s": 5.0,
            "allow_demo_tokens": True,  # DEMO_HEADERS below
        },
        "station": {"spool_path": str(tmp_path / "spool.sqlite3")},
        # Flaps settle at once unless a test asks (the flap tests do); the outbox per test.
        "alerts": {"flap_settle_s": 0.0, "webhook_queue_path": str(tmp_path / "webhooks.sqlite3")},
    }
    for name, values in sections.items():
        overrides.setdefault(name, {}).update(values)
    return load_settings(None, overrides)


def influx_rows(influx: InfluxSettings, query: str) -> list[dict[str, Any]]:
    """The rows of one InfluxQL query, on a client of its own (closed after)."""
    client = InfluxClient(influx)
    try:
        return client.query(query)
    finally:
        client.close()


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    """Poll until ``predicate()`` is truthy; fail the test with ``what`` otherwise."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(0.05)
    pytest.fail(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


@contextmanager
def serial_station(
    settings: Settings, tmp_path: Path, name: str = "load-1", **station: Any
) -> Iterator[tuple[Bridge, ScannerSimulator, ScaleSimulator]]:
    """A real bridge reading a scanner and an MT-SICS scale simulated on ptys; not started."""
    scanner = ScannerSimulator()
    scale = ScaleSimulator("mt-sics")
    devices = [
        DeviceSettings(name="scanner", role="scanner", port=scanner.path),
        DeviceSettings(name="scale", role="scale", port=scale.path, protocol="mt-sics"),
    ]
    config = StationSettings(
        name=name, devices=devices, spool_path=tmp_path / f"{name}.sqlite3", **station
    )
    bridge = Bridge(settings.model_copy(update={"station": config}))
    try:
        yield bridge, scanner, scale
    finally:
        bridge.stop()
        scanner.close()
        scale.close()


class OwnServers:
    """The Mosquitto and InfluxDB processes a test starts for itself, to stop or kill them.

    A test that restarts a server gets a new process on the same port; each one started
    here is kept, so that ``stop_all`` stops every one, whichever the test holds last.
    """

    def __init__(self) -> None:
        self.started: list[ServerProcess] = []

    def _keep(self, server: ServerProcess) -> ServerProcess:
        self.started.append(server)
        return server

    def mosquitto(self, data_dir: Path, **options: Any) -> ServerProcess:
        """A Mosquitto of the test's own (``start_mosquitto``'s options)."""
        return self._keep(start_mosquitto(data_dir, **options))

    def influxd(self, data_dir: Path, **options: Any) -> ServerProcess:
        """An InfluxDB of the test's own (``start_influxd``'s options)."""
        return self._keep(start_influxd(data_dir, **options))

    def restart(self, server: ServerProcess, kill: bool = False) -> ServerProcess:
        """Stop ``server`` (``kill``: SIGKILL) and start it again on its port and data."""
        return self._keep(restart(server, kill=kill))

    def stop_all(self, data_dir: Path) -> list[int]:
        """Stop every server started here, then any other left running under ``data_dir``
        (started past this keeper); the pids of those others."""
        for server in reversed(self.started):
            server.stop()
        return stop_stale_servers(data_dir)


@contextmanager
def own_servers_stopped(data_dir: Path) -> Iterator[OwnServers]:
    """An ``OwnServers`` whose servers are all stopped on leaving, however the test ends;
    a server left running under ``data_dir`` by other means fails the test (once stopped)."""
    servers = OwnServers()
    try:
        yield servers
    finally:
        stray = servers.stop_all(data_dir)
    assert not stray, f"servers left running under {data_dir} after the test: pids {stray}"


def wait_serial_station_up(bridge: Bridge) -> None:
    """Wait until a ``serial_station`` bridge is on the broker and has both devices open."""
    wait_for(
        lambda: (
            bridge.link.ready
            and bridge.device_states() == {"scanner": "connected", "scale": "connected"}
        ),
        what="the bridge up with both devices",
    )
