"""A spooled scan leaves the spool on the services' receipt, never on the broker's PUBACK.

The bridge here has no devices: scans go in through ``Bridge.accept`` (what pairing
calls), and the test sends receipts on the station's receipt topic as the services do.
"""

from __future__ import annotations

import logging
import sqlite3
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bench.receipter import Receipter
from firmware_bridge.bridge import Bridge
from firmware_bridge.spool import Spool
from gudang.mqtt import Message
from gudang.settings import Settings
from gudang.wire import ReceiptV1, ScanV1, Topics, encode, scan_decoder
from gudang_ops.servers import ServerProcess, restart, start_mosquitto
from tests.bridge.station_kit import STATION, Recorder, broker_settings, new_site, station_settings
from tests.harness import wait_for


def _scan(site: str, n: int) -> ScanV1:
    return ScanV1(
        id=uuid.uuid4().hex,
        ts=datetime.now(UTC),
        site=site,
        station=STATION,
        barcode=f"CB-JMB-L-{n:06d}",
    )


def _settings(broker: ServerProcess, tmp_path: Path, **station: object) -> Settings:
    return station_settings(broker_settings(broker, new_site()), tmp_path, [], **station)


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[list[ServerProcess]]:
    """A Mosquitto of the test's own (a list: a restart replaces it)."""
    servers = [start_mosquitto(tmp_path / "mosquitto")]
    yield servers
    servers[-1].stop()


class Station:
    """A started device-less bridge, a recorder of its topics, and a way to receipt."""

    def __init__(self, settings: Settings) -> None:
        self.site = settings.site.name
        self.topics = Topics(self.site)
        self.recorder = Recorder(
            settings, self.topics.scan(STATION), self.topics.status(STATION), persistent=True
        )
        self.bridge = Bridge(settings)
        self.bridge.start()
        wait_for(lambda: self.bridge.link.ready, what="bridge connected and subscribed")

    def accept(self, count: int) -> list[ScanV1]:
        scans = [_scan(self.site, n) for n in range(count)]
        for scan in scans:
            self.bridge.accept(scan)
        return scans

    def receipt(self, payload: bytes) -> None:
        self.recorder.link.publish_and_wait(self.topics.receipts(STATION), payload)

    def wait_receipted(self, receipted: int, left: int, what: str) -> None:
        """Wait for `receipted` rows receipted in all, `left` spooled and unconfirmed still."""
        bridge = self.bridge
        wait_for(
            lambda: (
                (bridge.spool.depth, bridge.sender.unconfirmed, bridge.counters["receipted"])
                == (left, left, receipted)
            ),
            what=what,
        )
        assert bridge.spool.count() == left

    def ids_arrived(self) -> list[str]:
        return [s.id for s in self.recorder.scans()]

    def close(self) -> None:
        self.bridge.stop()
        self.recorder.close()

    def __enter__(self) -> Station:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _with_scans(recorder: Recorder) -> list[tuple[Message, ScanV1]]:
    return [(m, scan_decoder.decode(m.payload)) for m in recorder.on("scan")]


def _receipt(*ids: str, station: str = STATION) -> bytes:
    return encode(ReceiptV1(station=station, ids=list(ids)))


