"""No scan lost: the spool across broker outages and a kill -9 of the bridge itself.

Each test starts its own Mosquitto (it stops it). A simulated scanner scans drums at
10 a second and keeps a ledger; a recorder with a persistent session collects what the
broker delivers, and a ``Receipter`` sends the receipts the services would (a row leaves
the spool only on its receipt). Afterwards every scan arrived, in order, with the time it
was scanned; a scan arrives again only as a resend of the very same message (the services
count it once by its id). The outage lasts ``GUDANG_BRIDGE_OUTAGE_S`` seconds (CI: 60).
"""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bench.receipter import Receipter
from firmware_bridge.bridge import Bridge
from firmware_bridge.sender import PUBLISH_WINDOW
from firmware_bridge.simulators import ScaleSimulator, ScannerSimulator
from firmware_bridge.spool import Spool
from gudang.settings import DeviceSettings
from gudang.wire import ScanV1, Topics, WeightStatus, scan_decoder
from gudang_ops.servers import ServerProcess, start_mosquitto
from tests.bridge.station_kit import (
    STATION,
    Recorder,
    broker_settings,
    new_site,
    start_bridge_process,
    station_settings,
    write_station_toml,
)
from tests.harness import wait_for

OUTAGE_S = float(os.environ.get("GUDANG_BRIDGE_OUTAGE_S", "60"))
SCANS_PER_S = 10.0
# Scanning with the broker up, before the outage and after it comes back.
UP_S = 2.0
DRUM_KG = 9.0


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[list[ServerProcess]]:
    """This test's own Mosquitto (a list: a restart replaces it)."""
    servers = [start_mosquitto(tmp_path / "mosquitto")]
    yield servers
    servers[-1].stop()


def _restart(servers: list[ServerProcess]) -> None:
    old = servers[-1]
    servers.append(start_mosquitto(old.data_dir, old.port))


class Ledger:
    """What the scanner sent, in order, with the time just before each scan."""

    def __init__(self, scanner: ScannerSimulator) -> None:
        self.scanner = scanner
        self.sent: list[tuple[str, datetime]] = []

    def scan_for(self, seconds: float) -> None:
        """Scan a new drum every 1/SCANS_PER_S seconds for ``seconds``."""
        start = time.monotonic()
        for i in range(round(seconds * SCANS_PER_S)):
            # A steady pace: each scan at its slot, however long the last one took.
            delay = start + i / SCANS_PER_S - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            label = f"CB-JMB-L-{len(self.sent) + 1:06d}"
            self.sent.append((label, datetime.now(UTC)))
            self.scanner.scan(label)


@dataclass
class Scanning:
    """A station's devices on ptys and what a test watches them with (see ``_scanning``)."""

    site: str
    devices: list[DeviceSettings]
    ledger: Ledger
    recorder: Recorder  # the station's scans and statuses, in a persistent session


@contextmanager
def _scanning(broker: ServerProcess, tmp_path: Path, with_scale: bool = True) -> Iterator[Scanning]:
    """A fresh site: a scanner (and an MT-SICS scale, a drum on it) at the stable links under
    ``tmp_path``, its ledger, a recorder and the services' receipts on ``broker``; closed after."""
    site = new_site()
    topics = Topics(site)
    scanner = ScannerSimulator(link=tmp_path / "ttyScanner")
    devices = [DeviceSettings(name="scanner", role="scanner", port=scanner.path)]
    scale = None
    if with_scale:
        scale = ScaleSimulator("mt-sics", settle_s=0.0, link=tmp_path / "ttyScale")
        scale.place(DRUM_KG)
        devices.append(
            DeviceSettings(name="scale", role="scale", port=scale.path, protocol="mt-sics")
        )
    settings = broker_settings(broker, site)
    recorder = Recorder(
        settings,
        topics.scan(STATION),
        topics.status(STATION),
        client_id=f"ledger-{site}",
        persistent=True,
    )
    receipter = Receipter(settings.mqtt, site)
    try:
        yield Scanning(site, devices, Ledger(scanner), recorder)
    finally:
        receipter.close()
        recorder.close()
        scanner.close()
        if scale is not None:
            scale.close()


def _arrivals(recorder: Recorder) -> tuple[list[ScanV1], int]:
    """Each scan's first delivery, and how many times one came again not as a DUP.

    A repeat must be the very same message: the broker's DUP redelivery, or the bridge
    sending again a scan whose receipt it did not get (the broker went down first).
    """
    seen: dict[str, bytes] = {}
    first: list[ScanV1] = []
    resent = 0
    for message in recorder.on("scan"):
        scan = scan_decoder.decode(message.payload)
        if scan.id in seen:
            assert message.payload == seen[scan.id], f"scan {scan.barcode} changed when resent"
            resent += not message.dup
            continue
        seen[scan.id] = message.payload
        first.append(scan)
    return first, resent


