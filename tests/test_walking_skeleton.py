"""The thin path: ptys -> bridge -> Mosquitto -> services -> InfluxDB -> API."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from bench.loadgen import station_scan
from gudang.influx import InfluxClient, quote_str
from gudang.settings import Settings
from gudang.wire import ScanKind, Topics, encode
from gudang_ops.servers import ServerProcess, start_influxd
from tests.harness import (
    DEMO_HEADERS,
    Probe,
    make_settings,
    running_api,
    running_services,
    serial_station,
    wait_for,
)

CONTAINER = "CSQU3054383"


def _open_and_point(probe: Probe, site: str, station: str, request_id: str) -> None:
    """Open the container by an MQTT command, then scan its label at the station."""
    topics = Topics(site)
    probe.publish(
        topics.command("container/open"),
        json.dumps(
            {"v": 1, "request_id": request_id, "args": {"container_no": CONTAINER}},
            separators=(",", ":"),
        ).encode(),
    )
    probe.publish(
        topics.scan(station),
        encode(station_scan(site, station, CONTAINER, kind=ScanKind.CONTAINER)),
    )


def _loaded_rows(influx: InfluxClient, site: str) -> list[dict[str, object]]:
    return influx.query(f"SELECT * FROM scan WHERE site = {quote_str(site)} AND result = 'loaded'")


def test_drum_scanned_on_serial_station_shows_in_api_and_influxdb(
    settings: Settings, influx: InfluxClient, tmp_path: Path
) -> None:
    with (
        running_services(settings),
        running_api(settings) as url,
        serial_station(settings, tmp_path) as (bridge, scanner, scale),
    ):
        r = httpx.post(
            f"{url}/api/v1/containers",
            json={"container_no": "CSQU 305438 3"},
            headers=DEMO_HEADERS,
        )
        assert r.status_code == 201, r.text
        assert r.json()["status"] == "open"
        bridge.start()
        wait_for(
            lambda: bridge.device_states() == {"scanner": "connected", "scale": "connected"},
            what="bridge opened both ptys",
        )
        scanner.scan("CSQU 305438 3")  # point the station at the container
        wait_for(
            lambda: any(
                s["active_container"] == CONTAINER
                for s in httpx.get(f"{url}/api/v1/stations", headers=DEMO_HEADERS).json()
            ),
            what="station pointed at the container",
        )
        scanner.scan("CB-JMB-L-000123", None)
        scale.place(9.25)
        body = wait_for(
            lambda: (
                (
                    c := httpx.get(
                        f"{url}/api/v1/containers/{CONTAINER}", headers=DEMO_HEADERS
                    ).json()
                )
                and c["drums"] == 1
                and c
            ),
            what="the drum counted in the API",
        )
    assert body["container_no"] == CONTAINER
    assert body["status"] == "loading"
    assert body["capacity_drums"] == 2600
    assert body["fill_ratio"] == pytest.approx(1 / 2600)
    assert body["net_weight_kg"] == pytest.approx(9.25)
    rows = _loaded_rows(influx, settings.site.name)
    assert len(rows) == 1
    assert rows[0]["drum"] == "CB-JMB-L-000123"
    assert rows[0]["sku"] == "JMB-L"
    assert rows[0]["container_no"] == CONTAINER
    assert rows[0]["weight_kg"] == pytest.approx(9.25)
    assert rows[0]["weight_stable"] is True
    assert rows[0]["station"] == "load-1"


def test_scan_not_written_is_not_acknowledged_and_redelivery_counts_once(
    mosquitto: ServerProcess, site: str, tmp_path: Path
) -> None:
    own_influx = start_influxd(tmp_path / "influxdb")  # this test stops its InfluxDB
    settings = make_settings(mosquitto, own_influx, site, tmp_path)
    topics = Topics(site)
    probe = Probe(settings)
    influx = InfluxClient(settings.influx)
    try:
        with running_services(settings) as services:
            _open_and_point(probe, site, "load-1", "open-0001")
            wait_for(lambda: services.ingest.counters["acked"] >= 2, what="setup acked")
            own_influx.stop()
            scan = station_scan(site, "load-1", "CB-JMB-L-000777")
            probe.publish(topics.scan("load-1"), encode(scan))
            wait_for(
                lambda: services.ingest.counters["write_retries"] >= 2,
                what="write retried while InfluxDB is down",
            )
            assert services.ingest.counters["acked"] == 2  # held, not acknowledged
        # The services stopped without acknowledging; InfluxDB comes back.
        own_influx = start_influxd(tmp_path / "influxdb", own_influx.port)
        with running_services(settings) as services:
            wait_for(
                lambda: services.ingest.counters["scan_loaded"] == 1,
                what="the scan redelivered by the broker",
            )
            # A replay of the very same scan (a bridge resending after a lost PUBACK).
            probe.publish(topics.scan("load-1"), encode(scan))
            wait_for(
                lambda: services.ingest.counters["redelivered"] >= 1, what="the replay recognised"
            )
            container = services.ingest.floor.containers[CONTAINER]
            assert len(container.drums) == 1
        rows = _loaded_rows(influx, site)
        assert [r["id"] for r in rows] == [scan.id]
    finally:
        probe.close()
        influx.close()
        own_influx.stop()


def test_malformed_payload_is_dead_lettered_and_next_scan_counts(
    settings: Settings, influx: InfluxClient
) -> None:
    site = settings.site.name
    topics = Topics(site)
    probe = Probe(settings, topics.deadletter)
    try:
        with running_services(settings) as services:
            _open_and_point(probe, site, "load-2", "open-0002")
            probe.publish(topics.scan("load-2"), b'{"v":1,"id":"x", not json')
            letter = probe.get()
            assert letter.topic == topics.deadletter
            assert b"invalid scan payload" in letter.payload
            assert b"not json" in letter.payload
            probe.publish(
                topics.scan("load-2"), encode(station_scan(site, "load-2", "CB-JMB-M-000001", 5.5))
            )
            wait_for(
                lambda: services.ingest.counters["scan_loaded"] == 1,
                what="the good scan after the bad one",
            )
            assert services.ingest.counters["deadlettered"] == 1
    finally:
        probe.close()
    stored = influx.query(f"SELECT * FROM dead_letter WHERE site = {quote_str(site)}")
    assert len(stored) == 1
    assert "invalid scan payload" in str(stored[0]["reason"])
    assert len(_loaded_rows(influx, site)) == 1
