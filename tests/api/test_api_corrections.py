"""Corrections, the audit trail, the alert history and CSV exports over the real stack."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import httpx

from gudang.wire import QcResult
from tests.api.conftest import CONTAINER, TOKENS, Stack
from tests.api.test_api_phone_scans import phone_scan
from tests.harness import wait_for

RECEIVING = "recv-1"


def _drum(n: int) -> str:
    return f"CB-JMB-L-{n:06d}"


def _stock_at(stack: Stack, location: str) -> int:
    items = stack.get("/api/v1/stock", role="worker").json()["items"]
    return sum(i["drums"] for i in items if i["location"] == location)


def test_stock_corrections_show_in_stock_at_once_and_in_the_audit(stack: Stack) -> None:
    r = stack.put(f"/api/v1/stations/{RECEIVING}/mode", {"mode": "receiving", "supplier": "CV"})
    assert r.status_code == 200, r.text
    for n in (1, 2):
        stack.scan(_drum(n), station=RECEIVING)
    stack.scan(_drum(3), station=RECEIVING, qc=QcResult.REWORK)
    wait_for(lambda: _stock_at(stack, "warehouse") == 2, what="received")

    body = {"drum": _drum(1), "reason": "lost", "note": "tidak ada di rak"}
    assert stack.post("/api/v1/stock/write-off", body, role="worker").status_code == 403
    bad = stack.post("/api/v1/stock/write-off", {"drum": _drum(1), "reason": "stolen"})
    assert bad.status_code == 422
    r = stack.post("/api/v1/stock/write-off", body)
    assert r.status_code == 200, r.text
    assert r.json()["to_location"] == "written-off"
    # The answer comes once the services stored it and published the stock.
    wait_for(lambda: _stock_at(stack, "warehouse") == 1, what="written off")
    again = stack.post("/api/v1/stock/write-off", body)
    assert again.status_code == 409
    assert "already written-off" in again.json()["detail"]

    r = stack.post(
        "/api/v1/stock/move", {"drum": _drum(2), "location": "rak-b2", "reason": "penuh"}
    )
    assert r.status_code == 200, r.text
    wait_for(lambda: _stock_at(stack, "rak-b2") == 1, what="moved")
    moved = [i for i in stack.get("/api/v1/stock").json()["items"] if i["location"] == "rak-b2"]
    assert moved[0]["location_kind"] == "warehouse"

    r = stack.post("/api/v1/stock/qc-disposal", {"drum": _drum(3), "action": "pass"})
    assert r.status_code == 200, r.text
    assert (r.json()["from_location"], r.json()["to_location"]) == ("qc-rework", "warehouse")
    wait_for(lambda: _stock_at(stack, "warehouse") == 1, what="passed")

    audit = stack.get("/api/v1/audit", params={"kind": "stock/write-off"}).json()
    assert len(audit) == 1
    assert audit[0]["actor"] == "supervisor-1"
    assert audit[0]["args"] == body
    assert audit[0]["result"]["to_location"] == "written-off"
    assert stack.get("/api/v1/audit", role="worker").status_code == 403
    by_actor = stack.get("/api/v1/audit", params={"actor": "supervisor-1"}).json()
    assert [a["command"] for a in by_actor][:4] == [
        "stock/qc-dispose",
        "stock/move",
        "stock/write-off",
        "station/set-mode",
    ]
    assert stack.get("/api/v1/audit", params={"actor": "nobody"}).json() == []
    future = stack.get("/api/v1/audit", params={"since": "2200-01-01T00:00:00"}).json()
    assert future == []

    r = httpx.get(
        f"{stack.url}/api/v1/stock.csv", params={"access_token": TOKENS["worker"]}, timeout=15
    )
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    table = list(csv.reader(io.StringIO(r.text)))
    assert table[0] == ["sku", "description", "location", "location_kind", "drums"]
    assert ["JMB-L", "Djembe large", "rak-b2", "warehouse", "1"] in table
    r = stack.get("/api/v1/audit.csv", params={"kind": "stock/move"})
    lines = list(csv.DictReader(io.StringIO(r.text)))
    assert [(x["command"], x["actor"]) for x in lines] == [("stock/move", "supervisor-1")]
    assert '"location":"rak-b2"' in lines[0]["args"]


def test_container_corrections_audit_by_container_and_alert_history(stack: Stack) -> None:
    r = stack.post("/api/v1/containers", {"container_no": CONTAINER, "capacity_drums": 1})
    assert r.status_code == 201, r.text
    r = stack.put("/api/v1/stations/load-1/container", {"container_no": CONTAINER}, "worker")
    assert r.status_code == 200, r.text
    stack.scan(_drum(7))
    stack.wait_drums(1)
    r = stack.post(f"/api/v1/containers/{CONTAINER}/seal", {"seal_no": "EMCS1"})
    assert r.status_code == 200, r.text
    r = stack.post(f"/api/v1/containers/{CONTAINER}/unseal", {"reason": "x"}, role="worker")
    assert r.status_code == 403
    r = stack.post(f"/api/v1/containers/{CONTAINER}/correct-seal", {"seal_no": "EMCS2"})
    assert r.status_code == 422  # no reason
    r = stack.post(
        f"/api/v1/containers/{CONTAINER}/correct-seal", {"seal_no": "EMCS2", "reason": "typo"}
    )
    assert (r.status_code, r.json()["seal_no"]) == (200, "EMCS2")
    r = stack.post(f"/api/v1/containers/{CONTAINER}/unseal", {"reason": "bea cukai"})
    assert (r.status_code, r.json()["status"]) == (200, "full")
    r = stack.post(f"/api/v1/containers/{CONTAINER}/cancel", {"reason": "x"})
    assert r.status_code == 409
    assert "only an open container" in r.json()["detail"]

    # The container's audit: every accepted command about it, newest first.
    audit = stack.get("/api/v1/audit", params={"container_no": "CSQU 305438 3"}).json()
    assert [a["command"] for a in audit] == [
        "container/unseal",
        "container/correct-seal",
        "container/seal",
        "station/set-container",
        "container/open",
    ]
    assert audit[0]["args"] == {"container_no": CONTAINER, "reason": "bea cukai"}
    assert audit[3]["actor"] == "worker-1"

    # History: the full alert was raised, cleared by the seal, raised again by the unseal;
    # the nearly-full one, cleared by the seal too, stays in the history as cleared.
    def history() -> list[dict[str, object]]:
        return stack.get(  # type: ignore[no-any-return]
            "/api/v1/audit/alerts", role="worker", params={"container_no": CONTAINER}
        ).json()

    found = wait_for(
        lambda: (h := history()) and {a["kind"] for a in h} >= {"container_full"} and h,
        what="alert history",
    )
    kinds = {a["kind"]: a["state"] for a in found}
    assert kinds["container_full"] == "raised"
    r = stack.post(f"/api/v1/containers/{CONTAINER}/seal", {"seal_no": "EMCS3"})
    assert r.status_code == 200, r.text
    wait_for(
        lambda: {a["kind"]: a["state"] for a in history()}.get("container_full") == "cleared",
        what="the cleared alert in the history",
    )
    assert stack.get("/api/v1/alerts", params={"kind": "container_full"}).json() == []
    none = stack.get(
        "/api/v1/audit/alerts", params={"container_no": CONTAINER, "kind": "station_offline"}
    ).json()
    assert none == []

    r = stack.get("/api/v1/scans.csv", role="worker", params={"container_no": CONTAINER})
    assert r.status_code == 200
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [(x["drum"], x["result"], x["container_no"]) for x in rows] == [
        (_drum(7), "loaded", CONTAINER),
    ]
    assert datetime.fromisoformat(rows[0]["time_utc"]) <= datetime.now(UTC)


def test_a_phone_at_a_counting_station_counts_for_the_stocktake(stack: Stack) -> None:
    r = stack.put(f"/api/v1/stations/{RECEIVING}/mode", {"mode": "receiving", "supplier": "CV"})
    assert r.status_code == 200, r.text
    stack.scan(_drum(1), station=RECEIVING)
    wait_for(lambda: _stock_at(stack, "warehouse") == 1, what="received")
    r = stack.post("/api/v1/stocktakes", {"location": "warehouse"}, role="worker")
    assert r.status_code == 403
    r = stack.post("/api/v1/stocktakes", {"location": "warehouse"})
    assert r.status_code == 201, r.text
    count_id = r.json()["id"]
    r = stack.put("/api/v1/stations/phone-1/mode", {"mode": "counting", "stocktake": count_id})
    assert (r.status_code, r.json()["stocktake"]) == (200, count_id)

    r = stack.post("/api/v1/stations/phone-1/scans", phone_scan(_drum(1)), role="worker")
    assert r.status_code == 200, r.text
    assert (r.json()["stored"], r.json()["result"]) == (True, "counted")
    count = stack.get(f"/api/v1/stocktakes/{count_id}", role="worker").json()
    assert (count["status"], count["found"], count["expected_at_open"]) == ("open", 1, 1)
    r = stack.post(f"/api/v1/stocktakes/{count_id}/close")
    assert r.status_code == 200, r.text
    assert (r.json()["missing"], r.json()["unexpected"], r.json()["wrong_place"]) == ([], [], [])
    r = stack.post(f"/api/v1/stocktakes/{count_id}/approve", {})
    assert (r.status_code, r.json()["status"], r.json()["adjusted"]) == (200, "approved", [])
    listed = stack.get("/api/v1/stocktakes", role="worker").json()
    assert [c["id"] for c in listed] == [count_id]