def test_a_puback_keeps_the_row_a_receipt_deletes_it_and_bad_receipts_harm_nothing(
    mosquitto: ServerProcess, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with Station(_settings(mosquitto, tmp_path, receipt_timeout_s=600)) as st:
        bridge = st.bridge
        ids = [s.id for s in st.accept(5)]
        wait_for(lambda: st.ids_arrived() == ids, what="5 scans published")
        # The broker has them all; the spool still keeps them all, unconfirmed.
        wait_for(lambda: bridge.sender.unconfirmed == 5, what="5 PUBACKs")
        assert (bridge.spool.depth, bridge.spool.count()) == (5, 5)
        seen = len(st.recorder.statuses())
        bridge.publish_status()
        status = st.recorder.wait_status(lambda s: True, after=seen)
        assert (status.spool_depth, status.spool_unconfirmed) == (5, 5)

        st.receipt(_receipt(ids[0], ids[1]))
        st.wait_receipted(2, left=3, what="2 rows receipted")

        # A receipt again, and ids nobody spooled: ignored, counted.
        st.receipt(_receipt(ids[0], ids[1], "f" * 32))
        wait_for(lambda: bridge.counters["receipt_ids_unknown"] == 3, what="the receipt taken")
        assert bridge.counters["receipts"] == 2
        assert bridge.spool.count() == 3

        # Malformed: not JSON, wrong types, another station's name. Logged, counted.
        with caplog.at_level(logging.WARNING, logger="firmware_bridge.sender"):
            st.receipt(b"not json")
            st.receipt(b'{"v": 1, "station": "load-1", "ids": [1, 2]}')
            st.receipt(_receipt(ids[2], station="load-2"))
            wait_for(
                lambda: bridge.counters["receipts_malformed"] == 3, what="3 malformed receipts"
            )
        warned = [r.getMessage() for r in caplog.records if r.name == "firmware_bridge.sender"]
        assert sum("receipt" in m and "ignored" in m for m in warned) == 3
        assert bridge.spool.count() == 3

        # Still working: the rest is receipted, the spool empties.
        st.receipt(_receipt(*ids[2:]))
        st.wait_receipted(5, left=0, what="the spool empty")
        assert bridge.counters["resent"] == 0
        assert st.ids_arrived() == ids  # nothing sent twice


def test_rows_not_receipted_in_time_are_sent_again_oldest_first_until_receipted(
    mosquitto: ServerProcess, tmp_path: Path
) -> None:
    with Station(_settings(mosquitto, tmp_path, receipt_timeout_s=0.5)) as st:
        bridge = st.bridge
        scans = st.accept(3)
        ids = [s.id for s in scans]
        payloads = {s.id: encode(s) for s in scans}
        wait_for(lambda: len(st.ids_arrived()) >= 6, what="the 3 scans sent again")
        assert st.ids_arrived()[:6] == ids + ids  # oldest first, each the same message
        assert all(m.payload == payloads[s.id] for m, s in _with_scans(st.recorder))
        assert bridge.counters["resent"] >= 3
        assert bridge.spool.count() == 3

        st.receipt(_receipt(*ids))
        wait_for(lambda: bridge.spool.depth == 0, what="the spool empty")
        resent = bridge.counters["resent"]
        time.sleep(2.5)  # past the next resend (1 s, then 2 s): none may come now
        assert bridge.counters["resent"] == resent
        # Every message that arrived is an original or a resend counted before the receipt.
        wait_for(lambda: len(st.ids_arrived()) == 3 + resent, what="no message unaccounted for")


def test_unreceipted_rows_are_sent_again_after_a_broker_kill_and_a_bridge_restart(
    own_broker: list[ServerProcess], tmp_path: Path
) -> None:
    settings = _settings(own_broker[-1], tmp_path, receipt_timeout_s=600)
    bridge = Bridge(settings)
    bridge.start()
    try:
        wait_for(lambda: bridge.link.ready, what="bridge connected")
        for n in range(4):
            bridge.accept(_scan(settings.site.name, n))
        wait_for(lambda: bridge.sender.unconfirmed == 4, what="4 PUBACKs")
        own_broker.append(restart(own_broker[-1], kill=True))
        # Reconnected: everything unconfirmed again at once, not after the timeout.
        wait_for(lambda: bridge.counters["resent"] == 4, 30, what="the 4 sent again")
        wait_for(lambda: bridge.counters["acked"] == 8, what="acknowledged again")
        assert bridge.spool.count() == 4
    finally:
        bridge.stop()
    # A restart knows nothing was receipted: every row is sent again, and receipted.
    receipter = Receipter(settings.mqtt, settings.site.name)
    again = Bridge(settings)
    again.start()
    try:
        wait_for(
            lambda: again.spool.depth == 0 and again.counters["receipted"] == 4,
            what="the spool emptied by receipts",
        )
        assert again.counters["published"] == 4
    finally:
        again.stop()
        receipter.close()


def test_a_spool_from_before_receipts_gets_its_ids_from_the_payloads(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    db.execute(
        "CREATE TABLE spool (seq INTEGER PRIMARY KEY AUTOINCREMENT,"
        " topic TEXT NOT NULL, payload BLOB NOT NULL)"
    )
    scans = [_scan("blitar", n) for n in range(3)]
    for scan in scans:
        db.execute("INSERT INTO spool (topic, payload) VALUES (?, ?)", ("t", encode(scan)))
    db.commit()
    db.close()
    spool = Spool(path, capacity=10)
    try:
        assert [r.msg_id for r in spool.pending(after=0, limit=10)] == [s.id for s in scans]
        assert spool.remove_ids([scans[1].id, "f" * 32]) == [2]
        assert [r.seq for r in spool.pending(after=0, limit=10)] == [1, 3]
        assert spool.depth == 2
    finally:
        spool.close()
