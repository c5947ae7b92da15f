"""Faults inside the bridge stop nothing silently: a real full disk under a real bridge.

The bridge runs as its own process (``gudang bridge``) behind a small wrapper that ignores
SIGXFSZ and, on SIGUSR1, lowers RLIMIT_FSIZE to just past the spool's write-ahead log, so
SQLite's next write really fails: cut short, then refused with EFBIG (SQLite reports that
as SQLITE_IOERR_WRITE, "disk I/O error"; a full SD card's ENOSPC as SQLITE_FULL: the
bridge treats both alike). SIGUSR2 gives the room back. The services, the API and the broker are the real ones.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from firmware_bridge.simulators import ScaleSimulator, ScannerSimulator
from gudang.settings import Settings
from gudang.wire import StationStatusV1, Topics
from gudang_ops.servers import ServerProcess
from tests.bridge.station_kit import STATION, Recorder, write_station_toml
from tests.harness import DEMO_HEADERS, OutputLines, running_api, running_services, wait_for

DRUM_KG = 9.5

# Runs the bridge as `gudang bridge` does, in a process whose disk can be made full.
WRAPPER = """
import os, resource, signal, sys
from gudang_ops.cli import main

wal = sys.argv[1] + "-wal"
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
_, hard = resource.getrlimit(resource.RLIMIT_FSIZE)

def full(signum, frame):
    # One byte past the log's end: SQLite's next append is cut short, then refused.
    resource.setrlimit(resource.RLIMIT_FSIZE, (os.path.getsize(wal) + 1, hard))
    print("WRAPPER: disk full", flush=True)

def room(signum, frame):
    resource.setrlimit(resource.RLIMIT_FSIZE, (hard, hard))
    print("WRAPPER: room again", flush=True)

