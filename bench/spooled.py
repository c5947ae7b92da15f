"""A spool-backed station: scans go to the bridge's disk spool first, leave it on receipt.

It uses the bridge's own ``Spool`` and ``SpoolSender`` (a bounded window, deletion on the
services' receipt, resends of what is not receipted) and the project's ``MqttLink``, so
reliability tests can cause broker faults under a realistic publisher with a ledger:
every scan the station accepted is in ``accepted``.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path

from bench.loadgen import drum_label, drum_scan, scan_id
from firmware_bridge.sender import SpoolSender
from firmware_bridge.spool import Spool
from gudang.mqtt import MqttLink
from gudang.settings import MqttSettings
from gudang.wire import QOS_RECEIPT, Topics, encode

# The bridge's default (station.receipt_timeout_s).
RECEIPT_TIMEOUT_S = 30.0


class SpooledStation:
    """One station publishing drum scans from a durable spool."""

    def __init__(
        self,
        mqtt: MqttSettings,
        site: str,
        station: str,
        index: int,
        spool_path: Path,
        run: str,
        receipt_timeout_s: float = RECEIPT_TIMEOUT_S,
    ) -> None:
        self.site = site
        self.station = station
        self.index = index
        self.run = run
        topics = Topics(site)
        self.topic = topics.scan(station)
        self.spool = Spool(spool_path, capacity=1_000_000)
        self.accepted: list[str] = []  # the ledger: ids the station took in
        self.counters: Counter[str] = Counter()
        self._seq = 0
        self._stop = threading.Event()
        self.sender = SpoolSender(
            self.spool, station, topics.receipts(station), receipt_timeout_s, self.counters
        )
        self.link = MqttLink(
            mqtt,
            f"spooled-{site}-{station}",
            subscriptions=[(topics.receipts(station), QOS_RECEIPT)],
            on_message=self.sender.on_message,
            on_published=self.sender.on_published,
            on_connection=self.sender.on_connection,
            persistent=True,
        )
        self.sender.link = self.link
        self._thread = threading.Thread(
            target=self.sender.run, args=(self._stop,), name=f"spooled-{station}"
        )

    def start(self) -> None:
        """Connect and start publishing from the spool."""
        self.link.start()
        self._thread.start()

    def stop(self) -> None:
        """Stop publishing and disconnect; the spool keeps what is not receipted."""
        self._stop.set()
        self.sender.wake()
        self._thread.join(timeout=10)
        self.link.stop()
        self.sender.settle()
        self.spool.close()

    def scan(self) -> str:
        """Accept one drum scan into the spool (as the bridge does after pairing)."""
        sid = scan_id(self.run, self.station, self._seq)
        payload = encode(
            drum_scan(self.site, self.station, sid, drum_label(8, self.index, self._seq))
        )
        self.spool.put(self.topic, payload, sid)
        self._seq += 1
        self.accepted.append(sid)
        self.sender.wake()
        return sid

    @property
    def published(self) -> int:
        """Rows published for the first time."""
        return self.counters["published"]

    @property
    def depth(self) -> int:
        """Scans in the spool: not yet receipted by the services."""
        return self.spool.depth


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
