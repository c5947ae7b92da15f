"""A spool-backed station: scans go to the bridge's disk spool first, leave it on PUBACK.

It uses the bridge's own ``Spool`` and the project's ``MqttLink``, and publishes the way
the bridge does (a bounded window, everything unacknowledged again after a reconnect),
so reliability tests can cause broker faults under a realistic publisher with a ledger:
every scan the station accepted is in ``accepted``.

The PUBACK callback only hands the message id to the publishing thread through a queue:
paho runs it while holding its own lock, so taking another lock there can deadlock
against a thread that holds that lock while calling ``publish``.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from pathlib import Path

from bench.loadgen import drum_label, drum_scan, scan_id
from firmware_bridge.spool import Spool
from gudang.mqtt import MqttLink
from gudang.settings import MqttSettings
from gudang.wire import QOS_SCAN, Topics, encode

log = logging.getLogger(__name__)

# Published but unacknowledged spool rows, at most (the bridge's window is the same).
WINDOW = 200
# The publishing thread wakes at least this often to notice acks and reconnects.
TICK_S = 0.05


class SpooledStation:
    """One station publishing drum scans from a durable spool."""

    def __init__(
        self, mqtt: MqttSettings, site: str, station: str, index: int, spool_path: Path, run: str
    ) -> None:
        self.site = site
        self.station = station
        self.index = index
        self.run = run
        self.topic = Topics(site).scan(station)
        self.spool = Spool(spool_path, capacity=1_000_000)
        self.accepted: list[str] = []  # the ledger: ids the station took in
        self.published = 0
        self._seq = 0
        self._acks: queue.SimpleQueue[tuple[int, bool]] = queue.SimpleQueue()
        self._reconnected = threading.Event()
        self._stop = threading.Event()
        self._inflight: dict[int, int] = {}  # MQTT mid -> spool seq (publishing thread only)
        self.link = MqttLink(
            mqtt,
            f"spooled-{site}-{station}",
            on_published=lambda mid, ok: self._acks.put((mid, ok)),
            on_connection=self._on_connection,
        )
        self._thread = threading.Thread(target=self._publish_loop, name=f"spooled-{station}")

    def start(self) -> None:
        """Connect and start publishing from the spool."""
        self.link.start()
        self._thread.start()

    def stop(self) -> None:
        """Stop publishing and disconnect; the spool keeps what is not acknowledged."""
        self._stop.set()
        self._thread.join(timeout=10)
        self.link.stop()
        self.spool.close()

    def scan(self) -> str:
        """Accept one drum scan into the spool (as the bridge does after pairing)."""
        sid = scan_id(self.run, self.station, self._seq)
        payload = encode(
            drum_scan(self.site, self.station, sid, drum_label(8, self.index, self._seq))
        )
        self.spool.put(self.topic, payload)
        self._seq += 1
        self.accepted.append(sid)
        return sid

    @property
    def depth(self) -> int:
        """Scans in the spool: not yet acknowledged by the broker."""
        return self.spool.depth

    def _on_connection(self, connected: bool) -> None:
        if connected:
            self._reconnected.set()

    def _publish_loop(self) -> None:
        last_seq = 0
        while not self._stop.is_set():
            while True:
                try:
                    mid, ok = self._acks.get_nowait()
                except queue.Empty:
                    break
                seq = self._inflight.pop(mid, None)
                if seq is not None and ok:
                    self.spool.remove(seq)
            if self._reconnected.is_set():
                self._reconnected.clear()
                self._inflight.clear()  # resend everything unacknowledged, in order
                last_seq = 0
            if not self.link.connected:
                time.sleep(TICK_S)
                continue
            room = WINDOW - len(self._inflight)
            rows = self.spool.pending(after=last_seq, limit=room) if room > 0 else []
            for row in rows:
                mid = self.link.publish(row.topic, row.payload, qos=QOS_SCAN)
                self._inflight[mid] = row.seq
                last_seq = row.seq
                self.published += 1
            if not rows:
                time.sleep(TICK_S)


class Stream:
    """Scans accepted at several spooled stations at a steady rate, in a thread."""

    def __init__(self, stations: list[SpooledStation], rate_per_station: float, seconds: float):
        self.stations = stations
        self.interval = 1.0 / rate_per_station
        self.rounds = int(rate_per_station * seconds)
        self.done_rounds = 0
        self._thread = threading.Thread(target=self._run, name="stream")

    def start(self) -> None:
        """Start accepting scans."""
        self._thread.start()

    def join(self, timeout: float = 120.0) -> None:
        """Wait for the last scan to be accepted."""
        self._thread.join(timeout)

    @property
    def accepted(self) -> int:
        """Scans accepted so far, at all stations."""
        return sum(len(s.accepted) for s in self.stations)

    def ledger(self) -> list[str]:
        """Every accepted scan id."""
        return [sid for s in self.stations for sid in s.accepted]

    def _run(self) -> None:
        start = time.monotonic()
        for n in range(self.rounds):
            delay = start + n * self.interval - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            for station in self.stations:
                station.scan()
            self.done_rounds = n + 1
