"""The API when InfluxDB or the broker is down: clear 503s, live state still served."""

from __future__ import annotations

from pathlib import Path

import httpx

from api.auth import hash_token
from gudang_ops.servers import ServerProcess, start_influxd, start_mosquitto
from tests.api.conftest import CONTAINER, TOKENS, Stack, auth
from tests.harness import Probe, make_settings, running_api, running_services, wait_for

TOKEN_SETTINGS = {
    "allow_demo_tokens": False,
    "tokens": [{"name": f"{r}-1", "role": r, "sha256": hash_token(t)} for r, t in TOKENS.items()],
}


def test_influxdb_down_history_503_live_state_served(
    mosquitto: ServerProcess, site: str, tmp_path: Path
) -> None:
    own_influx = start_influxd(tmp_path / "influxdb")  # this test stops its InfluxDB
    settings = make_settings(mosquitto, own_influx, site, tmp_path, api=TOKEN_SETTINGS)
    probe = Probe(settings)
    try:
        with running_services(settings), running_api(settings) as url:
            stack = Stack(url, settings, probe)
            stack.open_and_point()
            stack.scan("CB-JMB-L-000001", 9.5)
            stack.wait_drums(1)
            own_influx.stop()
            ready = httpx.get(f"{url}/api/v1/ready")
            assert ready.status_code == 503
            assert ready.json()["influxdb"] is False
            assert ready.json()["broker"] is True
            assert "influxdb" in ready.json()["detail"]
            r = stack.get("/api/v1/scans")
            assert r.status_code == 503
            assert "InfluxDB is unreachable" in r.json()["detail"]
            pl = stack.get(f"/api/v1/containers/{CONTAINER}/packing-list.csv")
            assert pl.status_code == 503
            assert pl.headers["content-type"] == "application/json"
            # What the services published is still there.
            assert stack.container()["drums"] == 1
            metrics = stack.get("/metrics").text
            assert f'gudang_container_drums{{container_no="{CONTAINER}"}} 1.0' in metrics
            assert (
                'gudang_api_requests_total{method="GET",route="/api/v1/scans",status="503"} 1.0'
                in metrics
            )
    finally:
        probe.close()
        own_influx.stop()


def test_broker_down_commands_503_and_reads_go_on(
    influxd: ServerProcess, site: str, tmp_path: Path
) -> None:
    own_broker = start_mosquitto(tmp_path / "mosquitto")  # this test stops its broker
    settings = make_settings(own_broker, influxd, site, tmp_path, api=TOKEN_SETTINGS)
    try:
        with running_api(settings) as url:
            own_broker.stop()
            health = wait_for(
                lambda: (r := httpx.get(f"{url}/api/v1/health")).status_code == 503 and r,
                what="health to see the broker gone",
            )
            assert health.json()["broker"] is False
            r = httpx.post(
                f"{url}/api/v1/containers", json={"container_no": CONTAINER}, headers=auth("admin")
            )
            assert r.status_code == 503
            assert "broker unreachable" in r.json()["detail"]
            assert httpx.get(f"{url}/api/v1/containers", headers=auth("worker")).status_code == 200
            assert httpx.get(f"{url}/api/v1/scans", headers=auth("worker")).status_code == 200
    finally:
        own_broker.stop()
