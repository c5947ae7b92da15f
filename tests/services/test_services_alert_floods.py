"""Alert floods: a flapping station raises one alert; webhook deliveries wait on disk.

A station alternating offline/online on its own status topic used to raise and clear
``station_offline`` each time, every transition stored, published and queued for the
webhooks, whose in-memory queue then dropped real alerts; a restart lost what waited.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

from gudang.influx import InfluxClient
from gudang.settings import Settings
from gudang.wire import StationState, StationStatusV1, encode
from tests.harness import running_services, wait_for
from tests.services.kit import CONTAINER, Floorkit, WebhookReceiver, alert_states, drum

FLAPS = 20
# Longer than the flapping takes, even on a busy machine; short enough to wait for.
SETTLE_S = 8.0


def test_a_flapping_station_raises_one_alert_with_its_flap_count(
    settings_with: Callable[..., Settings], receiver: WebhookReceiver, site: str
) -> None:
    settings = settings_with(alerts={"webhooks": [receiver.url], "flap_settle_s": SETTLE_S})
    influx = InfluxClient(settings.influx)
    try:
        with Floorkit(settings) as kit, running_services(settings):
            topic = kit.topics.status("load-1")
            for state in [StationState.OFFLINE, StationState.ONLINE] * FLAPS:
                status = StationStatusV1(site=site, station="load-1", state=state)
                kit.link.publish_and_wait(topic, encode(status), retain=True)
            wait_for(lambda: (s := kit.station("load-1")) and s.online, what="online at the end")
            cleared = kit.wait_alert("station_offline", "cleared", timeout=SETTLE_S + 20)
            assert cleared.data["flaps"] == FLAPS - 1
            assert f"flapped {FLAPS - 1} times" in cleared.message
            wait_for(lambda: receiver.of("station_offline", "cleared"), what="cleared, webhook")
        assert alert_states(influx, site, "station_offline") == ["raised", "cleared"]
        assert len(receiver.of("station_offline")) == 1
        assert len([a for a in kit.alert_log if a.kind == "station_offline"]) == 2
    finally:
        influx.close()


def test_webhook_deliveries_survive_a_restart_and_a_flood_never_pushes_out_container_full(
    settings_with: Callable[..., Settings],
) -> None:
    # Bound but not listening: connections are refused (a gateway that is down), and the
    # port stays ours until the receiver listens on it.
    with socket.socket() as reserved:
        reserved.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{reserved.getsockname()[1]}/hook"
        settings = settings_with(
            alerts={
                "webhooks": [url],
                "grouped_kinds": [],  # a flood of distinct alerts, each its own delivery
                "webhook_queue": 5,
                "webhook_max_attempts": 1000,
                "webhook_retry_max_s": 0.5,
            },
        )
        with Floorkit(settings) as kit:
            with running_services(settings) as services:
                kit.open_at(CONTAINER, "load-1", capacity_drums=12)
                for n in range(1, 11):  # ten drums, each scanned twice: ten minor alerts
                    kit.scan("load-1", drum(n))
                    kit.scan("load-1", drum(n))
                wait_for(lambda: len(kit.alerts_of("duplicate_scan")) == 10, what="the flood")
                for n in (11, 12):
                    kit.scan("load-1", drum(n))
                full = kit.wait_alert("container_full")
                webhooks = services.ingest.webhooks
                wait_for(lambda: webhooks.counters["dropped"] >= 6, what="minor deliveries dropped")
                assert webhooks.pending == 5
            # The gateway comes back while the services are down; they start again.
            receiver = WebhookReceiver(reserved=reserved)
            try:
                with running_services(settings):
                    got = wait_for(
                        lambda: receiver.of("container_full"), timeout=30, what="container_full"
                    )
                    assert got[0].id == full.id
                    wait_for(lambda: len(receiver.bodies) >= 5, timeout=30, what="all that waited")
                assert len(receiver.of("duplicate_scan")) <= 4  # the flood's share, bounded
            finally:
                receiver.close()


def test_an_outbox_that_cannot_be_opened_still_delivers_from_memory(
    settings_with: Callable[..., Settings], receiver: WebhookReceiver, tmp_path: Path
) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the outbox's folder should be")
    settings = settings_with(
        alerts={"webhooks": [receiver.url], "webhook_queue_path": str(blocked / "w.sqlite3")},
    )
    with Floorkit(settings) as kit, running_services(settings) as services:
        assert services.ingest.webhooks.counters["outbox_unavailable"] == 1
        kit.open_at(CONTAINER, "load-1")
        kit.scan("load-1", drum(1))
        kit.scan("load-1", drum(1))
        wait_for(lambda: receiver.of("duplicate_scan"), timeout=20, what="delivered anyway")
