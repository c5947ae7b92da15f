"""A station as warehouses buy it: a USB keyboard scanner and a Yaohua XK3190 indicator.

Input events on a FIFO (these machines have no /dev/input) and XK3190 frames on a pty ->
a real bridge -> Mosquitto -> services -> InfluxDB -> API. GS1 labels go the whole way:
]C1 GS1-128 and ]Q3 GS1 QR with GS typed as Alt codes, the hand-typed (01)...(21)... form,
and a label without (21), refused with its reason. Unplugging either device shows it down
in the API; plugging it back resumes without a restart.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from firmware_bridge.bridge import Bridge
from firmware_bridge.simulators import HidScannerSimulator, ScaleSimulator
from gudang.influx import InfluxClient, quote_str
from gudang.settings import DeviceSettings, Settings, StationSettings
from tests.harness import DEMO_HEADERS, running_api, running_services, wait_for

STATION = "load-1"
CONTAINER = "CSQU3054383"
GTIN = "09501101530003"  # JMB-L in the default catalogue
XK_INTERVAL_S = 1 / 25  # an XK3190 at 25 Hz


@dataclass
class Desk:
    url: str
    bridge: Bridge
    scanner: HidScannerSimulator
    scale: ScaleSimulator

    def get(self, path: str, **params: Any) -> Any:
        r = httpx.get(f"{self.url}/api/v1{path}", params=params, headers=DEMO_HEADERS)
        assert r.status_code == 200, r.text
        return r.json()

    def station(self) -> dict[str, Any]:
        return next((s for s in self.get("/stations") if s["station"] == STATION), {})

    def device(self, name: str) -> str | None:
        return next(
            (d["state"] for d in self.station().get("devices", []) if d["name"] == name), None
        )

    def drums(self) -> int:
        return int(self.get(f"/containers/{CONTAINER}")["drums"])

    def load(self, text: str, kg: float, symbology: str | None = None) -> dict[str, Any]:
        """Put a drum on the scale, scan it; return its last scan as the API tells it."""
        before = self.drums()
        self.scale.place(kg)
        self.scanner.scan(text, symbology)
        wait_for(lambda: self.drums() == before + 1, 20, f"{text!r} loaded")
        return dict(self.station()["last_scan"])


@contextmanager
def desk(settings: Settings, tmp_path: Path, layout: str, protocol: str) -> Iterator[Desk]:
    scanner = HidScannerSimulator(tmp_path / "usb-Scanner-event-kbd", layout)
    scale = ScaleSimulator(
        protocol, settle_s=0.3, link=tmp_path / "ttyScale", interval_s=XK_INTERVAL_S
    )
    config = StationSettings(
        name=STATION,
        devices=[
            DeviceSettings(
                name="scanner", role="scanner", port=scanner.path, protocol="hid", layout=layout
            ),
            DeviceSettings(name="scale", role="scale", port=scale.path, protocol=protocol),
        ],
        spool_path=tmp_path / "spool.sqlite3",
    )
    bridge = Bridge(settings.model_copy(update={"station": config}))
    try:
        with running_services(settings), running_api(settings) as url:
            d = Desk(url, bridge, scanner, scale)
            r = httpx.post(
                f"{url}/api/v1/containers", json={"container_no": CONTAINER}, headers=DEMO_HEADERS
            )
            assert r.status_code == 201, r.text
            bridge.start()
            wait_for(lambda: d.device("scanner") == d.device("scale") == "connected", 20, "up")
            scanner.scan("CSQU 305438 3")  # point the station at the container
            wait_for(lambda: d.station().get("active_container") == CONTAINER, 20, "pointed")
            yield d
    finally:
        bridge.stop()
        scanner.close()
        scale.close()


def _loaded(influx: InfluxClient, site: str) -> dict[str, dict[str, Any]]:
    rows = influx.query(f"SELECT * FROM scan WHERE site = {quote_str(site)} AND result = 'loaded'")
    return {row["drum"]: row for row in rows}


def _unplug_and_replug(d: Desk, name: str, device: HidScannerSimulator | ScaleSimulator) -> None:
    device.unplug()
    wait_for(lambda: d.device(name) == "disconnected", 20, f"{name} down in the API")
    assert d.bridge.device_states()["scanner" if name == "scale" else "scale"] == "connected"
    device.replug()
    wait_for(lambda: d.device(name) == "connected", 20, f"{name} up again in the API")


def test_us_keyboard_scanner_and_xk3190_a12_load_drums_and_gs1_labels(
    settings: Settings, influx: InfluxClient, tmp_path: Path
) -> None:
    with desk(settings, tmp_path, "us", "xk3190-a12") as d:
        first = d.load("CB-JMB-L-000701", 9.25)  # capitals and '-': Shift on and off
        assert (first["result"], first["label"], first["weight_kg"]) == (
            "loaded",
            "CB-JMB-L-000701",
            9.25,
        )
        # GS1-128 with a lot (10) ended by GS, typed as Alt + 0 2 9 on the number pad.
        gs1_128 = d.load(f"01{GTIN}10LOT7\x1d21SN0702", 9.5, "]C1")
        assert (gs1_128["result"], gs1_128["weight_kg"]) == ("loaded", 9.5)
        gs1_qr = d.load(f"01{GTIN}21SN0703", 9.75, "]Q3")  # a GS1 QR code
        assert gs1_qr["result"] == "loaded"
        typed = d.load(f"(01){GTIN}(21)SN0704", 10.0)  # the human-readable form, by hand
        assert typed["result"] == "loaded"

        # GS1 without a serial: refused, with the reason, and nothing loaded.
        d.scale.place(9.0)
        d.scanner.scan(f"01{GTIN}10LOT9", "]C1")
        refused = wait_for(
            lambda: (s := d.station()["last_scan"]) and s["result"] == "rejected" and s,
            20,
            "the label without (21) refused",
        )
        assert "(21) serial" in refused["reason"]
        assert d.drums() == 4

        _unplug_and_replug(d, "scanner", d.scanner)
        assert d.load("CB-JMB-L-000705", 8.5)["weight_kg"] == 8.5
        _unplug_and_replug(d, "scale", d.scale)
        assert d.load("CB-JMB-L-000706", 11.25)["weight_kg"] == 11.25
        scans = d.get("/scans", station=STATION, result="rejected")
        assert [s["barcode"] for s in scans] == [f"01{GTIN}10LOT9"]

    loaded = _loaded(influx, settings.site.name)
    assert {k: round(v["weight_kg"], 3) for k, v in loaded.items()} == {
        "CB-JMB-L-000701": 9.25,
        f"{GTIN}:SN0702": 9.5,
        f"{GTIN}:SN0703": 9.75,
        f"{GTIN}:SN0704": 10.0,
        "CB-JMB-L-000705": 8.5,
        "CB-JMB-L-000706": 11.25,
    }
    assert all(row["weight_stable"] is True for row in loaded.values())
    assert {row["sku"] for row in loaded.values()} == {"JMB-L"}


@pytest.mark.parametrize("layout", ["de", "fr"])
def test_other_layouts_and_xk3190_tf0(
    layout: str, settings: Settings, influx: InfluxClient, tmp_path: Path
) -> None:
    with desk(settings, tmp_path, layout, "xk3190-tf0") as d:
        # QWERTZ swaps Y and Z; AZERTY needs Shift for every digit.
        assert d.load("CB-JMB-L-000711", 7.75)["weight_kg"] == 7.75
        assert d.load(f"01{GTIN}10ZY8\x1d21SN0712", 8.0, "]C1")["result"] == "loaded"
        _unplug_and_replug(d, "scale", d.scale)
        assert d.load("CB-JMB-L-000713", 8.25)["weight_kg"] == 8.25
    loaded = _loaded(influx, settings.site.name)
    assert {k: round(v["weight_kg"], 3) for k, v in loaded.items()} == {
        "CB-JMB-L-000711": 7.75,
        f"{GTIN}:SN0712": 8.0,
        "CB-JMB-L-000713": 8.25,
    }
