"""The broker fails mid-stream: a clean restart, and ``kill -9`` between persistence saves.

Stations publish from their disk spools (the bridge's Spool, removed on PUBACK, all of
it again after a reconnect). Each test runs its own Mosquitto, since it stops it.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from bench.spooled import Stream
from gudang.influx import InfluxClient
from gudang.servers import ServerProcess, restart, start_mosquitto
from tests.harness import make_settings, running_api, running_services, wait_for
from tests.reliability.kit import SETTLE_S, assert_ledger_stored_once, spooled_stations

STATIONS = 3
RATE_PER_STATION = 20.0  # scans/s: faster than any worker, so a restart hits a busy stream
STREAM_S = 8.0
# deploy/local/mosquitto.conf saves its store every 5 s; a kill -9 loses what came after.
AUTOSAVE_S = 5.0


def _broker_fault_run(
    influxd: ServerProcess, site: str, tmp_path: Path, kill: bool
) -> tuple[list[str], int, dict[str, int]]:
    broker = start_mosquitto(tmp_path / "mosquitto")
    settings = make_settings(broker, influxd, site, tmp_path)
    influx = InfluxClient(settings.influx)
    influx.ensure_database()
    stations = []
    try:
        with running_services(settings) as services, running_api(settings) as url:
            stations, _containers = spooled_stations(settings, url, STATIONS, tmp_path, "brk")
            if kill:
                # The ingest's persistent session must be in a saved store, as it is for a
                # long-running service; a session younger than the last save dies with it.
                time.sleep(AUTOSAVE_S + 1)
            for st in stations:
                st.start()
            stream = Stream(stations, RATE_PER_STATION, STREAM_S)
            stream.start()
            wait_for(
                lambda: services.ingest.counters["scan_loaded"] >= 40,
                what="the stream flowing into the ingest",
            )
            broker = restart(broker, kill=kill)
            at_restart = stream.accepted
            stream.join()
            wait_for(
                lambda: all(st.depth == 0 for st in stations),
                timeout=SETTLE_S,
                what="every spool drained after the restart",
            )
            ledger = stream.ledger()
            assert len(ledger) > at_restart, "nothing was accepted after the restart"
            assert_ledger_stored_once(ledger, influx, site, url)
            assert services.ingest.link.ready, "the ingest did not resubscribe"
            counters = dict(services.ingest.counters)
        return ledger, at_restart, counters
    finally:
        for st in stations:
            st.stop()
        influx.close()
        broker.stop()


def test_reliability_broker_clean_restart_mid_stream_loses_nothing(
    influxd: ServerProcess, site: str, tmp_path: Path
) -> None:
    ledger, at_restart, counters = _broker_fault_run(influxd, site, tmp_path, kill=False)
    # Everything accepted after the restart went through the resubscribed ingest.
    assert counters["scan_loaded"] == len(ledger)
    assert at_restart > 0


@pytest.mark.slow
def test_reliability_broker_kill_9_between_saves_loses_nothing(
    influxd: ServerProcess, site: str, tmp_path: Path
) -> None:
    ledger, at_restart, counters = _broker_fault_run(influxd, site, tmp_path, kill=True)
    assert counters["scan_loaded"] == len(ledger)
    assert at_restart > 0
