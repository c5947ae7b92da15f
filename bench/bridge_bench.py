"""The station bridge's own cost: CPU and memory at 10 scans/s, and the spool's drain rate.

    .venv/bin/python -m bench.bridge_bench            # ~20 s of scanning, 5,000 spooled
    .venv/bin/python -m bench.bridge_bench --quick    # a smoke run in seconds (CI)

The bridge runs as production runs it, ``gudang --config station.toml bridge`` in a process
of its own, so its CPU time and memory are read from /proc without the bench's own work.
A simulated scanner and MT-SICS scale on pseudo-terminals feed it; a Mosquitto of the
bench's own takes the scans. Figures go to stdout; docs/bridge.md keeps a recorded run.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench.receipter import Receipter
from firmware_bridge.simulators import ScaleSimulator, ScannerSimulator
from firmware_bridge.spool import Spool
from gudang.mqtt import Message, MqttLink
from gudang.settings import load_settings
from gudang.wire import ScanKind, ScanV1, Topics, WeightStatus, encode
from gudang_ops.servers import ServerProcess, start_mosquitto

STATION = "bench-1"
SCANS_PER_S = 10.0
DRUM_KG = 9.0
# The bridge opens its ports and connects in well under a second; a busy machine is slower.
START_TIMEOUT_S = 30.0
DRAIN_TIMEOUT_S = 300.0
_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


@dataclass(frozen=True)
class Load:
    """The bridge under a steady scan rate."""

    seconds: float
    scans: int
    delivered: int
    cpu_percent: float  # of one core
    rss_mb_mean: float
    rss_mb_peak: float


@dataclass(frozen=True)
class Drain:
    """A backlog of spooled scans leaving for the broker after an outage."""

    scans: int
    seconds: float  # from the bridge's start to the last scan delivered
    draining: float  # from the first scan delivered to the last

    @property
    def rate(self) -> float:
        """Scans a second while the spool drains (process start-up left out)."""
        return (self.scans - 1) / self.draining if self.draining > 0 else 0.0


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime + stime


def _rss_mb(pid: int) -> float:
    resident = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    return resident * _PAGE_KB / 1024


class Counter:
    """Counts scans arriving at the broker for the bench's site."""

    def __init__(self, port: int, topic: str) -> None:
        self.count = 0
        self.first_at = 0.0
        self.last_at = 0.0
        self._lock = threading.Lock()
        settings = load_settings(None, {"mqtt": {"host": "127.0.0.1", "port": port}})
        self.link = MqttLink(
            settings.mqtt,
            f"bench-count-{uuid.uuid4().hex[:8]}",
            subscriptions=[(topic, 1)],
            on_message=self._on_message,
        )
        self.link.start()
        if not self.link.wait_connected(10) or not self.link.wait_subscribed(10):
            raise RuntimeError("the counting subscriber could not connect")

    def _on_message(self, message: Message) -> None:
        with self._lock:
            self.count += 1
            self.last_at = time.monotonic()
            if self.count == 1:
                self.first_at = self.last_at

    def wait(self, count: int, timeout: float) -> bool:
        """Wait until ``count`` scans arrived."""
        deadline = time.monotonic() + timeout
        while self.count < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.count >= count

    def close(self) -> None:
        """Disconnect."""
        self.link.stop()


def site_toml(site: str, broker: ServerProcess, mqtt_extra: str = "") -> str:
    """The [site] and [mqtt] tables of a settings file: ``site`` on this broker."""
    return f"""
[site]
name = "{site}"

[mqtt]
host = "127.0.0.1"
port = {broker.port}
{mqtt_extra}
"""


def station_toml(
    site: str,
    broker: ServerProcess,
    station: str,
    spool: Path,
    scanner: Path,
    scale: Path,
    *,
    mqtt_extra: str = "",
    station_extra: str = "",
) -> str:
    """A file for ``station`` of ``site`` on this broker: a scanner and an MT-SICS scale there.

    The tests' station processes use it too (tests/bridge/station_kit.py).
    """
    return (
        site_toml(site, broker, mqtt_extra)
        + f"""
[station]
name = "{station}"
spool_path = "{spool}"
{station_extra}

[[station.devices]]
name = "scanner"
role = "scanner"
port = "{scanner}"

[[station.devices]]
name = "scale"
role = "scale"
port = "{scale}"
protocol = "mt-sics"
"""
    )


def _station_file(work: Path, broker: ServerProcess, site: str, spool: Path, capacity: int) -> Path:
    path = work / "station.toml"
    extra = f"spool_capacity = {capacity}"
    path.write_text(
        station_toml(
            site, broker, STATION, spool, work / "scanner", work / "scale", station_extra=extra
        )
    )
    return path


def _start_bridge(config: Path, log: Path) -> subprocess.Popen[bytes]:
    gudang = str(Path(sys.executable).parent / "gudang")
    with log.open("ab") as out:
        return subprocess.Popen([gudang, "--config", str(config), "bridge"], stdout=out, stderr=out)


