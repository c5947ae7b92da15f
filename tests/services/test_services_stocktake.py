"""Stocktake (issue 14): a count of a location opened, scanned at a counting station,
closed with its differences, approved in part; stored and back after a restart."""

from __future__ import annotations

import msgspec

from gudang.influx import InfluxClient
from gudang.settings import Settings
from gudang.wire import stocktake_decoder
from services.checkpoint import load_state, state_of
from services.rebuild import rebuild
from tests.harness import running_services, wait_for
from tests.services.kit import Floorkit, drum, rows


def _count(kit: Floorkit, count_id: str) -> dict[str, object] | None:
    payload = kit.retained.get(kit.topics.state_stocktake(count_id))
    return msgspec.to_builtins(stocktake_decoder.decode(payload)) if payload else None


def test_a_stocktake_from_open_to_approved_and_after_a_restart(
    settings: Settings, kit: Floorkit, influx: InfluxClient
) -> None:
    site = settings.site.name
    with running_services(settings) as services:
        kit.receive(*(drum(n) for n in (1, 2, 3, 4, 5)), supplier="CV")
        wait_for(lambda: kit.stock_of("JMB-L") == 5, what="received")
        kit.ok("stock/move", drum=drum(5), location="rak-a1", reason="x")

        opened = kit.ok("stocktake/open", actor="spv", location="warehouse")
        count_id = opened["id"]
        assert (opened["status"], opened["expected_at_open"]) == ("open", 4)
        twice = kit.command("stocktake/open", location="warehouse")
        assert (twice.ok, twice.code) == (False, 409)
        no_count = kit.command("station/set-mode", station="load-2", mode="counting")
        assert (no_count.ok, no_count.code) == (False, 400)
        unknown = kit.command(
            "station/set-mode", station="load-2", mode="counting", stocktake="ST-NOPE"
        )
        assert (unknown.ok, unknown.code) == (False, 404)
        view = kit.ok("station/set-mode", station="load-2", mode="counting", stocktake=count_id)
        assert (view["mode"], view["stocktake"]) == ("counting", count_id)

        for n in (1, 2, 5, 9, 1):  # 5: books say rak-a1; 9: never received; 1 twice
            kit.scan("load-2", drum(n))
        wait_for(lambda: (c := _count(kit, count_id)) and c["found"] == 4, what="4 counted")
        counted = rows(influx, "scan", site, "station = 'load-2'")
        assert sorted(r["result"] for r in counted) == ["counted"] * 4 + ["duplicate"]
        assert kit.stock_of("JMB-L") == 4  # counting changes nothing in the books

        closed = kit.ok("stocktake/close", actor="spv", stocktake_id=count_id)
        assert closed["status"] == "closed"
        assert [d["drum"] for d in closed["unexpected"]] == [drum(9)]
        assert [d["drum"] for d in closed["missing"]] == [drum(3), drum(4)]
        assert closed["wrong_place"] == [
            {"drum": drum(5), "sku": "JMB-L", "book_location": "rak-a1"}
        ]
        wait_for(
            lambda: (s := kit.station("load-2")) and s.mode == "loading" and not s.stocktake,
            what="the counting station back to loading",
        )
        early = kit.command("stocktake/close", stocktake_id=count_id)
        assert (early.ok, early.code) == (False, 409)
        bad = kit.command("stocktake/approve", stocktake_id=count_id, drums=[drum(1)])
        assert (bad.ok, bad.code) == (False, 400)  # not a difference

        # A checkpoint between the close and the approval: a start from it replays the
        # approval over it (checked below).
        assert services.ingest.checkpoint("test")
        approved = kit.ok(
            "stocktake/approve",
            actor="spv",
            stocktake_id=count_id,
            drums=[drum(3), drum(9), drum(5)],  # drum 4: still looked for
        )
        assert (approved["status"], approved["adjusted"]) == (
            "approved",
            [drum(3), drum(5), drum(9)],
        )
        kit.wait_stock("JMB-L", {"warehouse": 5, "rak-a1": 0}, "the books adjusted")
        floor = services.ingest.floor
        assert floor.drum_location[drum(3)] == "written-off"
        assert floor.drum_location[drum(4)] == "warehouse"
        again = kit.command("stocktake/approve", stocktake_id=count_id)
        assert (again.ok, again.code) == (False, 409)
        before_count = wait_for(
            lambda: (c := _count(kit, count_id)) and c["status"] == "approved" and c,
            what="approved published",
        )
        stock_before = kit.stock().items  # type: ignore[union-attr]

    adjustments = rows(influx, "stock_event", site, "event = 'stocktake'")
    assert sorted((a["drum"], a["to_location"]) for a in adjustments) == [
        (drum(3), "written-off"),
        (drum(5), "warehouse"),
        (drum(9), "warehouse"),
    ]
    assert {a["reason"] for a in adjustments} == {f"stocktake {count_id}"}
    events = rows(influx, "stocktake_event", site)
    assert [(e["event"], e["actor"]) for e in events] == [
        ("open_count", "spv"),
        ("close_count", "spv"),
        ("approve_count", "spv"),
    ]
    kit.retained.clear()
    with running_services(settings) as services:
        assert wait_for(kit.stock, what="stock").items == stock_before  # type: ignore[union-attr]
        after = wait_for(lambda: _count(kit, count_id), what="count republished")
        assert after == before_count
        assert services.ingest.floor.stations["load-2"].mode == "loading"
    from_checkpoint = load_state(settings, influx)
    full = rebuild(settings, influx)
    assert (from_checkpoint.road, full.road) == ("checkpoint", "full")
    assert state_of(from_checkpoint)["floor"]["stocktakes"] == state_of(full)["floor"]["stocktakes"]
    assert from_checkpoint.floor.stocktakes[count_id].adjusted == [drum(3), drum(5), drum(9)]
    assert state_of(from_checkpoint)["floor"]["stock"] == state_of(full)["floor"]["stock"]
