"""Alert noise: informational alerts grouped per station and hour with a count, a kind
acknowledged at once, and which kinds the plain webhooks get (alerts.webhook_kinds).

Against real servers; the count is stored with each transition, so a rebuild has it too.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from gudang.influx import InfluxClient
from gudang.settings import Settings
from services.rebuild import rebuild
from tests.harness import running_services, wait_for
from tests.services.kit import CONTAINER, Floorkit, WebhookReceiver, alert_states, drum, rows

DUPLICATES = 6


@pytest.fixture
def settings(settings_with: Callable[..., Settings], receiver: WebhookReceiver) -> Settings:
    """Two loading stations; the receiver is sent duplicates and full containers."""
    return settings_with(
        alerts={
            "webhooks": [receiver.url],
            "webhook_kinds": ["duplicate_scan", "container_full"],
        },
        floor={"stations": ["load-1", "load-2"]},
    )


def test_duplicates_are_one_alert_per_station_and_hour_acknowledged_at_once(
    settings: Settings, kit: Floorkit, receiver: WebhookReceiver, influx: InfluxClient
) -> None:
    site = settings.site.name
    with running_services(settings) as services:
        kit.open_at(CONTAINER, "load-1", "load-2", capacity_drums=40)
        for n in range(1, DUPLICATES + 1):
            kit.scan("load-1", drum(n))
            kit.scan("load-1", drum(n))  # each drum twice: a duplicate each
        kit.scan("load-2", drum(1))  # the other station: its own alert
        kit.scan("load-2", drum(99), weight=40.0)  # out of range: not a webhook kind

        def active() -> list[dict[str, object]]:
            return [
                {"id": a.id, "station": a.station, "count": a.data.get("count")}
                for a in services.ingest.alerts.active.values()
                if a.kind == "duplicate_scan"
            ]

        def counted(station: str) -> int:
            return sum(int(str(a["count"])) for a in active() if a["station"] == station)

        wait_for(
            lambda: counted("load-1") == DUPLICATES and counted("load-2") == 1,
            what="the duplicates counted",
        )
        # One per station and hour (two only if the scans straddled an hour's end).
        assert 1 <= len([a for a in active() if a["station"] == "load-1"]) <= 2
        kit.wait_alert("weight_out_of_range")

        # One click for the supervisor: every duplicate alert at once.
        ids = sorted(str(a["id"]) for a in active())
        result = kit.ok("alert/ack-kind", actor="mandor", kind="duplicate_scan")
        assert sorted(result["acknowledged"]) == ids
        # An event kind: its acknowledgement clears each (AlertKindAckV1), by the asker.
        assert sorted(result["cleared"]) == ids
        assert (result["kind"], result["acknowledged_by"]) == ("duplicate_scan", "mandor")
        assert datetime.fromisoformat(result["acknowledged_at"]).tzinfo is not None
        wait_for(lambda: not active(), what="the duplicate alerts cleared")
        assert services.ingest.alerts.active  # the weight alert stays
        again = kit.ok("alert/ack-kind", actor="mandor", kind="duplicate_scan")
        assert again["acknowledged"] == []
        refused = kit.command("alert/ack-kind", actor="mandor", kind="no_such_kind")
        assert (refused.ok, refused.code) == (False, 400)

        # The webhook: each group's first raise and its end, not every count; and only
        # the kinds it was given (no weight_out_of_range).
        wait_for(
            lambda: len(receiver.of("duplicate_scan", "cleared")) == len(result["acknowledged"]),
            20,
            "the ends delivered",
        )
        raised = receiver.of("duplicate_scan")
        assert all(a.data["count"] == 1 for a in raised)
        assert len(raised) == len(result["acknowledged"])
        assert not receiver.of("weight_out_of_range")
        assert services.ingest.webhooks.counters["grouped_not_sent"] >= DUPLICATES - 2

    # The counts are in the stored transitions: a rebuild finds the same (none active now,
    # and the acknowledgement with who did it).
    full = rebuild(settings, influx, now=datetime.now(UTC))
    assert not [a for a in full.alerts.active.values() if a.kind == "duplicate_scan"]
    stored = set(alert_states(influx, site, "duplicate_scan"))
    assert stored == {"raised", "acknowledged", "cleared"}


def test_the_admin_routes_alert_kinds_live_and_a_restart_keeps_it(
    settings: Settings, kit: Floorkit, receiver: WebhookReceiver, influx: InfluxClient
) -> None:
    site = settings.site.name
    with running_services(settings) as services:
        # Seeded by the configuration until the admin changes it.
        assert services.ingest.alert_routing().webhook_kinds == [
            "duplicate_scan",
            "container_full",
        ]
        assert services.ingest.alert_routing().set_by is None
        routing = kit.ok(
            "alerts/routing",
            actor="admin-1",
            dashboard_kinds=["container_full"],
            webhook_kinds=["weight_out_of_range"],
        )
        assert routing["webhook_kinds"] == ["weight_out_of_range"]
        assert routing["set_by"] == "admin-1"
        bad = kit.command(
            "alerts/routing", actor="admin-1", dashboard_kinds=[], webhook_kinds=["nope"]
        )
        assert (bad.ok, bad.code) == (False, 400)
        kit.open_at(CONTAINER, "load-1", "load-2", capacity_drums=40)
        kit.scan("load-1", drum(1))
        kit.scan("load-1", drum(1))  # a duplicate: no longer a webhook kind
        kit.wait_alert("duplicate_scan")
        kit.scan("load-1", drum(2), weight=40.0)  # out of range: now one
        # Queued in order: once the later one is delivered, the earlier was decided.
        wait_for(lambda: receiver.of("weight_out_of_range"), 20, "the weight alert sent")
        assert not receiver.of("duplicate_scan")
    # After a restart the admin's routing is rebuilt from InfluxDB, with its actor.
    with running_services(settings) as services:
        again = services.ingest.alert_routing()
        assert again.webhook_kinds == ["weight_out_of_range"]
        assert again.dashboard_kinds == ["container_full"]
        assert again.set_by == "admin-1"
        kit.scan("load-2", drum(1))  # a duplicate at the other station: a new alert
        wait_for(
            lambda: any(
                a.kind == "duplicate_scan" and a.station == "load-2"
                for a in services.ingest.alerts.active.values()
            ),
            what="the second duplicate alert",
        )
        kit.scan("load-2", drum(3), weight=40.0)
        wait_for(lambda: len(receiver.of("weight_out_of_range")) == 2, 20, "the second sent")
        assert not receiver.of("duplicate_scan")
        # In the audit trail like every command, with who did it.
        audit = rows(influx, "audit", site, "command = 'alerts/routing'")
        assert [r["actor"] for r in audit] == ["admin-1"]
