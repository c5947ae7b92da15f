"""The scales between drums: readings stored in weight_raw; scale_drift and scale_unstable.

The rules on their own (services/scales.py, the services' clock given), then a drifting
and a never-settling simulated scale read by a real bridge, through the broker, into the
services, InfluxDB and the API.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from firmware_bridge.bridge import Bridge
from firmware_bridge.simulators import ScaleSimulator, ScannerSimulator
from gudang.influx import InfluxClient, quote_str
from gudang.settings import AlertSettings, DeviceSettings, Settings, StationSettings
from gudang.wire import AlertKind, WeightReadingV1, encode
from services.alerts import AlertBook
from services.scales import REPORTING_WITHIN_S, ScaleWatch
from tests.harness import (
    DEMO_HEADERS,
    running_api,
    running_services,
    wait_for,
)
from tests.services.kit import Floorkit

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
RULES = AlertSettings(scale_zero_kg=0.05, scale_drift_s=60, scale_unstable_s=120)


def _reading(kg: float | None, stable: bool = True, station: str = "load-1") -> bytes:
    return encode(WeightReadingV1(ts=T0, station=station, weight_kg=kg, stable=stable))


def _watch() -> tuple[ScaleWatch, AlertBook, Counter[str]]:
    counters: Counter[str] = Counter()
    return ScaleWatch("blitar", RULES, counters), AlertBook(), counters


def _at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_an_empty_platter_off_zero_for_the_drift_time_raises_scale_drift() -> None:
    watch, book, _ = _watch()
    watch.take("load-1", _reading(0.0), _at(0))
    watch.take("load-1", _reading(0.08), _at(10))  # off zero from here
    watch.take("load-1", _reading(9.5), _at(20))  # a drum weighed meanwhile: still off
    watch.take("load-1", _reading(0.09), _at(30))
    watch.evaluate(book, _at(69))
    assert not book.is_active(AlertKind.SCALE_DRIFT, "load-1")
    watch.evaluate(book, _at(70))
    [alert] = book.take()
    assert (alert.kind, alert.station, alert.raised_at) == (
        AlertKind.SCALE_DRIFT,
        "load-1",
        _at(10),
    )
    assert alert.data["zero_kg"] == 0.09
    watch.evaluate(book, _at(80))
    assert book.take() == []  # one alert per condition
    watch.take("load-1", _reading(0.01), _at(90))  # zeroed: within 50 g
    watch.evaluate(book, _at(91))
    assert book.take()[0].state == "cleared"


def test_a_zero_that_comes_back_in_time_raises_nothing() -> None:
    watch, book, _ = _watch()
    watch.take("load-1", _reading(-0.2), _at(0))  # below zero counts too
    watch.take("load-1", _reading(0.0), _at(30))
    watch.take("load-1", _reading(0.2), _at(40))  # off again: its own minute starts
    watch.evaluate(book, _at(90))
    assert not book.is_active(AlertKind.SCALE_DRIFT, "load-1")
    watch.evaluate(book, _at(100))
    assert book.is_active(AlertKind.SCALE_DRIFT, "load-1")


def test_readings_that_never_settle_raise_scale_unstable_while_the_scale_reports() -> None:
    watch, book, _ = _watch()
    watch.take("load-1", _reading(0.0), _at(0))
    for s in range(10, 131, 5):
        watch.take("load-1", _reading(4.0 + (s % 2) / 10, stable=False), _at(s))
    watch.evaluate(book, _at(129))
    assert not book.is_active(AlertKind.SCALE_UNSTABLE, "load-1")
    watch.evaluate(book, _at(130))
    [alert] = book.take()
    assert (alert.kind, alert.raised_at) == (AlertKind.SCALE_UNSTABLE, _at(10))
    watch.take("load-1", _reading(4.05), _at(140))
    watch.evaluate(book, _at(141))
    assert book.take()[0].state == "cleared"


def test_a_scale_that_stopped_reporting_is_not_unstable() -> None:
    watch, book, _ = _watch()
    watch.take("load-1", _reading(5.0, stable=False), _at(0))  # then the bridge went away
    watch.evaluate(book, _at(200 + REPORTING_WITHIN_S))
    assert not book.is_active(AlertKind.SCALE_UNSTABLE, "load-1")


def test_readings_of_another_station_or_garbled_are_refused_and_counted() -> None:
    watch, book, counters = _watch()
    watch.take("load-2", _reading(0.3), _at(0))  # load-1's reading on load-2's topic
    watch.take("load-2", b"{not json", _at(0))
    watch.evaluate(book, _at(1000))
    assert counters["weights_refused"] == 2
    assert book.take() == []


@contextmanager
def station(
    settings: Settings, tmp_path: Path, protocol: str
) -> Iterator[tuple[Bridge, ScaleSimulator]]:
    """A bridge with a scale of this protocol (a polled one is polled between scans too)."""
    scanner = ScannerSimulator()
    scale = ScaleSimulator(protocol)
    station = StationSettings(
        name="load-1",
        devices=[
            DeviceSettings(name="scanner", role="scanner", port=scanner.path),
            DeviceSettings(name="scale", role="scale", port=scale.path, protocol=protocol),
        ],
        spool_path=tmp_path / "load-1.sqlite3",
    )
    bridge = Bridge(settings.model_copy(update={"station": station}))
    try:
        yield bridge, scale
    finally:
        bridge.stop()
        scanner.close()
        scale.close()


@pytest.mark.parametrize("protocol", ["mt-continuous", "mt-sics"])  # streaming, polled
def test_a_drifting_and_a_restless_scale_through_bridge_services_influxdb_and_api(
    settings_with: Callable[..., Settings], site: str, tmp_path: Path, protocol: str
) -> None:
    settings = settings_with(
        alerts={"scale_zero_kg": 0.05, "scale_drift_s": 1.0, "scale_unstable_s": 2.0},
    )
    influx = InfluxClient(settings.influx)
    with (
        Floorkit(settings) as kit,
        running_services(settings),
        running_api(settings) as url,
        station(settings, tmp_path, protocol) as (bridge, scale),
    ):
        bridge.start()
        wait_for(lambda: bridge.device_states().get("scale") == "connected", what="scale open")
        scale.drift(0.1)  # kg/s: the empty platter leaves zero within a second
        drift = kit.wait_alert("scale_drift", timeout=30)
        assert drift.station == "load-1"
        assert drift.data["zero_kg"] > 0.05

        def station_alerts() -> set[str]:
            r = httpx.get(f"{url}/api/v1/alerts", headers=DEMO_HEADERS, timeout=10)
            return {a["kind"] for a in r.json() if a.get("station") == "load-1"}

        wait_for(lambda: "scale_drift" in station_alerts(), what="scale_drift in the API")
        scale.rezero()
        kit.wait_alert("scale_drift", "cleared", timeout=30)

        scale.unsettle()
        kit.wait_alert("scale_unstable", timeout=30)
        scale.unsettle(False)
        kit.wait_alert("scale_unstable", "cleared", timeout=30)

        # Every reading the bridge published is in weight_raw, for weight_1m to summarise.
        def stored() -> list[dict[str, object]]:
            return influx.query(
                'SELECT weight_kg, stable FROM "weight_raw"."weight" '
                f"WHERE site = {quote_str(site)} AND station = 'load-1'"
            )

        rows = wait_for(lambda: len(stored()) >= 5 and stored(), what="readings stored")
        assert any(r["stable"] is False for r in rows)
        assert max(float(str(r["weight_kg"])) for r in rows) > 0.05  # the drifted zero
    influx.close()
