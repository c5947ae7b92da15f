"""Every AlertKind raised (and cleared) by what causes it, against real servers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gudang.influx import InfluxClient
from gudang.settings import Settings
from gudang.wire import AlertKind, StationState, StationStatusV1, WeightStatus, encode
from gudang_ops.servers import ServerProcess, free_port, restart, start_influxd, start_mosquitto
from tests.harness import make_settings, running_services, wait_for
from tests.services.kit import CONTAINER, Floorkit, WebhookReceiver, alert_states, drum, rows


def _status(
    kit: Floorkit,
    station: str,
    state: StationState = StationState.ONLINE,
    *,
    heartbeat_s: float | None = 15.0,
    ts: datetime | None = None,
    spool: tuple[int, int] = (0, 1000),
    nearly_full: bool = False,
) -> None:
    status = StationStatusV1(
        site=kit.site,
        station=station,
        state=state,
        ts=ts or datetime.now(UTC),
        heartbeat_s=heartbeat_s,
        spool_depth=spool[0],
        spool_capacity=spool[1],
        spool_nearly_full=nearly_full,
    )
    kit.link.publish_and_wait(kit.topics.status(station), encode(status), retain=True)


def test_overweight_container_is_raised_over_max_payload_and_cleared_by_unload(
    settings: Settings,
    kit: Floorkit,
) -> None:
    with running_services(settings):
        kit.ok("container/open", container_no=CONTAINER, max_payload_kg=30.0)
        kit.point_at("load-1", CONTAINER)
        for n in (1, 2, 3):
            kit.scan("load-1", drum(n), weight=9.5)
        kit.wait_drums(CONTAINER, 3)
        # 28.5 of 30 kg: nearly full by weight, not yet over.
        assert kit.wait_alert("container_nearly_full").data["net_weight_kg"] == pytest.approx(28.5)
        assert kit.alerts_of("container_overweight") == []
        kit.scan("load-1", drum(4), weight=9.5)
        over = kit.wait_alert("container_overweight")
        assert over.severity == "critical"
        assert "38.0 kg" in over.message
        kit.ok("container/unload", container_no=CONTAINER, drum=drum(4))
        cleared = kit.wait_alert("container_overweight", "cleared")
        assert cleared.id == over.id


def test_scale_error_counts_the_drum_and_clears_on_the_next_stable_weight(
    settings: Settings, kit: Floorkit, influx: InfluxClient
) -> None:
    with running_services(settings):
        kit.open_at(CONTAINER, "load-1")
        kit.scan("load-1", drum(1), weight=None, status=WeightStatus.OVERLOAD)
        alert = kit.wait_alert("scale_error")
        assert alert.station == "load-1"
        assert alert.data["weight_status"] == "overload"
        kit.scan("load-1", drum(2), weight=None, status=WeightStatus.ERROR)
        kit.wait_drums(CONTAINER, 2)
        assert len(kit.alerts_of("scale_error")) == 1  # one condition, one alert
        kit.scan("load-1", drum(3), weight=9.0)
        kit.wait_alert("scale_error", "cleared")
        assert kit.wait_drums(CONTAINER, 3).net_weight_kg == pytest.approx(9.0)
    statuses = [
        r["weight_status"] for r in rows(influx, "scan", settings.site.name, "result = 'loaded'")
    ]
    assert statuses == ["overload", "error", "stable"]


def test_station_offline_by_last_will_and_by_missed_heartbeats(
    settings_with: Callable[..., Settings],
) -> None:
    settings = settings_with(alerts={"heartbeat_misses": 2})
    with Floorkit(settings) as kit, running_services(settings):
        _status(kit, "load-1", StationState.OFFLINE)  # what the bridge's last will says
        alert = kit.wait_alert("station_offline")
        assert (alert.station, alert.severity) == ("load-1", "critical")
        assert alert.data["cause"] == "offline status (last will)"
        _status(kit, "load-1")
        kit.wait_alert("station_offline", "cleared")
        wait_for(lambda: (s := kit.station("load-1")) and s.online, what="online again")

        # Alive, then silent: no will (a cut cable), only the heartbeat stops.
        _status(kit, "load-2", heartbeat_s=1.0)  # offline after 2 s of silence
        wait_for(lambda: (s := kit.station("load-2")) and s.online, what="load-2 online")
        silent = wait_for(
            lambda: [a for a in kit.alerts_of("station_offline") if a.station == "load-2"],
            what="heartbeat timeout",
        )[0]
        assert silent.data["cause"] == "heartbeat timeout"
        wait_for(lambda: not kit.station("load-2").online, what="load-2 shown offline")
        _status(kit, "load-2", heartbeat_s=15.0)
        wait_for(
            lambda: [
                a for a in kit.alerts_of("station_offline", ("cleared",)) if a.station == "load-2"
            ],
            what="load-2 back",
        )


def test_spool_nearly_full_is_raised_from_the_bridge_status_and_cleared(
    settings: Settings,
    kit: Floorkit,
) -> None:
    with running_services(settings):
        _status(kit, "load-1", spool=(850, 1000))
        alert = kit.wait_alert("spool_nearly_full")
        assert alert.data == {"spool_depth": 850, "spool_capacity": 1000}
        _status(kit, "load-1", spool=(850, 1000))  # still: no second alert
        _status(kit, "load-1", spool=(10, 1000))
        kit.wait_alert("spool_nearly_full", "cleared")
        assert len(kit.alerts_of("spool_nearly_full")) == 1
        # A station configured with a lower threshold says so itself: its flag counts.
        _status(kit, "load-1", spool=(500, 1000), nearly_full=True)
        wait_for(lambda: len(kit.alerts_of("spool_nearly_full")) == 2, what="the flag's alert")
        _status(kit, "load-1", spool=(10, 1000))
        wait_for(
            lambda: len(kit.alerts_of("spool_nearly_full", ("cleared",))) == 2,
            what="cleared again",
        )


def test_clock_skew_quarantines_scans_never_written_at_their_wrong_time(
    settings: Settings, kit: Floorkit, influx: InfluxClient
) -> None:
    site = settings.site.name
    now = datetime.now(UTC)
    with running_services(settings) as services:
        kit.open_at(CONTAINER, "load-1")
        ahead = kit.scan("load-1", drum(1), ts=now + timedelta(hours=1))
        alert = kit.wait_alert("clock_skew")
        assert alert.station == "load-1"
        assert "ahead of the services' clock" in alert.message
        kit.scan("load-1", drum(2), ts=datetime(1970, 1, 1, 0, 0, 5, tzinfo=UTC))
        kit.scan("load-1", drum(1), ts=ahead.ts, scan_id=ahead.id)  # a replay of it
        wait_for(lambda: services.ingest.counters["quarantined"] == 2, what="2 quarantined")
        wait_for(lambda: services.ingest.counters["redelivered"] == 1, what="replay recognised")
        assert kit.container(CONTAINER).drums == 0
        kit.scan("load-1", drum(3))  # a right clock again: counted, alert cleared
        kit.wait_drums(CONTAINER, 1)
        kit.wait_alert("clock_skew", "cleared")

        # A station whose heartbeat shows its clock an hour slow: its scans look merely
        # late (a spool replays such), but its clock is wrong: quarantined too.
        _status(kit, "load-2", ts=datetime.now(UTC) - timedelta(hours=1))
        slow = wait_for(
            lambda: [a for a in kit.alerts_of("clock_skew") if a.station == "load-2"],
            what="slow clock seen",
        )[0]
        assert slow.data["offset_s"] == pytest.approx(-3600, abs=30)
        kit.point_at("load-1", CONTAINER)
        kit.scan("load-2", drum(4), ts=datetime.now(UTC) - timedelta(hours=1))
        wait_for(lambda: services.ingest.counters["quarantined"] == 3, what="slow scan quarantined")
    quarantined = rows(influx, "quarantine", site)
    assert len(quarantined) == 3
    assert "before 2020" in quarantined[1]["reason"]
    assert quarantined[1]["device_ts"].startswith("1970-01-01")
    assert "heartbeat" in quarantined[2]["reason"]
    # Stored at the services' time, not at 1970 or an hour ahead.
    for row in quarantined:
        assert abs(row["time"] / 1e9 - now.timestamp()) < 120
    stored = rows(influx, "scan", site, "result = 'loaded'")
    assert [r["drum"] for r in stored] == [drum(3)]


def test_webhooks_get_every_transition_with_retries_and_a_bounded_queue(
    settings_with: Callable[..., Settings],
) -> None:
    receiver = WebhookReceiver(fail_first=2)
    dead = f"http://127.0.0.1:{free_port()}/nobody-listens"
    settings = settings_with(
        alerts={"webhooks": [receiver.url, dead], "webhook_queue": 4, "webhook_retry_max_s": 1.0},
    )
    try:
        with Floorkit(settings) as kit, running_services(settings) as services:
            kit.open_at(CONTAINER, "load-1")
            kit.scan("load-1", drum(1))
            kit.scan("load-1", drum(1))
            alert = kit.wait_alert("duplicate_scan")
            got = wait_for(lambda: receiver.of("duplicate_scan"), timeout=20, what="webhook")
            assert got[0] == alert
            assert receiver.requests >= 3  # two refusals, then delivered
            kit.ok("alert/ack", actor="mandor", alert_id=alert.id)
            wait_for(lambda: receiver.of("duplicate_scan", "cleared"), timeout=20, what="cleared")
            assert receiver.of("duplicate_scan", "acknowledged")[0].acknowledged_by == "mandor"
            # The dead URL is retried while new deliveries queue up: past the bound they
            # are dropped, counted, and the ingest never waits.
            for n in range(2, 8):
                kit.scan("load-1", drum(n), weight=20.0)  # out of range: one alert each
            wait_for(lambda: services.ingest.webhooks.counters["dropped"] > 0, what="drops")
            kit.wait_drums(CONTAINER, 7)
            assert services.ingest.webhooks.counters["retries"] >= 3
    finally:
        receiver.close()


def test_storage_unreachable_is_raised_during_an_outage_and_stored_when_back(
    mosquitto: ServerProcess, site: str, tmp_path: Path
) -> None:
    own_influx = start_influxd(tmp_path / "influxdb")  # this test stops its InfluxDB
    settings = make_settings(mosquitto, own_influx, site, tmp_path, alerts={"storage_grace_s": 0})
    influx = InfluxClient(settings.influx)
    try:
        with Floorkit(settings) as kit, running_services(settings):
            kit.open_at(CONTAINER, "load-1")
            own_influx.stop()
            kit.scan("load-1", drum(1))
            alert = kit.wait_alert("storage_unreachable")
            assert alert.severity == "critical"
            assert kit.container(CONTAINER).drums == 0  # nothing published before stored
            own_influx = restart(own_influx)
            kit.wait_drums(CONTAINER, 1, timeout=20)
            cleared = kit.wait_alert("storage_unreachable", "cleared")
            assert cleared.id == alert.id
        assert alert_states(influx, site, "storage_unreachable") == ["raised", "cleared"]
    finally:
        influx.close()
        own_influx.stop()


def test_broker_unreachable_goes_to_webhooks_and_influxdb_and_clears(
    influxd: ServerProcess, site: str, tmp_path: Path, receiver: WebhookReceiver
) -> None:
    own_broker = start_mosquitto(tmp_path / "mosquitto")  # this test stops its broker
    settings = make_settings(
        own_broker,
        influxd,
        site,
        tmp_path,
        alerts={"webhooks": [receiver.url], "broker_grace_s": 0.5},
    )
    influx = InfluxClient(settings.influx)
    try:
        with running_services(settings) as services:
            with Floorkit(settings) as kit:
                kit.ok("container/open", container_no=CONTAINER)
            own_broker.stop(kill=True)  # retained messages since its last autosave are lost
            raised = wait_for(lambda: receiver.of("broker_unreachable"), what="webhook")[0]
            assert raised.subject == site
            wait_for(
                lambda: rows(influx, "alert", site, "kind = 'broker_unreachable'"),
                what="stored while the broker is away",
            )
            own_broker = restart(own_broker)
            wait_for(lambda: receiver.of("broker_unreachable", "cleared"), timeout=20, what="clear")
            # Back on the broker, the services publish their whole state again.
            wait_for(lambda: services.ingest.counters["republished"] == 1, what="republished")
            with Floorkit(settings) as fresh:
                assert wait_for(lambda: fresh.container(CONTAINER), what="state").status == "open"
        assert alert_states(influx, site, "broker_unreachable") == ["raised", "cleared"]
    finally:
        influx.close()
        own_broker.stop()


def test_forecast_from_the_recent_loading_rate(settings: Settings, kit: Floorkit) -> None:
    now = datetime.now(UTC)
    start = now - timedelta(minutes=20)
    with running_services(settings):
        kit.open_at(CONTAINER, "load-1", capacity_drums=100)
        kit.scan("load-1", drum(100), ts=now - timedelta(hours=2))  # outside the 30 min window
        for n in range(11):  # one drum a minute for ten minutes: 60 drums/h
            kit.scan("load-1", drum(n), ts=start + timedelta(minutes=n))
        state = kit.wait_drums(CONTAINER, 12)
    assert state.rate_drums_per_h == pytest.approx(60.0, rel=1e-3)
    last = start + timedelta(minutes=10)
    expected = last + timedelta(minutes=100 - 12)  # 88 drums to go at one a minute
    assert state.forecast_full_at is not None
    assert abs((state.forecast_full_at - expected).total_seconds()) < 1.0


def test_a_stale_retained_online_status_is_offline_and_alerted_once_across_restarts(
    settings: Settings, kit: Floorkit, influx: InfluxClient
) -> None:
    site = settings.site.name
    # A bridge that hung ten minutes ago with its TCP link open: no last will was sent.
    _status(kit, "load-9", ts=datetime.now(UTC) - timedelta(minutes=10), heartbeat_s=15.0)
    with running_services(settings):
        alert = kit.wait_alert("station_offline")
        assert alert.data["cause"] == "heartbeat timeout"
        assert not wait_for(lambda: kit.station("load-9"), what="station view").online
    with running_services(settings) as services:
        assert services.ingest.alerts.is_active(AlertKind.STATION_OFFLINE, "load-9")
        wait_for(lambda: services.ingest.counters["received"] >= 1, what="status read again")
        _status(kit, "load-9")  # it comes back to life
        kit.wait_alert("station_offline", "cleared")
    # Raised once, not per start.
    assert alert_states(influx, site, "station_offline") == ["raised", "cleared"]
