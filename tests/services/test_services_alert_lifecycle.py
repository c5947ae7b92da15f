"""Alert lifecycle: raised -> acknowledged -> cleared, stored, retained, rebuilt; exactly once."""

from __future__ import annotations

from gudang.influx import InfluxClient
from gudang.settings import Settings
from gudang.wire import AlertState
from tests.harness import running_services, wait_for
from tests.services.kit import CONTAINER, Floorkit, alert_states, drum, rows

CAPACITY = 20  # nearly full (95 %) at 19 drums, full at 20


def test_nearly_full_and_full_fire_once_are_acknowledged_and_clear_on_seal(
    settings: Settings, kit: Floorkit, influx: InfluxClient
) -> None:
    site = settings.site.name
    full_id = f"container_full-{CONTAINER}"
    nearly_id = f"container_nearly_full-{CONTAINER}"
    with running_services(settings):
        kit.open_at(CONTAINER, "load-1", capacity_drums=CAPACITY)
        for n in range(1, 19):
            kit.scan("load-1", drum(n))
        kit.wait_drums(CONTAINER, 18)
        assert kit.alerts_of("container_nearly_full") == []
        kit.scan("load-1", drum(19))
        nearly = kit.wait_alert("container_nearly_full")
        assert nearly.id == nearly_id
        assert nearly.container_no == CONTAINER
        assert nearly.data["drums"] == 19
        kit.scan("load-1", drum(20))
        full = kit.wait_alert("container_full")
        assert (full.id, full.severity, full.state) == (full_id, "warning", AlertState.RAISED)
        kit.wait_drums(CONTAINER, 20)
        # Unload one and load it again: full again, but the alert is already raised.
        kit.ok("container/unload", container_no=CONTAINER, drum=drum(20))
        kit.wait_drums(CONTAINER, 19)
        kit.scan("load-1", drum(20))
        kit.wait_drums(CONTAINER, 20)

        acked = kit.ok("alert/ack", actor="bu-sri", alert_id=full_id)
        assert (acked["state"], acked["acknowledged_by"]) == ("acknowledged", "bu-sri")
        assert acked["acknowledged_at"] is not None
        again = kit.command("alert/ack", alert_id=full_id)
        assert (again.ok, again.code) == (False, 409)
        missing = kit.command("alert/ack", alert_id="container_full-NOPE")
        assert (missing.ok, missing.code) == (False, 404)
        retained = wait_for(
            lambda: (a := kit.retained_alert(full_id)) and a.state == "acknowledged" and a,
            what="acknowledged alert retained",
        )
        assert retained.acknowledged_by == "bu-sri"

    # A restart rebuilds the alerts: the container is still full, nothing fires again.
    with running_services(settings) as services:
        active = services.ingest.alerts.active
        assert active[full_id].state is AlertState.ACKNOWLEDGED
        assert active[full_id].acknowledged_by == "bu-sri"
        assert active[nearly_id].state is AlertState.RAISED
        kit.ok("container/unload", container_no=CONTAINER, drum=drum(20))
        kit.scan("load-1", drum(20))
        kit.wait_drums(CONTAINER, 20)
        kit.ok("container/seal", container_no=CONTAINER, seal_no="SEAL-1")
        cleared = kit.wait_alert("container_full", "cleared")
        assert cleared.acknowledged_by == "bu-sri"
        assert cleared.cleared_at is not None
        kit.wait_alert("container_nearly_full", "cleared")
        # Cleared: the broker no longer keeps it for new subscribers.
        wait_for(lambda: kit.retained_alert(full_id) is None, what="retained alert emptied")
        assert full_id not in services.ingest.alerts.active

    # Raised once each: the services republish open alerts at start (the broker may have
    # lost them), the same alert with the same raised_at, never a new one.
    assert len({a.raised_at for a in kit.alerts_of("container_full")}) == 1
    assert len({a.raised_at for a in kit.alerts_of("container_nearly_full")}) == 1
    stored = rows(influx, "alert", site, "kind = 'container_full'")
    assert [r["state"] for r in stored] == ["raised", "acknowledged", "cleared"]
    assert stored[1]["acknowledged_by"] == "bu-sri"
    assert alert_states(influx, site, "container_nearly_full") == ["raised", "cleared"]
