"""What the reliability tests share: stations on spools, and the ledger check."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from bench.floor import API_HEADERS, influx_loaded_ids, prepare_stations, station_names
from bench.spooled import SpooledStation
from gudang.influx import InfluxClient
from gudang.settings import Settings
from services.app import Services
from tests.harness import running_api, running_services, wait_for

# A fault run's stream is short; the pipeline then gets this long to catch up.
SETTLE_S = 60.0


def spooled_stations(
    settings: Settings, api_url: str, count: int, tmp_path: Path, run: str
) -> tuple[list[SpooledStation], dict[str, str]]:
    """``count`` stations with spools, each pointed at a container of its own."""
    names = station_names(1, count)
    mapping = prepare_stations(
        api_url, settings.mqtt.host, settings.mqtt.port, settings.site.name, 1, names
    )
    stations = [
        SpooledStation(
            settings.mqtt, settings.site.name, name, i, tmp_path / f"spool-{name}.sqlite3", run
        )
        for i, name in enumerate(names)
    ]
    return stations, mapping


@contextmanager
def floor_with_stations(settings: Settings, stations: list[str]) -> Iterator[tuple[Services, str]]:
    """The services and the API running, each of ``stations`` pointed at a container of
    its own; yields the services and the API's URL."""
    with running_services(settings) as services, running_api(settings) as url:
        site = settings.site.name
        prepare_stations(url, settings.mqtt.host, settings.mqtt.port, site, 1, stations)
        yield services, url


def api_drums(api_url: str) -> int:
    """Drums in all containers, as the API shows them."""
    return sum(
        int(c["drums"])
        for c in httpx.get(f"{api_url}/api/v1/containers", headers=API_HEADERS).json()
    )


def assert_ledger_stored_once(
    ledger: list[str], influx: InfluxClient, site: str, api_url: str
) -> None:
    """Every accepted scan is in InfluxDB exactly once and counted once by the API."""
    assert len(ledger) == len(set(ledger)), "the generator made an id twice"
    wait_for(
        lambda: len(influx_loaded_ids(influx, site)) >= len(ledger),
        timeout=SETTLE_S,
        what=f"{len(ledger)} loaded scans in InfluxDB",
    )
    stored = influx_loaded_ids(influx, site)
    twice = [sid for sid, n in Counter(stored).items() if n > 1]
    assert not twice, f"counted twice in InfluxDB: {twice[:5]}"
    missing = set(ledger) - set(stored)
    assert not missing, f"{len(missing)} accepted scans lost, e.g. {sorted(missing)[:5]}"
    extra = set(stored) - set(ledger)
    assert not extra, f"scans nobody sent: {sorted(extra)[:5]}"
    wait_for(
        lambda: api_drums(api_url) == len(ledger),
        timeout=SETTLE_S,
        what=f"the API showing {len(ledger)} drums",
    )
