"""POST /api/v1/stations/{station}/scans: a phone's scan, counted once, stored, answered.

Against real Mosquitto, InfluxDB, services and API; the station with a scale is a real
bridge on a simulated MT-SICS scale.
"""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from gudang.influx import quote_str
from gudang.wire import DeviceStateV1, StationState, StationStatusV1, encode
from tests.api.conftest import CONTAINER, STATION, Stack, scale_station
from tests.harness import influx_rows, wait_for


def phone_scan(label: str, **extra: Any) -> dict[str, Any]:
    """A scan as the phone's page sends it."""
    return {
        "id": str(uuid.uuid4()),
        "ts": datetime.now(UTC).isoformat(),
        "barcode": label,
        **extra,
    }


def stored_rows(stack: Stack, scan_id: str) -> list[dict[str, Any]]:
    """The InfluxDB points of one scan id."""
    return influx_rows(
        stack.settings.influx,
        f"SELECT * FROM scan WHERE site = {quote_str(stack.site)} AND id = {quote_str(scan_id)}",
    )


def test_phone_scan_at_a_station_without_bridge_counts_once(stack: Stack) -> None:
    stack.open_and_point(station="phone-1")
    body = phone_scan("CB-JMB-L-000001")
    r = stack.post("/api/v1/stations/phone-1/scans", body, role="worker")
    assert r.status_code == 200, r.text
    out = r.json()
    assert out == {
        "id": body["id"],
        "station": "phone-1",
        "via": "api",
        "stored": True,
        "result": "loaded",
        "reason": None,
        "container_no": CONTAINER,
        "weight_kg": None,
        "weight_status": "no_scale",
    }
    assert stack.container()["drums"] == 1
    (row,) = stored_rows(stack, body["id"])
    assert (row["station"], row["barcode"], row["result"]) == ("phone-1", body["barcode"], "loaded")

    # The phone did not hear the answer and sends it again: the same answer, nothing new.
    again = stack.post("/api/v1/stations/phone-1/scans", body, role="worker")
    assert again.status_code == 200, again.text
    assert again.json() == out
    # Scanning the same label again is a new scan: a duplicate, not a second drum.
    second = phone_scan("CB-JMB-L-000001")
    r = stack.post("/api/v1/stations/phone-1/scans", second, role="worker")
    assert r.status_code == 200, r.text
    assert r.json()["result"] == "duplicate"
    assert stack.container()["drums"] == 1
    assert len(stored_rows(stack, body["id"])) == 1

    # A container label from the phone points the station, as from a scanner.
    r = stack.post("/api/v1/stations/phone-1/scans", phone_scan("CSQU 305438 3"), role="worker")
    assert r.status_code == 200, r.text
    assert r.json()["result"] == "container_set"

    metrics = stack.get("/metrics").text
    assert 'gudang_api_phone_scans_total{outcome="stored",via="api"} 3.0' in metrics
    assert 'gudang_api_phone_scans_total{outcome="known",via="api"} 1.0' in metrics


def test_first_scans_at_a_station_together_are_both_stored(stack: Stack) -> None:
    """The API follows a station's receipts from its first phone scan on: two scans that
    come together before that subscription is confirmed both wait for it and are answered."""
    stack.open_and_point(station="load-2")
    bodies = [phone_scan("CB-JMB-L-000011"), phone_scan("CB-JMB-L-000012")]
    with ThreadPoolExecutor(2) as pool:
        answers = list(
            pool.map(lambda b: stack.post("/api/v1/stations/load-2/scans", b, "worker"), bodies)
        )
    assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]
    assert [(a.json()["stored"], a.json()["result"]) for a in answers] == [(True, "loaded")] * 2
    assert stack.container()["drums"] == 2
    # Later scans there find the receipts followed already.
    r = stack.post("/api/v1/stations/load-2/scans", phone_scan("CB-JMB-L-000013"), "worker")
    assert r.status_code == 200, r.text
    assert (r.json()["stored"], r.json()["result"]) == (True, "loaded")