def _assert_exactly_once_in_order(
    recorder: Recorder, ledger: Ledger, outage_started: datetime, outage_ended: datetime
) -> None:
    expected = len(ledger.sent)
    wait_for(lambda: len(_arrivals(recorder)[0]) >= expected, 60, f"all {expected} scans")
    time.sleep(0.5)  # anything extra (an invented or repeated scan) would arrive by now
    scans, resent = _arrivals(recorder)
    # Only what was in flight when the broker went down (the window at most) came again.
    assert resent <= PUBLISH_WINDOW
    assert [s.barcode for s in scans] == [label for label, _ in ledger.sent]
    assert len({s.barcode for s in scans}) == expected
    during = 0
    for scan, (label, sent_at) in zip(scans, ledger.sent, strict=True):
        # The time the drum was scanned, not the time it was finally published.
        assert scan.ts >= sent_at, label
        if outage_started < sent_at < outage_ended:
            during += 1
            assert scan.ts < outage_ended, label
        assert scan.weight_kg == DRUM_KG, label
    assert during >= OUTAGE_S * SCANS_PER_S * 0.9
    assert [s.ts for s in scans] == sorted(s.ts for s in scans)


@pytest.mark.slow
def test_broker_down_for_the_outage_every_scan_arrives_once_in_order(
    broker: list[ServerProcess], tmp_path: Path
) -> None:
    with _scanning(broker[-1], tmp_path) as st:
        ledger, recorder = st.ledger, st.recorder
        bridge = Bridge(
            station_settings(broker_settings(broker[-1], st.site), tmp_path, st.devices)
        )
        try:
            bridge.start()
            wait_for(
                lambda: (
                    bridge.link.connected
                    and bridge.device_states() == {"scanner": "connected", "scale": "connected"}
                ),
                what="bridge up",
            )
            ledger.scan_for(UP_S)
            broker[-1].stop()  # the broker goes away; the bridge keeps scanning into its spool
            outage_started = datetime.now(UTC)
            ledger.scan_for(OUTAGE_S)
            time.sleep(0.2)  # the last scan's frame reaches the bridge and is stamped
            assert bridge.spool.depth >= OUTAGE_S * SCANS_PER_S * 0.9
            outage_ended = datetime.now(UTC)
            _restart(broker)
            ledger.scan_for(UP_S)
            _assert_exactly_once_in_order(recorder, ledger, outage_started, outage_ended)
            wait_for(
                lambda: (
                    bridge.spool.count() == 0 and bridge.counters["receipted"] == len(ledger.sent)
                ),
                timeout=30,  # the receipter reconnects with back-off after the broker's restart
                what="spool empty, every scan receipted",
            )
            assert bridge.spool.depth == 0
            assert bridge.counters["scans"] == len(ledger.sent)
            assert bridge.counters["scans_refused"] == 0
        finally:
            bridge.stop()


def _last_spooled(spool: Path) -> str | None:
    """The barcode of the newest row in the spool, read as another process would."""
    db = sqlite3.connect(f"file:{spool}?mode=ro", uri=True)
    try:
        row = db.execute("SELECT payload FROM spool ORDER BY seq DESC LIMIT 1").fetchone()
    finally:
        db.close()
    return None if row is None else scan_decoder.decode(bytes(row[0])).barcode


def _spooled_rows(spool: Path) -> int:
    """Rows in the spool, read as another process would."""
    db = sqlite3.connect(f"file:{spool}?mode=ro", uri=True)
    try:
        return int(db.execute("SELECT COUNT(*) FROM spool").fetchone()[0])
    finally:
        db.close()


def _opened_both(log_path: Path) -> bool:
    text = log_path.read_text(errors="replace")
    return "scanner: opened" in text and "scale: opened" in text


@pytest.mark.slow
def test_bridge_killed_during_outage_restarts_and_loses_nothing(
    broker: list[ServerProcess], tmp_path: Path
) -> None:
    config = tmp_path / "station.toml"
    logs = [tmp_path / "bridge-1.log", tmp_path / "bridge-2.log"]
    with _scanning(broker[-1], tmp_path) as st:
        ledger, recorder = st.ledger, st.recorder
        write_station_toml(config, broker[-1], st.site, tmp_path)
        bridge = start_bridge_process(config, logs[0])
        try:
            recorder.wait_status(
                lambda s: s.state == "online" and all(d.state == "connected" for d in s.devices),
                15,
                "the bridge process online with both devices",
            )
            ledger.scan_for(UP_S)
            broker[-1].stop()
            outage_started = datetime.now(UTC)
            ledger.scan_for(OUTAGE_S / 2)
            # Every scan made so far is in the spool on disk before the bridge dies.
            wait_for(
                lambda: _last_spooled(tmp_path / "spool.sqlite3") == ledger.sent[-1][0],
                what="the last scan spooled",
            )
            bridge.send_signal(signal.SIGKILL)
            assert bridge.wait(10) == -signal.SIGKILL
            bridge = start_bridge_process(config, logs[1])
            wait_for(lambda: _opened_both(logs[1]), 15, "the restarted bridge opened its ports")
            ledger.scan_for(OUTAGE_S / 2)
            time.sleep(0.2)  # the last scan's frame reaches the bridge and is stamped
            outage_ended = datetime.now(UTC)
            _restart(broker)
            ledger.scan_for(UP_S)
            _assert_exactly_once_in_order(recorder, ledger, outage_started, outage_ended)
            wait_for(
                lambda: _spooled_rows(tmp_path / "spool.sqlite3") == 0,
                timeout=30,
                what="spool empty",
            )
        finally:
            if bridge.poll() is None:
                bridge.terminate()
                bridge.wait(15)
    for log_path in logs:
        assert "Traceback" not in log_path.read_text(errors="replace")


