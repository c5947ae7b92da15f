"""Publishing a spool until the services' receipts say the scans are done with.

A row's life: spooled -> published (QoS 1) -> acknowledged by the broker (PUBACK: it is
now *unconfirmed*) -> named by a receipt on ``station/<station>/receipts`` -> deleted.
The PUBACK alone deletes nothing: Mosquitto keeps in memory what came in since its last
save, and a ``kill -9`` loses it while the services are away. What is not receipted is
published again, with the same id (the services recognise it and receipt it again):

- ``receipt_timeout_s`` after its PUBACK, then after 2, 4, 8 and 16 times that (a
  services outage costs a few resends per scan, not one every timeout), oldest first;
- every unconfirmed row right after a reconnect (the broker may be a new one);
- every row after a restart of the bridge (nothing is known to be sent).

paho resends by itself what it published and the broker did not acknowledge yet, right
after it reconnects, with the same message ids. Only the publishing thread touches the
state below; paho's callbacks hand over through queues (paho holds its own lock while
it calls them, and ``publish`` takes it too: a lock here would deadlock).
"""

from __future__ import annotations

import heapq
import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable

import msgspec

from firmware_bridge.spool import Spool
from gudang.mqtt import Message, MqttLink
from gudang.wire import QOS_SCAN, receipt_decoder

log = logging.getLogger(__name__)

# Messages published but not yet acknowledged by the broker, at most.
PUBLISH_WINDOW = 200
# Receipted rows are deleted in one transaction per batch of this many ids at most: a
# delete each would cost an fsync each and cap the drain rate. A crash before the batch
# commits only resends those rows (the services count a scan once by its id).
RECEIPT_BATCH_MAX = 2000
# The n-th resend of a row waits receipt_timeout_s * 2**n, up to this many times it.
RESEND_BACKOFF_MAX = 16
# A mid whose row was receipted before its PUBACK came.
_RECEIPTED = 0


