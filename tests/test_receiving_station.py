"""A receiving station over ptys: supplier and QC cards scanned at the bridge reach the stock.

ptys -> bridge -> Mosquitto -> services -> InfluxDB -> API, as at the receiving desk: the
worker scans the craftsman's supplier card, the inspector scans a QC card before a drum.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from gudang.barcodes import BarcodeError, StationCard
from gudang.influx import InfluxClient, quote_str
from gudang.settings import Settings
from tests.harness import (
    DEMO_HEADERS,
    running_api,
    running_services,
    serial_station,
    wait_for,
    wait_serial_station_up,
)

STATION = "recv-1"


@pytest.mark.parametrize(
    ("text", "card"),
    [
        ("SUP:CV-JAYA", StationCard(supplier="CV-JAYA")),
        ("sup: Pak Darto ", StationCard(supplier="Pak Darto")),
        ("QC:PASS", StationCard(qc="pass")),
        ("qc:reject", StationCard(qc="reject")),
        ("QC:REWORK", StationCard(qc="rework")),
        ("CB-JMB-L-000123", None),
        ("CSQU3054383", None),
        ("SUPPLY-1", None),
    ],
)
def test_station_cards_are_read_off_the_label(text: str, card: StationCard | None) -> None:
    assert StationCard.parse(text) == card


@pytest.mark.parametrize("text", ["SUP:", "SUP:  ", "SUP:<script>", "QC:MAYBE", "QC:", "QC:PASS2"])
def test_broken_station_cards_say_what_is_wrong(text: str) -> None:
    with pytest.raises(BarcodeError, match="card"):
        StationCard.parse(text)


def _stock(url: str) -> dict[str, int]:
    body = httpx.get(f"{url}/api/v1/stock", headers=DEMO_HEADERS).json()
    return {item["location"]: item["drums"] for item in body["items"] if item["sku"] == "JMB-L"}


def _station(url: str) -> dict[str, Any]:
    stations = httpx.get(f"{url}/api/v1/stations", headers=DEMO_HEADERS).json()
    return next((s for s in stations if s["station"] == STATION), {})


def test_supplier_and_qc_cards_at_a_receiving_station_reach_stock_and_influxdb(
    settings: Settings, influx: InfluxClient, tmp_path: Path
) -> None:
    with (
        running_services(settings),
        running_api(settings) as url,
        serial_station(settings, tmp_path, STATION, mode="receiving") as (bridge, scanner, scale),
    ):
        r = httpx.put(
            f"{url}/api/v1/stations/{STATION}/mode",
            json={"mode": "receiving"},
            headers=DEMO_HEADERS,
        )
        assert r.status_code == 200, r.text
        bridge.start()
        wait_serial_station_up(bridge)
        scanner.scan("SUP:CV-JAYA")
        wait_for(lambda: _station(url).get("supplier") == "CV-JAYA", what="the supplier set")

        def drum(label: str, kg: float, held: dict[str, int]) -> None:
            scale.place(0)
            scanner.scan(label, None)
            scale.place(kg)
            wait_for(lambda: _stock(url) == held, what=f"{label} in stock as {held}")

        scanner.scan("QC:REJECT")
        drum("CB-JMB-L-000501", 9.1, {"qc-reject": 1})
        drum("CB-JMB-L-000502", 9.2, {"qc-reject": 1, "warehouse": 1})  # one drum per card
        scanner.scan("QC:MAYBE")  # no such verdict: dropped at the bridge, counted
        drum("CB-JMB-L-000503", 9.3, {"qc-reject": 1, "warehouse": 2})
        assert bridge.counters["scanner_bad_cards"] == 1
    rows = influx.query(
        f"SELECT drum, qc, supplier, location FROM scan WHERE site = {quote_str(settings.site.name)}"
        " AND result = 'received'"
    )
    by_drum = {row["drum"]: row for row in rows}
    assert set(by_drum) == {"CB-JMB-L-000501", "CB-JMB-L-000502", "CB-JMB-L-000503"}
    assert by_drum["CB-JMB-L-000501"]["qc"] == "reject"
    assert by_drum["CB-JMB-L-000502"]["qc"] is None
    assert {row["supplier"] for row in rows} == {"CV-JAYA"}