def test_spool_nearly_full_is_flagged_and_a_full_spool_refuses_with_a_count(
    broker: list[ServerProcess], tmp_path: Path
) -> None:
    with _scanning(broker[-1], tmp_path, with_scale=False) as st:
        ledger, recorder = st.ledger, st.recorder
        settings = station_settings(
            broker_settings(broker[-1], st.site),
            tmp_path,
            st.devices,
            spool_capacity=20,
            spool_nearly_full_ratio=0.8,
        )
        bridge = Bridge(settings)
        try:
            bridge.start()
            first = recorder.wait_status(lambda s: s.devices[0].state == "connected")
            assert (first.spool_nearly_full, first.spool_capacity) == (False, 20)
            broker[-1].stop()
            ledger.scan_for(1.5)  # 15 scans: 75 %, not yet nearly full
            wait_for(lambda: bridge.spool.depth == 15, what="15 scans spooled")
            assert not bridge.spool_nearly_full
            ledger.scan_for(0.6)  # 21 scans made: 20 fill the spool, the last is refused
            wait_for(lambda: bridge.counters["scans_refused"] == 1, what="the 21st scan refused")
            assert bridge.spool.depth == 20
            assert bridge.spool_nearly_full
            seen = len(recorder.statuses())
            _restart(broker)
            flagged = recorder.wait_status(
                lambda s: s.spool_nearly_full, what="nearly full in the status", after=seen
            )
            assert flagged.spool_depth >= 16
            cleared = recorder.wait_status(
                lambda s: not s.spool_nearly_full and s.spool_depth < 16,
                what="nearly full cleared once the spool drained",
                after=recorder.statuses().index(flagged),
            )
            assert cleared.spool_capacity == 20
            scans = recorder.wait_scans(20)
            assert [s.barcode for s in scans] == [label for label, _ in ledger.sent[:20]]
            wait_for(lambda: bridge.spool.depth == 0, what="spool drained")
            assert bridge.counters["scans"] == 20
        finally:
            bridge.stop()


def test_scans_waiting_for_their_weight_when_the_bridge_stops_are_spooled_not_dropped(
    mosquitto: ServerProcess, tmp_path: Path
) -> None:
    site = new_site()
    scanner = ScannerSimulator(link=tmp_path / "ttyScanner")
    scale = ScaleSimulator("mt-sics", settle_s=600.0, link=tmp_path / "ttyScale")
    settings = station_settings(
        broker_settings(mosquitto, site),
        tmp_path,
        [
            DeviceSettings(name="scanner", role="scanner", port=scanner.path),
            DeviceSettings(name="scale", role="scale", port=scale.path, protocol="mt-sics"),
        ],
        pairing_window_s=60.0,
    )
    recorder = Recorder(settings, Topics(site).scan(STATION))
    try:
        bridge = Bridge(settings)
        bridge.start()
        wait_for(
            lambda: (
                set(bridge.device_states().values()) == {"connected"}
                and bridge.scale_watch.connected
            ),
            what="scanner and scale open",
        )
        scale.place(8.0)  # a drum that will not settle: the first scan waits, the second queues
        scanner.scan("CB-JMB-L-000701")
        scanner.scan("CB-JMB-L-000702")
        wait_for(lambda: bridge.scans_waiting == 1, what="the second scan queued")
        bridge.stop()
        rows = Spool(tmp_path / "spool.sqlite3", 10)
        try:
            spooled = [scan_decoder.decode(r.payload) for r in rows.pending(after=0, limit=10)]
        finally:
            rows.close()
        assert [s.barcode for s in spooled] == ["CB-JMB-L-000701", "CB-JMB-L-000702"]
        assert {s.weight_status for s in spooled} == {WeightStatus.ERROR}
        # The next start publishes them, oldest first.
        again = Bridge(settings)
        again.start()
        try:
            scans = recorder.wait_scans(2)
        finally:
            again.stop()
        assert [s.id for s in scans] == [s.id for s in spooled]
    finally:
        recorder.close()
        scanner.close()
        scale.close()
