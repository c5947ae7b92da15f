"""Commands of the services, each stored as an event and applied again on rebuild."""

from __future__ import annotations

import pytest

from gudang.influx import InfluxClient
from gudang.settings import Settings
from gudang.wire import ContainerStatus
from tests.harness import running_services, wait_for
from tests.services.kit import CONTAINER, Floorkit, comparable, drum, rows


def test_container_lifecycle_seal_and_ship_only_in_order_and_survive_restart(
    settings: Settings, kit: Floorkit, influx: InfluxClient
) -> None:
    site = settings.site.name
    with running_services(settings):
        kit.ok("container/open", container_no="CSQU 305438 3", container_type="40HC")
        refused = kit.command("container/seal", container_no=CONTAINER, seal_no="S-1")
        assert (refused.ok, refused.code) == (False, 409)  # empty: still open
        assert "only a loading or full" in (refused.error or "")
        refused = kit.command("container/ship", container_no=CONTAINER)
        assert (refused.ok, refused.code) == (False, 409)
        missing = kit.command("container/seal", container_no=CONTAINER)
        assert (missing.ok, missing.code) == (False, 400)  # no seal number
        unknown = kit.command("container/seal", container_no="MSKU1234565", seal_no="S")
        assert (unknown.ok, unknown.code) == (False, 404)

        kit.point_at("load-1", CONTAINER)
        kit.scan("load-1", drum(1))
        kit.wait_drums(CONTAINER, 1)
        sealed = kit.ok("container/seal", container_no=CONTAINER, seal_no="ID-778812")
        assert sealed["status"] == "sealed"
        assert sealed["seal_no"] == "ID-778812"
        # The station lets go of a sealed container; a drum scanned now is refused.
        wait_for(lambda: kit.station("load-1").active_container is None, what="released")
        kit.scan("load-1", drum(2))
        unload = kit.command("container/unload", container_no=CONTAINER, drum=drum(1))
        assert (unload.ok, unload.code) == (False, 409)
        shipped = kit.ok("container/ship", container_no=CONTAINER)
        assert shipped["status"] == "shipped"
        before = comparable(kit.container(CONTAINER))
        assert before["drums"] == 1
    events = rows(influx, "container_event", site)
    assert [e["event"] for e in events] == ["open", "seal", "ship"]
    assert events[1]["seal_no"] == "ID-778812"
    assert {e["actor"] for e in events} == {"tester"}
    kit.retained.clear()
    with running_services(settings) as services:
        c = services.ingest.floor.containers[CONTAINER]
        assert c.status is ContainerStatus.SHIPPED
        assert c.seal_no == "ID-778812"
        after = wait_for(lambda: kit.container(CONTAINER), what="state republished")
        assert comparable(after) == before


def test_unload_corrects_a_drum_back_into_stock_until_sealed(
    settings: Settings, kit: Floorkit, influx: InfluxClient
) -> None:
    site = settings.site.name
    with running_services(settings):
        kit.receive()
        for n in (1, 2, 3):
            kit.scan("recv-1", drum(n), weight=9.0 + n)
        wait_for(lambda: kit.stock_of("JMB-L") == 3, what="3 drums received")
        kit.open_at(CONTAINER, "load-1")
        for n in (1, 2, 3):
            kit.scan("load-1", drum(n), weight=9.0 + n)
        kit.wait_drums(CONTAINER, 3)
        wait_for(lambda: kit.stock_of("JMB-L") == 0, what="stock emptied")

        result = kit.ok(
            "container/unload",
            actor="supervisor",
            container_no=CONTAINER,
            drum=drum(2),
            reason="label torn, wrong drum",
        )
        assert result["drum"] == drum(2)
        state = kit.wait_drums(CONTAINER, 2)
        assert state.net_weight_kg == pytest.approx(10.0 + 12.0)
        assert state.drums_by_sku == {"JMB-L": 2}
        wait_for(lambda: kit.stock_of("JMB-L") == 1, what="drum back in stock")
        again = kit.command("container/unload", container_no=CONTAINER, drum=drum(2))
        assert (again.ok, again.code) == (False, 409)  # it is in the warehouse now
        never = kit.command("container/unload", container_no=CONTAINER, drum=drum(99))
        assert (never.ok, never.code) == (False, 404)
        # Back in stock, the drum can be loaded again.
        kit.scan("load-1", drum(2), weight=11.0)
        kit.wait_drums(CONTAINER, 3)
        kit.ok("container/unload", container_no=CONTAINER, drum=drum(3))
        before = comparable(kit.wait_drums(CONTAINER, 2))
        stock_before = kit.stock().items
    unloads = rows(influx, "container_event", site, "event = 'unload'")
    assert [(u["drum"], u["actor"]) for u in unloads] == [
        (drum(2), "supervisor"),
        (drum(3), "tester"),
    ]
    kit.retained.clear()
    with running_services(settings):
        after = wait_for(lambda: kit.container(CONTAINER), what="state republished")
        assert comparable(after) == before
        assert wait_for(kit.stock, what="stock").items == stock_before


def test_set_mode_makes_a_receiving_station_with_its_supplier(
    settings: Settings, kit: Floorkit, influx: InfluxClient
) -> None:
    site = settings.site.name
    with running_services(settings):
        bad = kit.command("station/set-mode", station="recv-1", mode="sorting")
        assert (bad.ok, bad.code) == (False, 400)
        view = kit.ok("station/set-mode", station="recv-1", mode="receiving", supplier="CV Jaya")
        assert (view["mode"], view["supplier"]) == ("receiving", "CV Jaya")
        kit.scan("recv-1", drum(7), weight=9.9)
        wait_for(lambda: kit.stock_of("JMB-L") == 1, what="received")
        before = comparable(kit.station("recv-1"))
    received = rows(influx, "scan", site, "result = 'received'")
    assert [(r["drum"], r["supplier"]) for r in received] == [(drum(7), "CV Jaya")]
    kit.retained.clear()
    with running_services(settings):
        after = wait_for(lambda: kit.station("recv-1"), what="station republished")
        assert comparable(after) == before
