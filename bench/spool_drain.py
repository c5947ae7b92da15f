"""The bridge's spool drain rate: a real Bridge publishing a backlog from its disk spool.

This is what a station does after a broker outage: every scan it accepted while offline
waits in SQLite and leaves only on the services' receipt (a ``Receipter`` stands in for
the services here).
"""

from __future__ import annotations

import multiprocessing as mp
import time
from dataclasses import dataclass
from pathlib import Path

from bench.loadgen import drum_label, drum_scan, scan_id
from bench.receipter import Receipter
from firmware_bridge.bridge import Bridge
from firmware_bridge.spool import Spool
from gudang.settings import load_settings
from gudang.wire import Topics, encode

DRAIN_TIMEOUT_S = 120.0
# No row acknowledged for this long while the broker is up: the drain has stalled.
STALL_S = 10.0


@dataclass
class DrainResult:
    """How fast scans went into the spool, and out of it to the broker."""

    scans: int
    fill_seconds: float
    drain_seconds: float
    left: int
    stalled: bool = False  # the drain stopped making progress (see docs/performance.md)

    @property
    def fill_rate(self) -> float:
        return self.scans / self.fill_seconds if self.fill_seconds > 0 else 0.0

    @property
    def drain_rate(self) -> float:
        return (self.scans - self.left) / self.drain_seconds if self.drain_seconds > 0 else 0.0


def measure_spool_drain(host: str, port: int, site: str, scans: int, work: Path) -> DrainResult:
    """The drain measured in a process of its own, killed if it hangs."""
    pool = mp.get_context("spawn").Pool(1)
    job = pool.apply_async(_measure, (host, port, site, scans, work))
    try:
        return job.get(DRAIN_TIMEOUT_S + 60)
    except mp.TimeoutError:
        return DrainResult(scans, 0.0, DRAIN_TIMEOUT_S, scans, stalled=True)
    finally:
        pool.terminate()
        pool.join()


def _measure(host: str, port: int, site: str, scans: int, work: Path) -> DrainResult:
    """Fill a spool with ``scans`` scans, start a Bridge on it, time the drain to empty."""
    station = "spool-1"
    path = work / "spool-bench.sqlite3"
    topic = Topics(site).scan(station)
    spool = Spool(path, capacity=max(scans, 1))
    start = time.monotonic()
    for seq in range(scans):
        scan = drum_scan(site, station, scan_id("spool", station, seq), drum_label(9, 0, seq))
        spool.put(topic, encode(scan), scan.id)
    fill = time.monotonic() - start
    spool.close()
    settings = load_settings(
        None,
        {
            "site": {"name": site},
            "mqtt": {"host": host, "port": port},
            "station": {"name": station, "spool_path": str(path), "spool_capacity": max(scans, 1)},
        },
    )
    receipter = Receipter(settings.mqtt, site)
    bridge = Bridge(settings)
    start = time.monotonic()
    bridge.start()
    deadline = start + DRAIN_TIMEOUT_S
    depth, progress = bridge.spool.depth, time.monotonic()
    while bridge.spool.depth > 0 and time.monotonic() < deadline:
        time.sleep(0.01)
        if bridge.spool.depth != depth:
            depth, progress = bridge.spool.depth, time.monotonic()
        elif time.monotonic() - progress > STALL_S:
            break
    drained = time.monotonic() - start
    left = bridge.spool.depth
    if left:  # a stalled bridge may not stop; the caller terminates this process instead
        return DrainResult(scans, fill, drained, left, stalled=True)
    bridge.stop()
    receipter.close()
    return DrainResult(scans, fill, drained, left)
