"""Two scans in the same second at the same station are two drums, both stored."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from bench.floor import prepare_stations
from bench.loadgen import drum_label, drum_scan
from gudang.influx import InfluxClient
from gudang.settings import Settings
from gudang.wire import Topics, encode
from tests.harness import Probe, running_api, running_services
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
