"""Drums of shipped containers: gone from memory, still recognised when scanned again.

When a container ships its drums leave the floor's memory (``Floor.ship``) and their
``shipped_drum`` points are stored with the ship event (``services/records.py``). A drum the
floor does not know is then looked up, by one query on its bucket's series, but only when
``ShippedFilter`` (a Bloom filter of every shipped drum, fixed size, kept in the
checkpoint) says it may have shipped: a new drum costs no query, a shipped one is always
found. With 1.5 million drums shipped (ten years) about one new drum in 200 is looked up
for nothing.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime

from gudang.influx import InfluxClient, InfluxUnavailable, quote_ident, quote_str
from gudang.storage import SHIPPED_DRUM, TAG_BUCKET, TAG_SITE, drum_bucket, ns_to_datetime

log = logging.getLogger(__name__)

FILTER_BITS = 1 << 24  # 2 MiB, whatever the years
FILTER_HASHES = 6
RETRY_MAX_S = 5.0


def _positions(key: str, bits: int, hashes: int) -> list[int]:
    digest = hashlib.blake2b(key.encode(), digest_size=16).digest()
    h1 = int.from_bytes(digest[:8], "little")
    h2 = int.from_bytes(digest[8:], "little") | 1
    return [(h1 + i * h2) % bits for i in range(hashes)]


def _new_bits() -> bytearray:
    return bytearray(FILTER_BITS // 8)


@dataclass(slots=True)
class ShippedFilter:
    """A Bloom filter of the drums shipped: no false "never shipped", rare false "maybe"."""

    bits: bytearray = field(default_factory=_new_bits)
    hashes: int = FILTER_HASHES
    count: int = 0

    def add(self, drum: str) -> None:
        """Remember a shipped drum."""
        bits = self.bits
        for p in _positions(drum, len(bits) * 8, self.hashes):
            bits[p >> 3] |= 1 << (p & 7)
        self.count += 1

    def may_contain(self, drum: str) -> bool:
        """False: the drum never shipped. True: it may have (ask the store)."""
        bits = self.bits
        positions = _positions(drum, len(bits) * 8, self.hashes)
        return all(bits[p >> 3] & (1 << (p & 7)) for p in positions)


@dataclass(frozen=True, slots=True)
class ShippedDrum:
    """Where and when a drum left."""

    drum: str
    container_no: str
    shipped_at: datetime


class ShippedLookup:
    """Finds a drum's ``shipped_drum`` point; waits for InfluxDB while it is down."""

    def __init__(
        self, influx: InfluxClient, site: str, stop: threading.Event | None = None
    ) -> None:
        self.influx = influx
        self.site = site
        self.stop = stop or threading.Event()
        self.queries = 0

    def __call__(self, drum: str) -> ShippedDrum | None:
        """The drum's shipment, or None when it never shipped."""
        q = (
            f"SELECT container_no FROM {quote_ident(SHIPPED_DRUM)} "
            f"WHERE {quote_ident(TAG_SITE)} = {quote_str(self.site)} "
            f"AND {quote_ident(TAG_BUCKET)} = {quote_str(drum_bucket(drum))} "
            f"AND drum = {quote_str(drum)} ORDER BY time DESC LIMIT 1"
        )
        delay = 0.2
        while True:
            self.queries += 1
            try:
                rows = self.influx.query(q)
            except InfluxUnavailable as exc:
                # The scan cannot be decided without it: hold the batch, as a write would.
                log.error("shipped-drum lookup waits for InfluxDB: %s", exc)
                if self.stop.wait(delay):
                    raise
                delay = min(delay * 2, RETRY_MAX_S)
                continue
            if not rows:
                return None
            row = rows[0]
            return ShippedDrum(drum, str(row["container_no"]), ns_to_datetime(int(row["time"])))