def test_phone_scan_refusals(stack: Stack) -> None:
    url = f"/api/v1/stations/{STATION}/scans"
    naive = phone_scan("CB-JMB-L-000002", ts=datetime.now(UTC).replace(tzinfo=None).isoformat())
    for bad in (
        naive,
        phone_scan("CB-JMB-L-000002", id="short"),
        phone_scan("", id=str(uuid.uuid4())),
        phone_scan("CB-JMB-L-000002", symbology="C1"),
        phone_scan("CB-JMB-L-000002", extra="field"),
    ):
        r = stack.post(url, bad, role="worker")
        assert r.status_code == 422, (bad, r.text)
    r = stack.post(url, phone_scan("QC:REJECT"), role="worker")
    assert r.status_code == 422
    assert "QC cards need a station with a bridge" in r.json()["detail"]
    r = stack.post(url, phone_scan("SUP:"), role="worker")
    assert r.status_code == 422
    assert "supplier card" in r.json()["detail"]
    r = stack.post("/api/v1/stations/Not%20A%20Name/scans", phone_scan("x" * 8), role="worker")
    assert r.status_code == 422
    r = httpx.post(f"{stack.url}{url}", json=phone_scan("CB-JMB-L-000002"), timeout=15)
    assert r.status_code == 401


def test_phone_scan_at_a_station_with_bridge_and_scale_carries_its_weight(
    stack: Stack, tmp_path: Path
) -> None:
    stack.open_and_point()
    with scale_station(stack, tmp_path, 9.25) as (st, scale):
        body = phone_scan("CB-JMB-L-000003")
        r = stack.post(f"/api/v1/stations/{STATION}/scans", body, role="worker")
        assert r.status_code == 200, r.text
        out = r.json()
        assert (out["via"], out["stored"], out["result"]) == ("bridge", True, "loaded")
        assert (out["weight_kg"], out["weight_status"]) == (9.25, "stable")
        (scan,) = st.recorder.wait_scans(1)
        assert scan.id == body["id"]

        # A resend: the bridge knows the id (nothing weighed), the services too.
        again = stack.post(f"/api/v1/stations/{STATION}/scans", body, role="worker")
        assert again.status_code == 200, again.text
        assert again.json() == out
        # A resend while the first is still on its way (the phone gave up waiting): both
        # requests hear the one receipt; the bridge weighs the scan once.
        scale.place(7.5)
        third = phone_scan("CB-JMB-L-000005")
        with ThreadPoolExecutor(2) as pool:
            answers = list(
                pool.map(
                    lambda _: stack.post(f"/api/v1/stations/{STATION}/scans", third, "worker"),
                    range(2),
                )
            )
        assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]
        assert {a.json()["weight_kg"] for a in answers} == {7.5}
        # (1 when the second came while the first was weighed, 0 when it found it stored)
        assert st.bridge.counters["command_scans_repeated"] in (0, 1)
        assert stack.container()["drums"] == 2
        assert len(stored_rows(stack, third["id"])) == 1
        assert st.bridge.counters["scans"] == 2
        (row,) = stored_rows(stack, body["id"])
        assert row["weight_kg"] == 9.25


def test_bridge_offline_with_a_scale_means_no_weight(stack: Stack) -> None:
    stack.open_and_point()
    status = StationStatusV1(
        site=stack.site,
        station=STATION,
        state=StationState.OFFLINE,
        ts=datetime.now(UTC) - timedelta(minutes=5),
        devices=[DeviceStateV1(name="scale", role="scale", state="connected")],
    )
    stack.probe.publish(stack.topics.status(STATION), encode(status), retain=True)
    wait_for(lambda: _station(stack)["devices"], what="the API sees the offline bridge")
    r = stack.post(f"/api/v1/stations/{STATION}/scans", phone_scan("CB-JMB-L-000004"))
    assert r.status_code == 200, r.text
    assert (r.json()["via"], r.json()["weight_status"]) == ("api", "error")
    assert stack.container()["drums"] == 1


def _station(stack: Stack) -> dict[str, Any]:
    r = stack.get("/api/v1/stations")
    assert r.status_code == 200, r.text
    found = [s for s in r.json() if s["station"] == STATION]
    return found[0] if found else {"devices": [], "online": False}
