"""The broker fails mid-stream: a clean restart, and ``kill -9`` between persistence saves.

Stations publish from their disk spools (the bridge's Spool and SpoolSender: a row leaves
on the services' receipt, never on the PUBACK alone; what is not receipted is sent again).
Each test runs its own Mosquitto, since it stops it.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from bench.floor import prepare_stations, station_names
from bench.spooled import Stream
from gudang.influx import InfluxClient
from gudang.settings import Settings
from gudang.wire import Topics, scan_decoder
from gudang_ops.servers import ServerProcess
from tests.harness import (
    OwnServers,
    Probe,
    make_settings,
    running_api,
    running_services,
    serial_station,
    wait_for,
    wait_serial_station_up,
)
from tests.reliability.kit import SETTLE_S, assert_ledger_stored_once, spooled_stations

STATIONS = 3
RATE_PER_STATION = 20.0  # scans/s: faster than any worker, so a restart hits a busy stream
STREAM_S = 8.0
# deploy/local/mosquitto.conf saves its store every 5 s; a kill -9 loses what came after.
AUTOSAVE_S = 5.0


@pytest.fixture
def broker_conf() -> str:
    """Lines added to the test's broker configuration (a test parametrizes it to change)."""
    return ""


@pytest.fixture
def broker(own_servers: OwnServers, tmp_path: Path, broker_conf: str) -> ServerProcess:
    """The test's own Mosquitto: it restarts and kills it (``own_servers`` stops them all)."""
    return own_servers.mosquitto(tmp_path / "mosquitto", extra=broker_conf)


@pytest.fixture
def settings(broker: ServerProcess, influxd: ServerProcess, site: str, tmp_path: Path) -> Settings:
    """The test's settings, on its own broker (and so the ``influx`` fixture's database)."""
    return make_settings(broker, influxd, site, tmp_path)


@pytest.mark.parametrize(
    "kill",
    [
        pytest.param(False, id="clean-restart"),
        pytest.param(True, id="kill-9-between-saves", marks=pytest.mark.slow),
    ],
)
def test_reliability_broker_restart_mid_stream_loses_nothing(
    settings: Settings,
    influx: InfluxClient,
    broker: ServerProcess,
    own_servers: OwnServers,
    tmp_path: Path,
    kill: bool,
) -> None:
    site = settings.site.name
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
            own_servers.restart(broker, kill=kill)
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
            # Everything accepted after the restart went through the resubscribed ingest.
            assert services.ingest.counters["scan_loaded"] == len(ledger)
            assert at_restart > 0
    finally:
        for st in stations:
            st.stop()


# A scan at the bridge every 1/10 s while the ingest is away; the scale holds one drum.
AWAY_SCANS = 30
DRUM_KG = 9.0


# The broker never saves before the kill: the scans exist only in its memory.
@pytest.mark.slow
@pytest.mark.parametrize("broker_conf", ["autosave_interval 3600"], ids=["never-saved"])
def test_reliability_broker_kill_9_while_the_ingest_is_away_loses_nothing(
    settings: Settings,
    influx: InfluxClient,
    broker: ServerProcess,
    own_servers: OwnServers,
    tmp_path: Path,
) -> None:
    """The gap receipts close: scans the broker acknowledged, held only in its memory for
    an ingest that is away, die with a ``kill -9``; the bridge still has them and resends."""
    site = settings.site.name
    name = station_names(1, 1)[0]
    with serial_station(settings, tmp_path, name=name, receipt_timeout_s=0.5) as (
        bridge,
        scanner,
        scale,
    ):
        with running_services(settings), running_api(settings) as url:
            prepare_stations(url, settings.mqtt.host, broker.port, site, 1, [name])
            bridge.start()
            wait_serial_station_up(bridge)
        # The ingest is away (restarting, or its window full): its persistent session
        # holds what the station publishes, in the broker's memory.
        # The ledger: every scan the station published, as a subscriber sees it.
        probe = Probe(settings, Topics(site).scan(name))
        scale.place(DRUM_KG)
        labels = [f"CB-JMB-L-{n + 1:06d}" for n in range(AWAY_SCANS)]
        for label in labels:
            scanner.scan(label)
            time.sleep(0.1)
        wait_for(
            lambda: bridge.counters["acked"] >= AWAY_SCANS,
            timeout=SETTLE_S,
            what="every scan acknowledged by the broker",
        )
        published: dict[str, str] = {}
        while len(published) < AWAY_SCANS:
            scan = scan_decoder.decode(probe.get(timeout=SETTLE_S).payload)
            published.setdefault(scan.id, scan.barcode)
        probe.close()
        assert sorted(published.values()) == labels
        ledger = list(published)
        own_servers.restart(broker, kill=True)
        wait_for(lambda: bridge.link.ready, timeout=SETTLE_S, what="the bridge reconnected")
        with running_services(settings) as services, running_api(settings) as url:
            assert_ledger_stored_once(ledger, influx, site, url)
            wait_for(
                lambda: bridge.spool.depth == 0 and bridge.counters["receipted"] == AWAY_SCANS,
                timeout=SETTLE_S,
                what="every scan receipted",
            )
            # All of them came through this ingest, from the bridge's resends: the
            # broker had lost every one.
            assert services.ingest.counters["scan_loaded"] == AWAY_SCANS
            assert bridge.counters["resent"] >= AWAY_SCANS
