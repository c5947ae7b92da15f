"""A stand-in for the services' receipts, for benches and bridge tests without services.

It subscribes to every station's scans of a site and, every ``linger_s``, sends each
station one receipt (``ReceiptV1``) naming the scans that arrived since, as the services
do after each write batch. It stores nothing: a bridge measured or tested against it sees
its spool emptied as it would with the services keeping up.
"""

from __future__ import annotations

import threading
import uuid

import msgspec

from gudang.mqtt import Message, MqttLink
from gudang.settings import MqttSettings
from gudang.wire import (
    MAX_RECEIPT_IDS,
    QOS_RECEIPT,
    QOS_SCAN,
    ReceiptV1,
    Topics,
    encode,
    scan_ref_decoder,
)


class Receipter:
    """Receipts every scan of a site shortly after it arrives."""

    def __init__(self, mqtt: MqttSettings, site: str, linger_s: float = 0.02) -> None:
        self.topics = Topics(site)
        self.linger_s = linger_s
        self.receipted = 0  # ids sent in receipts
        self._lock = threading.Lock()
        self._ids: dict[str, list[str]] = {}  # station -> ids not receipted yet
        self._stop = threading.Event()
        self.link = MqttLink(
            mqtt,
            f"receipter-{uuid.uuid4().hex[:8]}",
            subscriptions=[(self.topics.all_scans, QOS_SCAN)],
            on_message=self._on_message,
            # As the services' session: scans published while it reconnects after a broker
            # restart wait for it, or their receipts would come only with the bridge's resend.
            persistent=True,
        )
        self._thread = threading.Thread(target=self._run, name="receipter", daemon=True)
        self.link.start()
        if not self.link.wait_connected(10) or not self.link.wait_subscribed(10):
            raise RuntimeError("the receipter could not connect and subscribe")
        self._thread.start()

    def _on_message(self, message: Message) -> None:
        try:
            scan_id = scan_ref_decoder.decode(message.payload).id
        except msgspec.DecodeError:
            return
        station = message.topic.split("/")[3]
        with self._lock:
            self._ids.setdefault(station, []).append(scan_id)

    def _run(self) -> None:
        while not self._stop.wait(self.linger_s):
            with self._lock:
                batch, self._ids = self._ids, {}
            for station, ids in batch.items():
                for i in range(0, len(ids), MAX_RECEIPT_IDS):
                    receipt = ReceiptV1(station=station, ids=ids[i : i + MAX_RECEIPT_IDS])
                    self.link.publish(self.topics.receipts(station), encode(receipt), QOS_RECEIPT)
                self.receipted += len(ids)

    def close(self) -> None:
        """Stop receipting and disconnect."""
        self._stop.set()
        self._thread.join(timeout=5)
        self.link.stop()
