"""A scan's identity is (station, id): one station cannot swallow another's scan by its id.

A simple MQTT device numbers its scans (``load-2-000042``): anyone on the network can
guess the next id. The services must not take station A's scan with that id for B's.
"""

from __future__ import annotations

from gudang.influx import InfluxClient
from gudang.settings import Settings
from tests.harness import running_services, wait_for
from tests.services.kit import CONTAINER, Floorkit, Receipts, drum, rows


def test_station_a_publishing_b_s_next_id_does_not_swallow_b_s_real_scan(
    settings: Settings, kit: Floorkit, receipts: Receipts, influx: InfluxClient
) -> None:
    site = settings.site.name
    with running_services(settings):
        kit.open_at(CONTAINER, "load-1", "load-2")
        next_id = "load-2-000042"  # B's next id, predictable
        kit.scan("load-1", drum(1), scan_id=next_id)  # A publishes it first
        kit.wait_drums(CONTAINER, 1)
        kit.scan("load-2", drum(2), scan_id=next_id)  # B's real scan
        kit.wait_drums(CONTAINER, 2)
        wait_for(lambda: next_id in receipts.ids("load-2"), what="B's scan receipted")
        assert next_id in receipts.ids("load-1")
    stored = rows(influx, "scan", site, f"id = '{next_id}'")
    assert sorted((r["station"], r["barcode"]) for r in stored) == [
        ("load-1", drum(1)),
        ("load-2", drum(2)),
    ]
    # After a restart (state rebuilt from InfluxDB) each is still its station's:
    # resent, neither is counted again; a new scan with the id at a third station is.
    with running_services(settings):
        kit.scan("load-2", drum(2), scan_id=next_id)
        kit.scan("load-1", drum(1), scan_id=next_id)
        kit.point_at("load-3", CONTAINER)
        kit.scan("load-3", drum(3), scan_id=next_id)
        # The resends came first (one session, in order): counted again, they
        # would be stored again (on the next free ns) and count 5 drums.
        wait_for(
            lambda: (s := kit.station("load-3")) is not None and s.scans == 1,
            what="load-3's scan counted",
        )
        kit.wait_drums(CONTAINER, 3)
    assert len(rows(influx, "scan", site, f"id = '{next_id}'")) == 3
