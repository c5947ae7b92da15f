"""Restarting the ingest with retained topics present counts nothing again.

A device that publishes its scans retained, the stations' retained status and the
services' own retained state are all replayed by the broker to a (re)subscribing ingest.
"""

from __future__ import annotations

import uuid

from bench.floor import prepare_stations, station_names
from bench.loadgen import drum_label, drum_scan
from gudang.influx import InfluxClient
from gudang.settings import Settings
from gudang.wire import StationState, StationStatusV1, Topics, encode
from tests.harness import Probe, running_api, running_services, wait_for
from tests.reliability.kit import api_drums, assert_ledger_stored_once

STATIONS = 3
SCANS_PER_STATION = 4


def test_reliability_retained_replay_on_ingest_restart_counts_nothing_twice(
    settings: Settings, influx: InfluxClient
) -> None:
    site = settings.site.name
    topics = Topics(site)
    names = station_names(1, STATIONS)
    ledger: list[str] = []
    probe = Probe(settings)
    try:
        with running_services(settings) as first, running_api(settings) as url:
            prepare_stations(url, settings.mqtt.host, settings.mqtt.port, site, 1, names)
            for i, name in enumerate(names):
                status = StationStatusV1(site=site, station=name, state=StationState.ONLINE)
                probe.publish(topics.status(name), encode(status), retain=True)
                for seq in range(SCANS_PER_STATION):
                    sid = uuid.uuid4().hex
                    scan = drum_scan(site, name, sid, drum_label(1, i, seq))
                    # The last scan of each station stays retained on its topic.
                    probe.publish(topics.scan(name), encode(scan), retain=True)
                    ledger.append(sid)
            assert_ledger_stored_once(ledger, influx, site, url)
            assert first.ingest.counters["redelivered"] == 0
        # The same service again (its persistent session), then a replacement with a
        # fresh session: both are sent every retained scan on subscribing.
        for client_id in (None, f"replacement-{uuid.uuid4().hex[:6]}"):
            again = settings.model_copy(
                update={"mqtt": settings.mqtt.model_copy(update={"client_id": client_id})}
            )
            with running_services(again) as services, running_api(again) as url:
                wait_for(
                    lambda s=services: s.ingest.counters["redelivered"] >= STATIONS,
                    what="the retained scans replayed to the restarted ingest",
                )
                assert services.ingest.counters["scan_loaded"] == 0
                assert api_drums(url) == len(ledger)
                assert_ledger_stored_once(ledger, influx, site, url)
    finally:
        for name in names:  # leave no retained scans behind on the shared broker
            probe.publish(topics.scan(name), b"", retain=True)
            probe.publish(topics.status(name), b"", retain=True)
        probe.close()
