"""Real Mosquitto and InfluxDB for the whole test session; a fresh site and database per test.

No mock or fake of either: the servers are the Debian binaries, started on free ports in
temporary folders, from the same configuration files as the local stack (deploy/local/).
"""

from __future__ import annotations

import functools
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gudang.influx import InfluxClient
from gudang.settings import Settings
from gudang_ops.servers import ServerProcess, start_influxd, start_mosquitto
from tests.harness import make_settings


@pytest.fixture(scope="session")
def servers_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("servers")


@pytest.fixture(scope="session")
def mosquitto(servers_dir: Path) -> Iterator[ServerProcess]:
    server = start_mosquitto(servers_dir / "mosquitto")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def influxd(servers_dir: Path) -> Iterator[ServerProcess]:
    server = start_influxd(servers_dir / "influxdb")
    yield server
    server.stop()


@pytest.fixture
def site() -> str:
    """A site name of its own: a fresh topic prefix gudang/<site>/ for the test."""
    return "t" + uuid.uuid4().hex[:12]


@pytest.fixture
def settings_with(
    mosquitto: ServerProcess, influxd: ServerProcess, site: str, tmp_path: Path
) -> Callable[..., Settings]:
    """Make the test's settings with some sections changed: ``settings_with(alerts={...})``."""
    return functools.partial(make_settings, mosquitto, influxd, site, tmp_path)


@pytest.fixture
def settings(settings_with: Callable[..., Settings]) -> Settings:
    return settings_with()


@pytest.fixture
def influx(settings: Settings) -> Iterator[InfluxClient]:
    client = InfluxClient(settings.influx)
    client.ensure_database()
    yield client
    client.close()


@pytest.fixture(autouse=True)
def _no_logged_exceptions(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Fail any test during which something logged an exception (a crash in a thread)."""
    yield
    crashes = [r for r in caplog.get_records("call") if r.exc_info and r.levelno >= logging.ERROR]
    if crashes:
        pytest.fail(f"an exception was logged: {crashes[0].getMessage()}\n{crashes[0].exc_text}")


@pytest.fixture
def thread_leak_guard() -> Iterator[None]:
    before = set(threading.enumerate())
    yield
    time.sleep(0.1)
    leaked = [t for t in set(threading.enumerate()) - before if t.is_alive() and not t.daemon]
    assert not leaked, f"threads left running: {leaked}"
