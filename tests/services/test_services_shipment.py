"""The shipment record: a supervisor's command, stored as an event, rebuilt, frozen once shipped."""

from __future__ import annotations

from decimal import Decimal

from gudang.influx import InfluxClient
from gudang.settings import Settings
from gudang.wire import ShipmentV1
from tests.harness import running_services, wait_for
from tests.services.kit import CONTAINER, Floorkit, comparable, drum, rows

RECORD = {
    "buyer": {"name": "Guangzhou Music Co.", "address": "88 Huangpu Rd", "country": "CN"},
    "port_of_loading": "IDSUB Tanjung Perak",
    "vessel": "KMTC JAKARTA",
    "incoterm": "CIF",
    "currency": "USD",
    "freight": "1250.00",
    "invoice_date": "2026-12-02",
}


def test_shipment_record_is_stored_rebuilt_and_frozen_once_shipped(
    settings: Settings, kit: Floorkit, influx: InfluxClient
) -> None:
    site = settings.site.name
    with running_services(settings):
        unknown = kit.command("container/shipment", container_no=CONTAINER, shipment=RECORD)
        assert (unknown.ok, unknown.code) == (False, 404)
        kit.ok("container/open", container_no=CONTAINER)
        bad = kit.command(
            "container/shipment", container_no=CONTAINER, shipment={**RECORD, "incoterm": "XYZ"}
        )
        assert (bad.ok, bad.code) == (False, 400)
        assert "Incoterm" in (bad.error or "")
        bad = kit.command("container/shipment", container_no=CONTAINER, shipment={"nonsense": 1})
        assert (bad.ok, bad.code) == (False, 400)
        first = kit.ok("container/shipment", actor="ayu", container_no=CONTAINER, shipment=RECORD)
        assert first["shipment"]["buyer"]["name"] == "Guangzhou Music Co."
        assert first["shipment"]["set_by"] == "ayu"
        # editable while loading and sealed: the whole record is replaced
        kit.point_at("load-1", CONTAINER)
        kit.scan("load-1", drum(1))
        kit.wait_drums(CONTAINER, 1)
        kit.ok("container/seal", container_no=CONTAINER, seal_no="EMCS1")
        second = kit.ok(
            "container/shipment",
            container_no=CONTAINER,
            shipment={**RECORD, "voyage": "2412N", "insurance": "12.50"},
        )
        assert second["shipment"]["voyage"] == "2412N"
        kit.ok("container/ship", container_no=CONTAINER)
        frozen = kit.command(
            "container/shipment", container_no=CONTAINER, shipment={**RECORD, "vessel": "X"}
        )
        assert (frozen.ok, frozen.code) == (False, 409)
        assert "frozen" in (frozen.error or "")
        state = wait_for(
            lambda: (c := kit.container(CONTAINER)) and c.status == "shipped" and c,
            what="shipped state",
        )
        before = comparable(state)
        assert state.shipment is not None
        assert state.shipment.vessel == "KMTC JAKARTA"
        assert state.shipment.insurance == Decimal("12.50")
    events = [e for e in rows(influx, "container_event", site) if e["event"] == "shipment"]
    assert len(events) == 2  # the refused ones stored nothing
    assert {e["actor"] for e in events} == {"ayu", "tester"}
    kit.retained.clear()
    with running_services(settings) as services:
        rebuilt = services.ingest.floor.containers[CONTAINER].shipment
        assert isinstance(rebuilt, ShipmentV1)
        assert (rebuilt.voyage, rebuilt.freight) == ("2412N", Decimal("1250.00"))
        after = wait_for(lambda: kit.container(CONTAINER), what="state republished")
        assert comparable(after) == before