class SpoolSender:
    """Publishes a spool's rows and deletes them on the services' receipts."""

    def __init__(
        self,
        spool: Spool,
        station: str,
        receipts_topic: str,
        receipt_timeout_s: float,
        counters: Counter[str],
        window: int = PUBLISH_WINDOW,
        on_deleted: Callable[[], None] | None = None,
        on_cycle: Callable[[], None] | None = None,
    ) -> None:
        self.spool = spool
        self.station = station
        self.receipts_topic = receipts_topic
        self.receipt_timeout_s = receipt_timeout_s
        self.counters = counters
        self.window = window
        self._on_deleted = on_deleted
        self._on_cycle = on_cycle  # after each round that raised nothing (the bridge's guard)
        self.link: MqttLink | None = None  # set before run(): the link calls back into us
        self._wake = threading.Event()
        self._pubacks: queue.SimpleQueue[tuple[int, bool]] = queue.SimpleQueue()
        self._receipts: queue.SimpleQueue[bytes] = queue.SimpleQueue()
        self._reconnected = threading.Event()
        # Publishing thread only:
        self._last_seq = 0  # the newest row handed to paho; older ones are sent or kept
        self._inflight: dict[int, int] = {}  # MQTT mid -> spool seq (or _RECEIPTED)
        self._mid_of: dict[int, int] = {}  # spool seq -> MQTT mid, while in flight
        self._unconfirmed: dict[int, tuple[float, int]] = {}  # seq -> (resend at, resends)
        self._deadlines: list[tuple[float, int]] = []  # heap of (resend at, seq)
        self._due: list[int] = []  # heap of seqs to publish again, oldest first
        self._due_set: set[int] = set()
        # Receipted ids whose delete failed (a full disk): deleted on the next round.
        self._undeleted: list[str] = []
        # After a reconnect, new rows wait until paho's resends are acknowledged, so a new
        # row is never sent ahead of an older one paho still holds.
        self._resending = False

    # -- paho's thread: hand over only -----------------------------------------------------
    def on_published(self, mid: int, ok: bool) -> None:
        """MqttLink's ``on_published``."""
        self._pubacks.put((mid, ok))
        self._wake.set()

    def on_message(self, message: Message) -> None:
        """MqttLink's ``on_message``: receipts."""
        if message.topic == self.receipts_topic:
            self._receipts.put(message.payload)
            self._wake.set()

    def on_connection(self, connected: bool) -> None:
        """MqttLink's ``on_connection``."""
        if connected:
            self._reconnected.set()
            self._wake.set()

    def wake(self) -> None:
        """A new row is in the spool."""
        self._wake.set()

    # -- figures (read from other threads) -------------------------------------------------
    @property
    def unconfirmed(self) -> int:
        """Rows the broker acknowledged that wait for the services' receipt."""
        return len(self._unconfirmed)

    @property
    def inflight(self) -> int:
        """Rows published that wait for the broker's acknowledgement."""
        return len(self._mid_of)

    # -- the publishing thread -------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        """Publish until ``stop`` is set."""
        while not stop.is_set():
            self._wake.wait(0.5)
            self._wake.clear()
            self.settle()
            if self._on_cycle is not None:
                self._on_cycle()
            if self._reconnected.is_set():
                self._reconnected.clear()
                self._after_reconnect()
            link = self.link
            if link is None or not link.ready:
                continue
            self._take_due(time.monotonic())
            room = self.window - len(self._inflight)
            if room <= 0:
                continue
            room -= self._publish_due(link, room)
            if room <= 0 or (self._resending and self._inflight):
                continue
            self._resending = False
            for row in self.spool.pending(after=self._last_seq, limit=room):
                self._publish(link, row.seq, row.topic, row.payload)
                self._last_seq = row.seq
                self.counters["published"] += 1
        self.settle()

    def settle(self) -> None:
        """Take the PUBACKs and receipts that came in: mark rows sent, delete receipted."""
        self._take_pubacks()
        self._take_receipts()

    def _after_reconnect(self) -> None:
        self._resending = bool(self._inflight)
        if self._unconfirmed:
            # The broker may have lost them (a kill -9 before its save): all again, now.
            log.info("reconnected: %d unreceipted scans sent again", len(self._unconfirmed))
            for seq in self._unconfirmed:
                self._make_due(seq)

    def _make_due(self, seq: int) -> None:
        if seq not in self._due_set:
            self._due_set.add(seq)
            heapq.heappush(self._due, seq)

    def _take_due(self, now: float) -> None:
        while self._deadlines and self._deadlines[0][0] <= now:
            at, seq = heapq.heappop(self._deadlines)
            entry = self._unconfirmed.get(seq)
            if entry is not None and entry[0] == at:  # else receipted, or sent again since
                self._make_due(seq)

    def _publish_due(self, link: MqttLink, room: int) -> int:
        """Publish again the oldest rows due; how many were published."""
        if not self._due:
            return 0
        take: list[int] = []
        while self._due and len(take) < room:
            seq = heapq.heappop(self._due)
            self._due_set.discard(seq)
            take.append(seq)
        sent = 0
        for row in self.spool.rows(take):
            if row.seq in self._mid_of or row.seq not in self._unconfirmed:
                continue  # in flight again already, or receipted meanwhile
            self._publish(link, row.seq, row.topic, row.payload)
            self.counters["resent"] += 1
            sent += 1
        if sent:
            log.info("%d scans not receipted in time sent again", sent)
        return sent

    def _publish(self, link: MqttLink, seq: int, topic: str, payload: bytes) -> None:
        mid = link.publish(topic, payload, qos=QOS_SCAN)
        self._inflight[mid] = seq
        self._mid_of[seq] = mid

    def _take_pubacks(self) -> None:
        now = time.monotonic()
        while True:
            try:
                mid, ok = self._pubacks.get_nowait()
            except queue.Empty:
                return
            seq = self._inflight.pop(mid, None)
            if seq is None:
                continue  # a status message, or a resend already settled
            if seq == _RECEIPTED:
                continue
            self._mid_of.pop(seq, None)
            if not ok:
                self.counters["publish_refused"] += 1
                log.error("broker refused spooled message %d; it stays in the spool", seq)
                continue
            self.counters["acked"] += 1
            resends = self._unconfirmed[seq][1] + 1 if seq in self._unconfirmed else 0
            at = now + self.receipt_timeout_s * min(2**resends, RESEND_BACKOFF_MAX)
            self._unconfirmed[seq] = (at, resends)
            heapq.heappush(self._deadlines, (at, seq))

    def _take_receipts(self) -> None:
        ids, self._undeleted = self._undeleted, []
        while len(ids) < RECEIPT_BATCH_MAX:
            try:
                payload = self._receipts.get_nowait()
            except queue.Empty:
                break
            try:
                receipt = receipt_decoder.decode(payload)
            except msgspec.DecodeError as exc:
                self.counters["receipts_malformed"] += 1
                log.warning("malformed receipt ignored: %s (%r)", exc, payload[:200])
                continue
            if receipt.station != self.station:
                self.counters["receipts_malformed"] += 1
                log.warning(
                    "receipt for station %r ignored (we are %r)", receipt.station, self.station
                )
                continue
            self.counters["receipts"] += 1
            ids.extend(receipt.ids)
        if not ids:
            return
        if len(ids) >= RECEIPT_BATCH_MAX:
            self._wake.set()  # more may wait
        try:
            removed = self.spool.remove_ids(ids)
        except BaseException:
            self._undeleted = ids  # the receipts stand: delete their rows once the disk takes it
            raise
        self.counters["receipted"] += len(removed)
        self.counters["receipt_ids_unknown"] += len(ids) - len(removed)
        for seq in removed:
            self._unconfirmed.pop(seq, None)
            mid = self._mid_of.pop(seq, None)
            if mid is not None:
                self._inflight[mid] = _RECEIPTED  # its PUBACK is still to come
        if removed and self._on_deleted is not None:
            self._on_deleted()