signal.signal(signal.SIGUSR1, full)
signal.signal(signal.SIGUSR2, room)
sys.exit(main(["--config", sys.argv[2], "bridge"]))
"""


class BridgeProcess(OutputLines):
    """The wrapped bridge; its output read from a pipe (a pipe has no file-size limit)."""

    def __init__(self, spool: Path, config: Path, wrapper: Path) -> None:
        super().__init__(
            subprocess.Popen(
                [sys.executable, str(wrapper), str(spool), str(config)],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )

    def signal(self, signum: int, confirmation: str) -> None:
        """Send a signal to the wrapper and wait until it says it acted on it."""
        seen = sum(1 for line in self.lines if confirmation in line)
        self.process.send_signal(signum)
        wait_for(
            lambda: sum(1 for line in self.lines if confirmation in line) > seen,
            15,
            confirmation,
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.close_output()


@pytest.fixture
def devices(tmp_path: Path) -> Iterator[tuple[ScannerSimulator, ScaleSimulator]]:
    scanner = ScannerSimulator(link=tmp_path / "ttyScanner")
    scale = ScaleSimulator("mt-sics", settle_s=0.0, link=tmp_path / "ttyScale")
    scale.place(DRUM_KG)
    try:
        yield scanner, scale
    finally:
        scanner.close()
        scale.close()


def _spooled(spool: Path) -> int:
    with sqlite3.connect(spool) as db:
        return int(db.execute("SELECT COUNT(*) FROM spool").fetchone()[0])


def _station(api: str) -> dict[str, Any]:
    r = httpx.get(f"{api}/api/v1/stations", headers=DEMO_HEADERS, timeout=15)
    assert r.status_code == 200, r.text
    return next((s for s in r.json() if s["station"] == STATION), {})


def _alerts(api: str) -> list[dict[str, Any]]:
    r = httpx.get(f"{api}/api/v1/alerts", headers=DEMO_HEADERS, timeout=15)
    assert r.status_code == 200, r.text
    return [a for a in r.json() if a["kind"] == "station_error"]


def test_full_disk_is_reported_scans_refused_aloud_and_the_station_recovers(
    settings: Settings,
    mosquitto: ServerProcess,
    devices: tuple[ScannerSimulator, ScaleSimulator],
    tmp_path: Path,
) -> None:
    scanner, _scale = devices
    site = settings.site.name
    topics = Topics(site)
    spool = tmp_path / "spool.sqlite3"
    config = tmp_path / "station.toml"
    write_station_toml(config, mosquitto, site, tmp_path, "heartbeat_s = 1.0")
    wrapper = tmp_path / "full_disk_bridge.py"
    wrapper.write_text(WRAPPER, encoding="utf-8")
    recorder = Recorder(settings, topics.scan(STATION), topics.status(STATION))
    bridge = BridgeProcess(spool, config, wrapper)

    def status(predicate: Any, what: str) -> StationStatusV1:
        return recorder.wait_status(predicate, 30, what)

    def scanned() -> set[str]:
        return {s.barcode for s in recorder.scans()}

    try:
        with running_api(settings) as api:
            with running_services(settings):
                status(
                    lambda s: (
                        s.state == "online" and all(d.state == "connected" for d in s.devices)
                    ),
                    "the bridge online with both devices",
                )
                scanner.scan("CB-JMB-L-000001")
                wait_for(lambda: "CB-JMB-L-000001" in scanned(), 30, "the first scan")
                wait_for(lambda: _spooled(spool) == 0, 30, "the first scan receipted")
            # The services away: the next scan is published but waits for its receipt.
            scanner.scan("CB-JMB-L-000002")
            wait_for(lambda: "CB-JMB-L-000002" in scanned(), 30, "the second scan published")
            bridge.signal(signal.SIGUSR1, "WRAPPER: disk full")

            # A scan on the full disk: not stored, the worker told, the fault in the status.
            scanner.scan("CB-JMB-L-000003")
            refused = status(
                lambda s: s.refused is not None and s.refused.label == "CB-JMB-L-000003",
                "the refused scan in the status",
            )
            assert "cannot write the spool" in refused.error, refused.error
            assert "disk I/O error" in refused.refused.reason, refused.refused
            assert refused.errors >= 1
            assert refused.scans_refused == 1
            assert refused.state == "online"  # the heartbeat alone would have said all is well

            with running_services(settings):
                # The receipt of the second scan cannot be deleted either: the publishing
                # thread fails, is reported, and carries on with back-off.
                status(lambda s: "publish thread" in s.error, "the publish thread's fault")
                view = wait_for(lambda: _station(api).get("refused") and _station(api), 30)
                assert view["refused"]["label"] == "CB-JMB-L-000003"
                assert "spool" in view["error"]
                alert = wait_for(lambda: _alerts(api), 30, "a station_error alert")[0]
                assert alert["station"] == STATION
                assert alert["severity"] == "critical"

                bridge.signal(signal.SIGUSR2, "WRAPPER: room again")
                for n in (4, 5, 6):
                    scanner.scan(f"CB-JMB-L-{n:06d}")
                wait_for(
                    lambda: {"CB-JMB-L-000004", "CB-JMB-L-000005", "CB-JMB-L-000006"} <= scanned(),
                    30,
                    "every scan after the disk has room again",
                )
                after = len(recorder.statuses())
                status_ok = recorder.wait_status(
                    lambda s: s.error == "", 60, "the fault cleared", after=after
                )
                assert status_ok.errors >= 2
                wait_for(lambda: _spooled(spool) == 0, 60, "every row receipted and deleted")
                wait_for(lambda: not _alerts(api), 30, "the station_error alert cleared")
                wait_for(lambda: _station(api).get("error") == "", 30, "the API shows no error")
    finally:
        bridge.stop()
        recorder.close()
    assert "CB-JMB-L-000003" not in scanned()  # refused, never published as stored
    assert scanned() >= {f"CB-JMB-L-{n:06d}" for n in (1, 2, 4, 5, 6)}
    out = bridge.output
    assert "NOT SAVED" in out
    assert "CB-JMB-L-000003" in out
    assert "Traceback" in out  # the unexpected errors logged with their tracebacks
    assert "disk I/O error" in out, out[-3000:]
    assert "cannot rollback" not in out  # the real error is reported, not a follow-up one
    assert bridge.process.returncode == 0, out[-3000:]
