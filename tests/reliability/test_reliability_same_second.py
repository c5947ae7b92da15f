"""Two scans in the same second at the same station are two drums, both stored."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from bench.floor import prepare_stations
from bench.loadgen import drum_label, drum_scan
from gudang.influx import InfluxClient
from gudang.settings import Settings
from gudang.storage import scan_time_ns
from gudang.wire import Topics, encode
from tests.harness import Probe, running_api, running_services, wait_for
from tests.reliability.kit import assert_ledger_stored_once

STATION = "p1-s000"
SAME_SECOND = 40  # scans stamped within one second at one station


def test_reliability_same_second_scans_at_one_station_are_all_stored(
    settings: Settings, influx: InfluxClient
) -> None:
    site = settings.site.name
    topic = Topics(site).scan(STATION)
    second = datetime.now(UTC).replace(microsecond=0)
    # Two scans with the very same device time, then many within the same second and
    # several in the same millisecond: device clocks are coarse, workers are quick.
    stamps = [second, second]
    stamps += [second + timedelta(microseconds=(i // 3) * 1000 + i % 3) for i in range(SAME_SECOND)]
    ledger = [uuid.uuid4().hex for _ in stamps]
    probe = Probe(settings)
    try:
        with running_services(settings), running_api(settings) as url:
            prepare_stations(url, settings.mqtt.host, settings.mqtt.port, site, 1, [STATION])
            for i, (sid, ts) in enumerate(zip(ledger, stamps, strict=True)):
                scan = drum_scan(site, STATION, sid, drum_label(1, 0, i), ts=ts)
                probe.publish(topic, encode(scan))
            assert_ledger_stored_once(ledger, influx, site, url)
    finally:
        probe.close()


def _colliding_ids(site: str, ts: datetime) -> tuple[str, str]:
    """Two ids whose scans at the same device time get the same point time."""
    seen: dict[int, str] = {}
    n = 0
    while True:
        sid = f"collide-{n:08d}"
        point = scan_time_ns(drum_scan(site, STATION, sid, drum_label(1, 0, 0), ts=ts))
        if point in seen:
            return seen[point], sid
        seen[point] = sid
        n += 1


def test_reliability_same_time_scans_whose_id_offsets_collide_are_both_stored(
    settings: Settings, influx: InfluxClient
) -> None:
    """The bench found it: two scans, one device time, equal id offsets -> one point."""
    site = settings.site.name
    topic = Topics(site).scan(STATION)
    ts = datetime.now(UTC).replace(microsecond=0)
    first, second = _colliding_ids(site, ts)
    probe = Probe(settings)
    try:
        with running_services(settings) as services, running_api(settings) as url:
            prepare_stations(url, settings.mqtt.host, settings.mqtt.port, site, 1, [STATION])
            for i, sid in enumerate((first, second)):
                scan = drum_scan(site, STATION, sid, drum_label(1, 0, i), ts=ts)
                probe.publish(topic, encode(scan))
            assert_ledger_stored_once([first, second], influx, site, url)
        # A restart rebuilds from InfluxDB: both drums are still there, neither is new.
        with running_services(settings) as services:
            probe.publish(
                topic, encode(drum_scan(site, STATION, second, drum_label(1, 0, 1), ts=ts))
            )
            wait_for(lambda: services.ingest.counters["redelivered"] >= 1, what="the replay")
            assert services.ingest.counters["scan_loaded"] == 0
            (container,) = [c for c in services.ingest.floor.containers.values() if c.drums]
            assert len(container.drums) == 2
    finally:
        probe.close()
