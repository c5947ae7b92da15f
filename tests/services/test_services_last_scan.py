"""What the worker at a station is told: the station's newest scan and what it meant.

Live on the retained station state, and the same after a rebuild from InfluxDB.
"""

from __future__ import annotations

import pytest

from gudang.influx import InfluxClient
from gudang.settings import Settings
from gudang.wire import LastScanV1
from services.rebuild import rebuild
from tests.harness import running_services, wait_for
from tests.services.kit import CONTAINER, Floorkit, drum


def _last(kit: Floorkit, station: str) -> LastScanV1 | None:
    view = kit.station(station)
    return view.last_scan if view else None


def test_station_state_carries_its_last_scan_and_the_rebuild_agrees(
    settings: Settings, kit: Floorkit, influx: InfluxClient
) -> None:
    with running_services(settings):
        kit.open_at(CONTAINER, "load-1")
        kit.scan("load-1", drum(1), weight=9.25)
        last = wait_for(
            lambda: (ls := _last(kit, "load-1")) and ls.label == drum(1) and ls,
            what="the loaded drum as the last scan",
        )
        assert (last.result, last.container_no) == ("loaded", CONTAINER)
        assert last.weight_kg == pytest.approx(9.25)
        kit.scan("load-1", drum(1), weight=9.25)  # again: the worker must see "duplicate"
        last = wait_for(
            lambda: (ls := _last(kit, "load-1")) and ls.result == "duplicate" and ls,
            what="the duplicate as the last scan",
        )
        assert last.label == drum(1)
        assert last.reason
        kit.scan("load-1", "NOT-A-DRUM-LABEL")
        last = wait_for(
            lambda: (ls := _last(kit, "load-1")) and ls.result == "rejected" and ls,
            what="the refused label as the last scan",
        )
        assert last.label == "NOT-A-DRUM-LABEL"
        live = kit.station("load-1")
    assert live is not None
    rebuilt = rebuild(settings, influx).floor.stations["load-1"].last_scan
    assert rebuilt == live.last_scan
