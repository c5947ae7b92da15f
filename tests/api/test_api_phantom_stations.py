"""Commands for a station nobody knows are refused: no phantom stations.

A worker's token could ``PUT /stations/<any name>/container``; each new name used to
become a stored station event, a retained state topic and a metrics series, forever.
"""

from __future__ import annotations

import queue
import uuid
from datetime import UTC, datetime

from gudang.influx import InfluxClient, quote_str
from gudang.storage import STATION_EVENT
from gudang.wire import StationState, StationStatusV1, encode
from tests.api.conftest import CONTAINER, Stack
from tests.harness import Probe, wait_for
from tests.services.kit import drum, rows


def _retained(stack: Stack, topic: str) -> list[bytes]:
    """What the broker holds retained on ``topic`` (read by a fresh subscriber)."""
    probe = Probe(stack.settings, topic)
    try:
        got: list[bytes] = []
        while True:
            try:
                got.append(probe.get(timeout=2).payload)
            except queue.Empty:
                return got
    finally:
        probe.close()


def test_commands_for_an_unknown_station_are_404_and_store_nothing(stack: Stack) -> None:
    stack.open_and_point()  # load-1: configured
    ghost = "ghost-7"
    r = stack.put(f"/api/v1/stations/{ghost}/container", {"container_no": CONTAINER}, "worker")
    assert r.status_code == 404, r.text
    assert "unknown station 'ghost-7'" in r.json()["detail"]
    assert "tidak dikenal" in r.json()["detail"]
    r = stack.put(f"/api/v1/stations/{ghost}/mode", {"mode": "receiving"}, "supervisor")
    assert r.status_code == 404, r.text
    # A phone's scan names its station too: a worker's token cannot invent one with it.
    scan = {"id": uuid.uuid4().hex, "ts": datetime.now(UTC).isoformat(), "barcode": drum(1)}
    r = stack.post(f"/api/v1/stations/{ghost}/scans", scan, "worker")
    assert r.status_code == 404, r.text
    assert "unknown station 'ghost-7'" in r.json()["detail"]

    # A station seen on MQTT (its bridge's status) is known, configured or not.
    status = StationStatusV1(site=stack.site, station="new-9", state=StationState.ONLINE)
    stack.probe.publish(stack.topics.status("new-9"), encode(status), retain=True)
    wait_for(
        lambda: (
            stack.put("/api/v1/stations/new-9/container", {"container_no": CONTAINER}).status_code
            == 200
        ),
        what="a command for a station seen on MQTT",
    )
    # A configured station never seen is known too.
    r = stack.put("/api/v1/stations/load-2/mode", {"mode": "receiving", "supplier": "Pak Darto"})
    assert r.status_code == 200, r.text

    influx = InfluxClient(stack.settings.influx)
    try:
        stored = {str(row["station"]) for row in rows(influx, STATION_EVENT, stack.site)}
    finally:
        influx.close()
    assert stored == {"load-1", "new-9", "load-2"}
    influx = InfluxClient(stack.settings.influx)
    try:
        assert rows(influx, "scan", stack.site, f"station = {quote_str(ghost)}") == []
    finally:
        influx.close()
    assert _retained(stack, stack.topics.state_station(ghost)) == []
    assert ghost not in {s["station"] for s in stack.get("/api/v1/stations").json()}
    assert ghost not in stack.get("/metrics").text
