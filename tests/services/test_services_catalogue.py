"""The SKU catalogue changed live by commands (issue 14): a SKU added is used by the next
scan, a container opened for a SKU takes its drums per container, a retired SKU refuses
new drums; all stored and back after a restart."""

from __future__ import annotations

import json

from gudang.influx import InfluxClient
from gudang.settings import Settings
from gudang.wire import catalogue_decoder
from tests.harness import running_services, wait_for
from tests.services.kit import CONTAINER, Floorkit, drum, rows

XL = {
    "name": "Djembe extra large",
    "size": "XL",
    "min_kg": 10.0,
    "max_kg": 16.0,
    "capacity_drums": 3,
    "unit_prices": {"USD": "31.50"},
    "hs_code": "9206.00",
    "packaging_kg": 1.2,
    "volume_m3": 0.21,
    "origin_criterion": "WO",
}


def test_a_sku_added_is_used_by_the_next_scan_and_survives_a_restart(
    settings: Settings, kit: Floorkit, influx: InfluxClient
) -> None:
    site = settings.site.name
    with running_services(settings):
        kit.receive(drum(1, "JMB-XL"), supplier="CV", weight=12.0)
        wait_for(lambda: rows(influx, "scan", site, "result = 'rejected'"), what="unknown SKU")
        added = kit.ok("catalogue/set-sku", actor="admin-1", sku="JMB-XL", spec=XL)
        assert (added["sku"], added["capacity_drums"]) == ("JMB-XL", 3)
        assert added["unit_prices"] == {"USD": "31.50"}
        catalogue = wait_for(
            lambda: (
                (p := kit.retained.get(kit.topics.state_catalogue))
                and "JMB-XL" in (c := catalogue_decoder.decode(p)).skus
                and c
            ),
            what="catalogue published",
        )
        assert catalogue.skus["JMB-XL"]["name"] == "Djembe extra large"
        kit.scan("recv-1", drum(2, "JMB-XL"), weight=12.0)
        wait_for(lambda: kit.stock_of("JMB-XL") == 1, what="the new SKU received")

        opened = kit.ok("container/open", container_no=CONTAINER, sku="JMB-XL")
        assert opened["capacity_drums"] == 3  # the SKU's drums per container
        unknown = kit.command("container/open", container_no="MSKU1234565", sku="NOPE")
        assert (unknown.ok, unknown.code) == (False, 404)

        bad = kit.command("catalogue/set-sku", sku="JMB-XS", spec={"name": "x", "min_kg": -1})
        assert (bad.ok, bad.code) == (False, 400)
        clash = kit.command(
            "catalogue/set-sku", sku="JMB-XS", spec={"name": "x", "gtin": "09501101530003"}
        )
        assert (clash.ok, clash.code) == (False, 409)  # JMB-L's GTIN
        assert "JMB-L" in (clash.error or "")

        retired = kit.ok("catalogue/retire-sku", actor="admin-1", sku="JMB-XL")
        assert retired["retired"] is True
        kit.scan("recv-1", drum(3, "JMB-XL"), weight=12.0)
        wait_for(
            lambda: rows(influx, "scan", site, "reason = 'SKU JMB-XL is retired'"),
            what="a new drum of a retired SKU refused",
        )
        # The drum already counted still loads.
        kit.point_at("load-1", CONTAINER)
        kit.scan("load-1", drum(2, "JMB-XL"), weight=12.0)
        kit.wait_drums(CONTAINER, 1)
        again = kit.command("catalogue/retire-sku", sku="JMB-XL")
        assert (again.ok, again.code) == (False, 409)

    events = rows(influx, "catalogue_event", site)
    assert [(e["sku"], e["event"], e["actor"]) for e in events] == [
        ("JMB-XL", "set_sku", "admin-1"),
        ("JMB-XL", "retire_sku", "admin-1"),
    ]
    assert json.loads(events[0]["spec"])["volume_m3"] == 0.21
    kit.retained.clear()
    with running_services(settings) as services:
        spec = services.ingest.floor.settings.skus["JMB-XL"]
        assert (spec.name, spec.retired, spec.capacity_drums) == ("Djembe extra large", True, 3)
        wait_for(
            lambda: (
                (p := kit.retained.get(kit.topics.state_catalogue))
                and catalogue_decoder.decode(p).skus.get("JMB-XL", {}).get("retired") is True
            ),
            what="catalogue republished after the restart",
        )
        # Back in force: put back in use, the next new drum of it is received.
        kit.ok("catalogue/set-sku", sku="JMB-XL", spec={**XL, "retired": False})
        kit.scan("recv-1", drum(4, "JMB-XL"), weight=12.0)
        wait_for(lambda: kit.stock_of("JMB-XL") == 1, what="received after un-retiring")
        assert len(rows(influx, "scan", site, "result = 'received'")) == 2