def _wait_log(log: Path, *needles: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace")
        if all(n in text for n in needles):
            return
        time.sleep(0.05)
    raise RuntimeError(f"the bridge did not start; its log:\n{log.read_text(errors='replace')}")


def _stop(bridge: subprocess.Popen[bytes]) -> None:
    bridge.terminate()
    try:
        bridge.wait(15)
    except subprocess.TimeoutExpired:
        bridge.kill()
        bridge.wait()


def measure_load(work: Path, broker: ServerProcess, site: str, seconds: float) -> Load:
    """CPU and RSS of a bridge process while a scanner scans 10 drums a second."""
    scanner = ScannerSimulator(link=work / "scanner")
    scale = ScaleSimulator("mt-sics", settle_s=0.0, link=work / "scale")
    scale.place(DRUM_KG)
    counter = Counter(broker.port, Topics(site).scan(STATION))
    config = _station_file(work, broker, site, work / "load.sqlite3", 200_000)
    log = work / "bridge-load.log"
    bridge = _start_bridge(config, log)
    try:
        _wait_log(log, "scanner: opened", "scale: opened", "connected to")
        rss: list[float] = []
        cpu0, t0 = _cpu_seconds(bridge.pid), time.monotonic()
        scans = round(seconds * SCANS_PER_S)
        for i in range(scans):
            delay = t0 + i / SCANS_PER_S - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            scanner.scan(f"CB-JMB-L-{i + 1:06d}")
            if i % round(SCANS_PER_S) == 0:
                rss.append(_rss_mb(bridge.pid))
        counter.wait(scans, 30)
        cpu1, t1 = _cpu_seconds(bridge.pid), time.monotonic()
        rss.append(_rss_mb(bridge.pid))
        return Load(
            seconds=t1 - t0,
            scans=scans,
            delivered=counter.count,
            cpu_percent=100 * (cpu1 - cpu0) / (t1 - t0),
            rss_mb_mean=statistics.fmean(rss),
            rss_mb_peak=max(rss),
        )
    finally:
        _stop(bridge)
        counter.close()
        scanner.close()
        scale.close()


def _wait_empty(spool_path: Path, timeout: float) -> bool:
    """Wait until the spool file holds no row (read as another process would)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        db = sqlite3.connect(f"file:{spool_path}?mode=ro", uri=True)
        try:
            if db.execute("SELECT COUNT(*) FROM spool").fetchone()[0] == 0:
                return True
        finally:
            db.close()
        time.sleep(0.05)
    return False


def measure_drain(work: Path, broker: ServerProcess, site: str, scans: int) -> Drain:
    """Time for a bridge process to deliver ``scans`` scans spooled during an outage."""
    spool_path = work / "drain.sqlite3"
    topic = Topics(site).scan(STATION)
    spool = Spool(spool_path, scans)
    now = time.time()
    for i in range(scans):
        scan = ScanV1(
            id=uuid.uuid4().hex,
            ts=datetime.fromtimestamp(now + i / SCANS_PER_S, UTC),
            site=site,
            station=STATION,
            barcode=f"CB-JMB-L-{i + 1:06d}",
            kind=ScanKind.DRUM,
            weight_kg=DRUM_KG,
            weight_stable=True,
            weight_status=WeightStatus.STABLE,
        )
        spool.put(topic, encode(scan), scan.id)
    spool.close()
    scanner = ScannerSimulator(link=work / "scanner")
    scale = ScaleSimulator("mt-sics", link=work / "scale")
    counter = Counter(broker.port, topic)
    # The services' receipts, so the bridge deletes what was delivered as it would live.
    receipter = Receipter(counter.link.settings, site)
    config = _station_file(work, broker, site, spool_path, scans)
    bridge = _start_bridge(config, work / "bridge-drain.log")
    started = time.monotonic()
    try:
        if not counter.wait(scans, DRAIN_TIMEOUT_S):
            raise RuntimeError(f"only {counter.count} of {scans} spooled scans arrived")
        if not _wait_empty(spool_path, DRAIN_TIMEOUT_S):
            raise RuntimeError("the bridge kept receipted scans in its spool")
        return Drain(
            scans=scans,
            seconds=counter.last_at - started,
            draining=counter.last_at - counter.first_at,
        )
    finally:
        _stop(bridge)
        receipter.close()
        counter.close()
        scanner.close()
        scale.close()


def main() -> int:
    """Run both measurements and print the figures."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="a few seconds, small numbers (CI)")
    p.add_argument("--seconds", type=float, default=20.0, help="scanning time at 10 scans/s")
    p.add_argument("--spooled", type=int, default=5000, help="scans in the spool to drain")
    args = p.parse_args()
    seconds, spooled = (3.0, 300) if args.quick else (args.seconds, args.spooled)
    site = "bench" + uuid.uuid4().hex[:8]
    with tempfile.TemporaryDirectory(prefix="gudang-bridge-bench-") as tmp:
        work = Path(tmp)
        broker = start_mosquitto(work / "mosquitto")
        try:
            load = measure_load(work, broker, site, seconds)
            drain = measure_drain(work, broker, site, spooled)
        finally:
            broker.stop()
    print(f"bridge at {SCANS_PER_S:.0f} scans/s for {load.seconds:.1f} s (MT-SICS scale polled):")
    print(f"  scans delivered      {load.delivered} of {load.scans}")
    print(f"  CPU                  {load.cpu_percent:.1f} % of one core")
    print(f"  RSS                  {load.rss_mb_mean:.1f} MB mean, {load.rss_mb_peak:.1f} MB peak")
    print(f"spool drain after an outage of {drain.scans} spooled scans:")
    print(f"  bridge start to last scan delivered  {drain.seconds:.2f} s")
    print(f"  drain rate           {drain.rate:.0f} msgs/s (first to last delivery)")
    ok = load.delivered == load.scans
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
