"""PRODUCT.md's "What a scan means at a loading station", row by row, plus receiving.

Scans go over real MQTT to the running services; results are read from the retained
state topics, the alert topics and InfluxDB.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from gudang.influx import InfluxClient
from gudang.settings import Settings
from gudang.wire import QcResult, ScanKind
from tests.harness import running_services, wait_for
from tests.services.kit import CONTAINER, OTHER_CONTAINER, Floorkit, drum, rows

GS1_LABEL = "]d2010950110153000310ABC123\x1d21SN0001"  # GTIN of JMB-L, serial SN0001


def test_drum_in_stock_is_loaded_stock_minus_one_container_plus_one(
    settings: Settings, kit: Floorkit, influx: InfluxClient
) -> None:
    with running_services(settings):
        kit.receive(drum(1), drum(2))
        wait_for(lambda: kit.stock_of("JMB-L") == 2, what="2 received")
        kit.open_at(CONTAINER, "load-1")
        kit.scan("load-1", drum(1), weight=9.25)
        state = kit.wait_drums(CONTAINER, 1)
        wait_for(lambda: kit.stock_of("JMB-L") == 1, what="stock -1")
        assert state.net_weight_kg == pytest.approx(9.25)
        assert state.drums_by_sku == {"JMB-L": 1}
        assert state.status == "loading"
    loaded = rows(influx, "scan", settings.site.name, "result = 'loaded'")
    assert [(r["drum"], r["from_stock"], r["container_no"]) for r in loaded] == [
        (drum(1), True, CONTAINER)
    ]


def test_drum_already_in_this_container_is_a_duplicate_told_at_once(
    settings: Settings, kit: Floorkit, influx: InfluxClient
) -> None:
    with running_services(settings):
        kit.receive(drum(1))
        kit.open_at(CONTAINER, "load-1")
        kit.scan("load-1", drum(1))
        kit.wait_drums(CONTAINER, 1)
        kit.scan("load-1", drum(1))
        alert = kit.wait_alert("duplicate_scan")
        assert alert.station == "load-1"
        assert alert.subject == "load-1"  # grouped per station and hour (alerts.grouped_kinds)
        assert alert.data["drum"] == drum(1)
        assert f"already in {CONTAINER}" in alert.message
        # A third scan of it: still one alert, still one drum.
        kit.scan("load-1", drum(1))
        wait_for(
            lambda: len(rows(influx, "scan", settings.site.name, "result = 'duplicate'")) == 2,
            what="both duplicates stored",
        )
        assert kit.container(CONTAINER).drums == 1
        assert kit.stock_of("JMB-L") == 0
        assert {a.id for a in kit.alerts_of("duplicate_scan")} == {alert.id}  # one alert ...
        counted = wait_for(
            lambda: (a := kit.retained_alert(alert.id)) and a.data["count"] == 2 and a,
            what="the alert counting the second duplicate",
        )
        assert counted.raised_at == alert.raised_at  # ... counting, not raised again
        # An event alert: acknowledging it clears it.
        result = kit.ok("alert/ack", actor="mandor", alert_id=alert.id)
        assert (result["state"], result["acknowledged_by"]) == ("cleared", "mandor")
        wait_for(lambda: kit.retained_alert(alert.id) is None, what="alert emptied")


def test_drum_in_another_container_raises_wrong_container_and_counts_only_after_unload(
    settings: Settings, kit: Floorkit, influx: InfluxClient
) -> None:
    with running_services(settings):
        kit.receive(drum(1))
        kit.ok("container/open", container_no=CONTAINER)
        kit.ok("container/open", container_no=OTHER_CONTAINER)
        kit.point_at("load-1", CONTAINER)
        kit.point_at("load-2", OTHER_CONTAINER)
        kit.scan("load-1", drum(1))
        kit.wait_drums(CONTAINER, 1)
        kit.scan("load-2", drum(1))
        alert = kit.wait_alert("wrong_container")
        assert alert.container_no == OTHER_CONTAINER
        assert alert.data["in_container"] == CONTAINER
        assert alert.severity == "critical"
        assert kit.container(CONTAINER).drums == 1
        assert kit.container(OTHER_CONTAINER).drums == 0
        # The supervisor moves it: unloaded from the first, it goes back to stock...
        kit.ok("container/unload", actor="supervisor", container_no=CONTAINER, drum=drum(1))
        cleared = kit.wait_alert("wrong_container", "cleared")
        assert cleared.id == alert.id
        kit.wait_drums(CONTAINER, 0)
        # ... and scanned again at the right station, it counts there.
        kit.scan("load-2", drum(1))
        kit.wait_drums(OTHER_CONTAINER, 1)
        wait_for(lambda: kit.stock_of("JMB-L") == 0, what="taken from stock again")
    wrong = rows(influx, "scan", settings.site.name, "result = 'wrong_container'")
    assert len(wrong) == 1
    assert f"drum is in {CONTAINER}" in wrong[0]["reason"]


def test_unknown_drum_is_received_and_loaded_by_default(
    settings: Settings, kit: Floorkit, influx: InfluxClient
) -> None:
    with running_services(settings):
        kit.open_at(CONTAINER, "load-1")
        kit.scan("load-1", drum(5, "JMB-M"), weight=5.5)
        state = kit.wait_drums(CONTAINER, 1)
        assert state.drums_by_sku == {"JMB-M": 1}
        assert kit.stock_of("JMB-M") == 0  # never in stock: nothing to take from it
        assert kit.alerts_of("unknown_barcode") == []
    loaded = rows(influx, "scan", settings.site.name, "result = 'loaded'")
    assert [(r["drum"], r["from_stock"]) for r in loaded] == [(drum(5, "JMB-M"), False)]


def test_unknown_drum_is_rejected_with_an_alert_when_configured(
    settings_with: Callable[..., Settings], site: str
) -> None:
    settings = settings_with(floor={"unknown_drum": "reject"})
    influx = InfluxClient(settings.influx)
    try:
        with Floorkit(settings) as kit, running_services(settings):
            kit.open_at(CONTAINER, "load-1")
            kit.scan("load-1", drum(6))
            alert = kit.wait_alert("unknown_barcode")
            assert alert.station == "load-1"
            assert "never received" in alert.message
            assert kit.container(CONTAINER).drums == 0
        rejected = rows(influx, "scan", site, "result = 'rejected'")
        assert [r["reason"] for r in rejected] == ["unknown drum: never received"]
    finally:
        influx.close()


def test_unreadable_label_is_rejected_recorded_with_reason_and_alerted(
    settings: Settings, kit: Floorkit, influx: InfluxClient
) -> None:
    with running_services(settings):
        kit.open_at(CONTAINER, "load-1")
        kit.scan("load-1", "HELLO-WORLD")
        alert = kit.wait_alert("unknown_barcode")
        assert alert.data["barcode"] == "HELLO-WORLD"
        kit.scan("load-1", "CB-XXX-Y-000001")  # drum pattern, but no such SKU
        wait_for(
            lambda: len(rows(influx, "scan", settings.site.name, "result = 'rejected'")) == 2,
            what="both rejections stored",
        )
        assert kit.container(CONTAINER).drums == 0
    reasons = sorted(
        r["reason"] for r in rows(influx, "scan", settings.site.name, "result = 'rejected'")
    )
    assert reasons[0].startswith("unknown SKU for CB-XXX-Y-000001")
    assert reasons[1].startswith("unknown barcode: label 'HELLO-WORLD'")


def test_drum_outside_its_weight_range_is_loaded_but_flagged(
    settings: Settings, kit: Floorkit, influx: InfluxClient
) -> None:
    with running_services(settings):
        kit.open_at(CONTAINER, "load-1")
        kit.scan("load-1", drum(8), weight=14.2)  # JMB-L expects 7-12 kg
        state = kit.wait_drums(CONTAINER, 1)
        assert state.net_weight_kg == pytest.approx(14.2)
        alert = kit.wait_alert("weight_out_of_range")
        assert alert.data == {
            "drum": drum(8),
            "sku": "JMB-L",
            "weight_kg": 14.2,
            "min_kg": 7.0,
            "max_kg": 12.0,
        }
        kit.scan("load-1", drum(9), weight=9.0)
        kit.wait_drums(CONTAINER, 2)
    loaded = rows(influx, "scan", settings.site.name, "result = 'loaded'")
    assert [(r["drum"], r["out_of_range"]) for r in loaded] == [(drum(8), True), (drum(9), False)]


def test_receiving_station_adds_stock_with_supplier_and_gs1_labels(
    settings: Settings, kit: Floorkit, influx: InfluxClient
) -> None:
    with running_services(settings):
        kit.ok("station/set-mode", station="recv-1", mode="receiving")
        kit.scan("recv-1", "Pak Darto", kind=ScanKind.SUPPLIER)
        wait_for(lambda: (s := kit.station("recv-1")) and s.supplier == "Pak Darto", what="card")
        kit.scan("recv-1", drum(1, "JMB-S"), weight=3.1)
        kit.scan("recv-1", GS1_LABEL, weight=9.7)
        wait_for(lambda: kit.stock_of("JMB-L") == 1 and kit.stock_of("JMB-S") == 1, what="stock")
        kit.scan("recv-1", drum(1, "JMB-S"), weight=3.1)  # received already
        kit.wait_alert("duplicate_scan")
        assert kit.stock_of("JMB-S") == 1
    received = rows(influx, "scan", settings.site.name, "result = 'received'")
    assert [(r["drum"], r["sku"], r["supplier"]) for r in received] == [
        (drum(1, "JMB-S"), "JMB-S", "Pak Darto"),
        ("09501101530003:SN0001", "JMB-L", "Pak Darto"),
    ]
    every = rows(influx, "scan", settings.site.name)
    assert [r["result"] for r in every] == ["supplier_set", "received", "received", "duplicate"]


def test_receiving_records_qc_and_failed_drums_are_held_from_loading(
    settings: Settings, influx: InfluxClient
) -> None:
    with Floorkit(settings) as kit, running_services(settings):
        kit.receive()
        kit.scan("recv-1", drum(1), qc=QcResult.PASS)
        kit.scan("recv-1", drum(2), qc=QcResult.REJECT)
        kit.scan("recv-1", drum(3), qc=QcResult.REWORK)
        kit.wait_stock(
            "JMB-L", {"warehouse": 1, "qc-reject": 1, "qc-rework": 1}, "stock by QC location"
        )
        kit.open_at(CONTAINER, "load-1")
        for n in (1, 2, 3):
            kit.scan("load-1", drum(n))
        kit.wait_drums(CONTAINER, 1)  # only the drum that passed
        wait_for(
            lambda: len(rows(influx, "scan", settings.site.name, "result = 'rejected'")) == 2,
            what="held drums refused",
        )
        # Reworked and inspected again: it passes, leaves qc-rework and can be loaded.
        kit.scan("recv-1", drum(3), qc=QcResult.PASS)
        kit.wait_stock("JMB-L", {"warehouse": 1, "qc-rework": 0}, "rework passed")
        kit.scan("load-1", drum(3))
        kit.wait_drums(CONTAINER, 2)
        assert kit.stock_of("JMB-L", "qc-reject") == 1
        before = kit.stock().items
        kit.retained.clear()
    with Floorkit(settings) as kit, running_services(settings):
        assert wait_for(kit.stock, what="stock republished").items == before
    received = rows(influx, "scan", settings.site.name, "result = 'received'")
    assert [(r["drum"], r["qc"], r["location"]) for r in received] == [
        (drum(1), "pass", "warehouse"),
        (drum(2), "reject", "qc-reject"),
        (drum(3), "rework", "qc-rework"),
        (drum(3), "pass", "warehouse"),
    ]
    refused = rows(influx, "scan", settings.site.name, "result = 'rejected'")
    assert [r["reason"] for r in refused] == [
        "drum is held by QC (qc-reject): not for loading",
        "drum is held by QC (qc-rework): not for loading",
    ]
