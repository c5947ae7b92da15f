"""Two scans in the same second at the same station are two drums, both stored."""

from __future__ import annotations

import uuid
from contextlib import closing
from datetime import UTC, datetime, timedelta

from bench.loadgen import drum_label, drum_scan
from gudang.influx import InfluxClient
from gudang.settings import Settings
from gudang.storage import scan_time_ns
from gudang.wire import Topics, encode
from tests.harness import Probe, running_services, wait_for
from tests.reliability.kit import assert_ledger_stored_once, floor_with_stations

STATION = "p1-s000"
SAME_SECOND = 40  # scans stamped within one second at one station


def _stored_once(
    settings: Settings, influx: InfluxClient, probe: Probe, stamped: list[tuple[str, datetime]]
) -> None:
    """Publish a drum scan at STATION for each (id, device time): each is stored once."""
    site = settings.site.name
    with floor_with_stations(settings, [STATION]) as (_services, url):
        for i, (sid, ts) in enumerate(stamped):
            scan = drum_scan(site, STATION, sid, drum_label(1, 0, i), ts=ts)
            probe.publish(Topics(site).scan(STATION), encode(scan))
        assert_ledger_stored_once([sid for sid, _ts in stamped], influx, site, url)


def test_reliability_same_second_scans_at_one_station_are_all_stored(
    settings: Settings, influx: InfluxClient
) -> None:
    second = datetime.now(UTC).replace(microsecond=0)
    # Two scans with the very same device time, then many within the same second and
    # several in the same millisecond: device clocks are coarse, workers are quick.
    stamps = [second, second]
    stamps += [second + timedelta(microseconds=(i // 3) * 1000 + i % 3) for i in range(SAME_SECOND)]
    with closing(Probe(settings)) as probe:
        _stored_once(settings, influx, probe, [(uuid.uuid4().hex, ts) for ts in stamps])


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
    ts = datetime.now(UTC).replace(microsecond=0)
    first, second = _colliding_ids(site, ts)
    with closing(Probe(settings)) as probe:
        _stored_once(settings, influx, probe, [(first, ts), (second, ts)])
        # A restart rebuilds from InfluxDB: both drums are still there, neither is new.
        with running_services(settings) as services:
            probe.publish(
                Topics(site).scan(STATION),
                encode(drum_scan(site, STATION, second, drum_label(1, 0, 1), ts=ts)),
            )
            wait_for(lambda: services.ingest.counters["redelivered"] >= 1, what="the replay")
            assert services.ingest.counters["scan_loaded"] == 0
            (container,) = [c for c in services.ingest.floor.containers.values() if c.drums]
            assert len(container.drums) == 2
