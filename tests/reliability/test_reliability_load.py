"""Three times the expected peak, for minutes: nothing lost, nothing counted twice.

The expected peak is 12 stations each scanning a drum a second (a busy floor; PRODUCT.md
counts 4-5 containers of 2,600 drums a month). Latency under this load is measured by the
benchmark (``python -m bench.run``), not asserted here: tests make no wall-clock claims.
"""

from __future__ import annotations

import os

import pytest

from bench.floor import prepare_stations, station_names
from bench.loadgen import generate, ids_of
from gudang.influx import InfluxClient
from gudang.settings import Settings
from tests.harness import running_api, running_services
from tests.reliability.kit import assert_ledger_stored_once

PEAK_STATIONS = 12
PEAK_RATE_PER_STATION = 1.0  # scans/s
FACTOR = 3
# Two minutes in CI; GUDANG_LOAD_SECONDS runs it longer by hand.
LOAD_SECONDS = float(os.environ.get("GUDANG_LOAD_SECONDS", "120"))


@pytest.mark.slow
def test_reliability_load_three_times_peak_for_minutes_loses_nothing(
    settings: Settings, influx: InfluxClient
) -> None:
    site = settings.site.name
    names = station_names(1, PEAK_STATIONS)
    rate = PEAK_STATIONS * PEAK_RATE_PER_STATION * FACTOR
    per_station = int(PEAK_RATE_PER_STATION * FACTOR * LOAD_SECONDS)
    with running_services(settings) as services, running_api(settings) as url:
        prepare_stations(url, settings.mqtt.host, settings.mqtt.port, site, 1, names)
        run, ledger = generate(
            settings.mqtt.host, settings.mqtt.port, site, names, per_station, rate, phase=1
        )
        assert not ledger.errors
        assert ledger.accepted == ledger.sent == PEAK_STATIONS * per_station
        ids = sorted(ids_of(run, names, per_station))
        assert_ledger_stored_once(ids, influx, site, url)
        assert services.ingest.counters["deadlettered"] == 0
