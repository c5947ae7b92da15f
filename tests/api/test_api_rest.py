"""The REST resources against real servers and services."""

from __future__ import annotations

import csv
import io
import re
import zlib
from datetime import UTC, datetime, timedelta

import pytest

from api.queries import fill_points
from gudang.influx import quote_str
from gudang.settings import Settings
from gudang.storage import ns_to_datetime
from gudang.wire import AlertKind, AlertV1, QcResult, StationState, StationStatusV1, Topics, encode
from tests.api.conftest import CONTAINER, CONTAINER_2, STATION, Stack
from tests.harness import Probe, influx_rows, running_api, running_services, wait_for

DRUMS = [
    ("CB-JMB-L-000101", 9.25),
    ("CB-JMB-L-000102", 10.5),
    ("CB-JMB-M-000201", 5.75),
    ("CB-JMB-S-000301", 3.125),
]


def test_container_fill_forecast_fields_and_stock(stack: Stack) -> None:
    stack.open_and_point()
    for label, kg in DRUMS:
        stack.scan(label, kg)
    c = stack.wait_drums(len(DRUMS))
    assert c["container_no_formatted"] == "CSQU 305438 3"
    assert c["status"] == "loading"
    assert c["fill_ratio"] == pytest.approx(4 / 2600)
    assert c["net_weight_kg"] == pytest.approx(sum(kg for _, kg in DRUMS))
    assert c["weight_ratio"] == pytest.approx(sum(kg for _, kg in DRUMS) / 26000)
    assert "rate_drums_per_h" in c
    assert "forecast_full_at" in c
    assert c["drums_by_sku"] == {"JMB-L": 2, "JMB-M": 1, "JMB-S": 1}

    listed = stack.get("/api/v1/containers").json()
    assert [x["container_no"] for x in listed] == [CONTAINER]
    assert stack.get("/api/v1/containers", params={"status": "shipped"}).json() == []

    stock = stack.get("/api/v1/stock").json()
    in_container = {
        (i["sku"], i["location"]): i["drums"]
        for i in stock["items"]
        if i["location_kind"] == "container"
    }
    assert in_container == {
        ("JMB-L", CONTAINER): 2,
        ("JMB-M", CONTAINER): 1,
        ("JMB-S", CONTAINER): 1,
    }
    totals = {t["sku"]: t["in_containers"] for t in stock["totals"]}
    assert totals == {"JMB-L": 2, "JMB-M": 1, "JMB-S": 1}
    only_l = stack.get("/api/v1/stock", params={"sku": "JMB-L"}).json()
    assert {i["sku"] for i in only_l["items"]} == {"JMB-L"}


def test_invalid_and_unknown_containers_are_clear_errors(stack: Stack) -> None:
    r = stack.get("/api/v1/containers/CSQU3054384")  # wrong check digit
    assert r.status_code == 422
    assert "check digit" in r.json()["detail"].lower() or "checksum" in r.json()["detail"].lower()
    r = stack.get(f"/api/v1/containers/{CONTAINER_2}")
    assert r.status_code == 404
    assert CONTAINER_2 in r.json()["detail"]
    r = stack.post("/api/v1/containers", {"container_no": "CSQU 305438 4"})
    assert r.status_code == 422
    stack.open_and_point()
    r = stack.post("/api/v1/containers", {"container_no": CONTAINER})
    assert r.status_code == 409
    assert "already" in r.json()["detail"]


def test_stations_list_devices_from_retained_status(stack: Stack) -> None:
    status = (
        b'{"v":1,"site":"%s","station":"load-9","state":"online","heartbeat_s":15,'
        b'"devices":[{"name":"scanner","role":"scanner","state":"connected"},'
        b'{"name":"scale","role":"scale","state":"error","detail":"no answer"}],'
        b'"spool_depth":3,"spool_capacity":1000}' % stack.site.encode()
    )
    stack.probe.publish(stack.topics.status("load-9"), status, retain=True)
    st = wait_for(
        lambda: next(
            (s for s in stack.get("/api/v1/stations").json() if s["station"] == "load-9"), None
        ),
        what="station from its status",
    )
    assert st["online"] is True
    assert [(d["name"], d["state"]) for d in st["devices"]] == [
        ("scanner", "connected"),
        ("scale", "error"),
    ]
    assert st["devices"][1]["detail"] == "no answer"
    assert st["spool_depth"] == 3
    offline = status.replace(b'"online"', b'"offline"')
    stack.probe.publish(stack.topics.status("load-9"), offline, retain=True)
    wait_for(
        lambda: (
            not next(s for s in stack.get("/api/v1/stations").json() if s["station"] == "load-9")[
                "online"
            ]
        ),
        what="station offline",
    )
    stack.probe.publish(stack.topics.status("load-9"), b"", retain=True)


def test_station_container_set_by_worker(stack: Stack) -> None:
    r = stack.post("/api/v1/containers", {"container_no": CONTAINER})
    assert r.status_code == 201
    r = stack.put(
        f"/api/v1/stations/{STATION}/container", {"container_no": "CSQU 305438 3"}, role="worker"
    )
    assert r.status_code == 200, r.text
    assert r.json()["active_container"] == CONTAINER
    r = stack.put(
        f"/api/v1/stations/{STATION}/container", {"container_no": CONTAINER_2}, role="worker"
    )
    assert r.status_code == 404  # not open
    r = stack.put(f"/api/v1/stations/{STATION}/container", {"container_no": None}, role="worker")
    assert r.status_code == 200
    assert r.json()["active_container"] is None


def test_alerts_listed_and_filtered(stack: Stack) -> None:
    # Retained alerts as the services publish them.
    now = datetime.now(UTC)
    a1 = AlertV1(
        id=f"container_full-{CONTAINER}",
        kind=AlertKind.CONTAINER_FULL,
        severity="critical",
        subject=CONTAINER,
        container_no=CONTAINER,
        message="full",
        raised_at=now,
    )
    a2 = AlertV1(
        id="duplicate_scan-load-1",
        kind=AlertKind.DUPLICATE_SCAN,
        subject="load-1",
        station="load-1",
        message="dup",
        raised_at=now,
    )
    for a in (a1, a2):
        stack.probe.publish(stack.topics.alert(a.id), encode(a), retain=True)
    alerts = wait_for(
        lambda: len(r := stack.get("/api/v1/alerts").json()) == 2 and r, what="two alerts"
    )
    assert [a["id"] for a in alerts] == [a1.id, a2.id]  # critical first
    only = stack.get("/api/v1/alerts", params={"kind": "duplicate_scan"}).json()
    assert [a["id"] for a in only] == [a2.id]
    assert stack.get("/api/v1/alerts", params={"state": "acknowledged"}).json() == []
    assert stack.get("/api/v1/alerts", params={"kind": "nonsense"}).status_code == 422
    stack.probe.publish(stack.topics.alert(a2.id), b"", retain=True)  # cleared
    wait_for(lambda: len(stack.get("/api/v1/alerts").json()) == 1, what="cleared alert gone")
    stack.probe.publish(stack.topics.alert(a1.id), b"", retain=True)


def test_scans_recent_and_hourly_from_influxdb(stack: Stack) -> None:
    stack.open_and_point()
    for label, kg in DRUMS:
        stack.scan(label, kg)
    # Counted first, so the duplicate's device time is surely later (scans in one ms may
    # be stored in either order).
    stack.wait_drums(len(DRUMS))
    stack.scan(DRUMS[0][0], DRUMS[0][1])  # a duplicate, recorded too
    rows = wait_for(
        lambda: len(r := stack.get("/api/v1/scans", params={"station": STATION}).json()) >= 5 and r,
        what="scans stored",
    )
    assert rows[0]["result"] == "duplicate"  # newest first
    assert len(rows) == len(DRUMS) + 1
    assert {r["result"] for r in rows} == {"loaded", "duplicate"}
    loaded = stack.get(
        "/api/v1/scans", params={"container_no": "CSQU 305438 3", "result": "loaded"}
    ).json()
    assert sorted(r["drum"] for r in loaded) == sorted(label for label, _ in DRUMS)
    assert stack.get("/api/v1/scans", params={"limit": 2}).json()[1]["time"] <= rows[0]["time"]
    hourly = stack.get("/api/v1/scans/hourly", params={"hours": 2}).json()
    assert sum(h["loaded"] for h in hourly if h["station"] == STATION) == len(DRUMS)
    assert sum(h["scans"] for h in hourly if h["station"] == STATION) == len(rows)
    per_container = stack.get("/api/v1/scans/hourly", params={"container_no": CONTAINER}).json()
    assert sum(h["loaded"] for h in per_container) == len(DRUMS)
    other = stack.get("/api/v1/scans/hourly", params={"container_no": CONTAINER_2}).json()
    assert sum(h["scans"] for h in other) == 0
    assert stack.get("/api/v1/scans", params={"container_no": "nonsense"}).json() == []


def test_packing_list_of_filled_container_matches_influxdb(stack: Stack) -> None:
    stack.open_and_point()
    for label, kg in DRUMS:
        stack.scan(label, kg)
    stack.scan("CB-JMB-L-000101", 9.3)  # duplicate: not a second line
    stack.wait_drums(len(DRUMS))
    stored = influx_rows(
        stack.settings.influx,
        f"SELECT drum, sku, weight_kg FROM scan WHERE site = {quote_str(stack.site)} "
        f"AND container_no = '{CONTAINER}' AND result = 'loaded'",
    )
    assert len(stored) == len(DRUMS)
    want = {r["drum"]: (r["sku"], r["weight_kg"]) for r in stored}
    pl = stack.get(f"/api/v1/containers/{CONTAINER}/packing-list").json()
    assert {ln["drum"]: (ln["sku"], ln["weight_kg"]) for ln in pl["lines"]} == want
    assert pl["drums"] == len(stored)
    assert pl["net_weight_kg"] == pytest.approx(sum(w for _, w in want.values()))
    assert pl["gross_weight_kg"] == pytest.approx(pl["net_weight_kg"] + 0.5 * len(stored))
    assert pl["hs_codes"] == ["9206.00"]

    r = stack.get(f"/api/v1/containers/{CONTAINER}/packing-list.csv", role="worker")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[0] == ["container_no", "CSQU 305438 3"]
    header = rows.index(
        ["no", "drum", "sku", "description", "hs_code", "weight_kg", "loaded_at_utc"]
    )
    drum_rows = rows[header + 1 : header + 1 + len(stored)]
    assert {row[1]: (row[2], float(row[5])) for row in drum_rows} == want
    assert all(row[4] == "9206.00" for row in drum_rows)
    totals = {
        row[0]: row[1] for row in rows if row and row[0].startswith("total_") and len(row) == 2
    }
    assert float(totals["total_net_kg"]) == pytest.approx(sum(w for _, w in want.values()))
    assert float(totals["total_gross_kg"]) == pytest.approx(pl["gross_weight_kg"])
    assert int(totals["total_drums"]) == len(stored)

    page = stack.get(f"/api/v1/containers/{CONTAINER}/packing-list.html", params={"lang": "id"})
    assert page.status_code == 200
    assert "Daftar kemasan" in page.text
    assert "@media print" in page.text
    assert all(label in page.text for label, _ in DRUMS)

    pdf = stack.get(f"/api/v1/containers/{CONTAINER}/packing-list.pdf", role="worker")
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF-")
    text = _pdf_text(pdf.content)
    assert all(label.encode() in text for label, _ in DRUMS)
    assert b"CSQU 305438 3" in text
    assert f"{pl['net_weight_kg']:.3f}".encode() in text
    assert f"{pl['gross_weight_kg']:.3f}".encode() in text
    assert b"9206.00" in text


def _pdf_text(pdf: bytes) -> bytes:
    """The page content of a PDF, streams inflated (enough to find the printed strings)."""
    out = []
    for m in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.S):
        try:
            out.append(zlib.decompress(m.group(1)))
        except zlib.error:
            out.append(m.group(1))
    return b"\n".join(out)


def test_fill_points_bucket_loads_and_unloads() -> None:
    m = 60_000_000_000  # a minute in ns
    opened = 10 * m + 5_000
    steps = [
        (11 * m + 1, True, {"drum": "A", "weight_kg": 9.0}),
        (11 * m + 2, True, {"drum": "B", "weight_kg": 8.5}),
        (11 * m + 3, True, {"drum": "B", "weight_kg": 8.5}),  # a stored duplicate: once
        (13 * m, False, {"drum": "A"}),
        (13 * m, True, {"drum": "C", "weight_kg": 7.25}),
        (14 * m + 30, True, {"drum": "A", "weight_kg": 9.0}),  # loaded again
    ]
    points = fill_points(opened, steps, m, now_ns=14 * m + 40_000)
    assert [(p.at, p.drums, p.net_weight_kg) for p in points] == [
        (ns_to_datetime(opened), 0, 0.0),
        (ns_to_datetime(12 * m), 2, 17.5),
        (ns_to_datetime(14 * m), 2, 15.75),
        (ns_to_datetime(14 * m + 40_000), 3, 24.75),  # the bucket going on ends now
    ]
    assert fill_points(0, [], m, now_ns=m) == []  # never opened, nothing loaded


def test_container_fill_timeline_from_influxdb(stack: Stack) -> None:
    stack.open_and_point()
    for label, kg in DRUMS[:3]:
        stack.scan(label, kg)
    stack.wait_drums(3)
    r = stack.post(f"/api/v1/containers/{CONTAINER}/unload", {"drum": DRUMS[1][0]})
    assert r.status_code == 200, r.text
    r = stack.get(f"/api/v1/containers/{CONTAINER}/timeline", role="worker")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["bucket_minutes"] == 15
    assert body["capacity_drums"] == 2600
    first, last = body["points"][0], body["points"][-1]
    assert (first["drums"], first["time"]) == (0, body["opened_at"])
    assert last["drums"] == 2
    assert last["net_weight_kg"] == pytest.approx(DRUMS[0][1] + DRUMS[2][1])
    times = [p["time"] for p in body["points"]]
    assert times == sorted(times)
    assert stack.get(f"/api/v1/containers/{CONTAINER}/timeline?bucket_minutes=0").status_code == 422
    assert stack.get(f"/api/v1/containers/{CONTAINER_2}/timeline").status_code == 404


def test_container_unload_seal_ship_through_the_api(stack: Stack) -> None:
    stack.open_and_point()
    for label, kg in DRUMS[:3]:
        stack.scan(label, kg)
    stack.wait_drums(3)
    r = stack.post(
        f"/api/v1/containers/{CONTAINER}/unload", {"drum": DRUMS[1][0], "reason": "wrong SKU"}
    )
    assert r.status_code == 200, r.text
    assert r.json()["drums"] == 2
    assert r.json()["net_weight_kg"] == pytest.approx(DRUMS[0][1] + DRUMS[2][1])
    r = stack.post(f"/api/v1/containers/{CONTAINER}/unload", {"drum": DRUMS[1][0]})
    assert r.status_code == 409  # no longer in it
    pl = stack.get(f"/api/v1/containers/{CONTAINER}/packing-list").json()
    assert sorted(ln["drum"] for ln in pl["lines"]) == [DRUMS[0][0], DRUMS[2][0]]
    stock = stack.get("/api/v1/stock", params={"location": "warehouse"}).json()
    assert [(i["sku"], i["drums"]) for i in stock["items"]] == [("JMB-L", 1)]  # back in stock

    r = stack.post(f"/api/v1/containers/{CONTAINER}/seal", {"seal_no": "EMCS123456"})
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["seal_no"]) == ("sealed", "EMCS123456")
    r = stack.post(f"/api/v1/containers/{CONTAINER}/unload", {"drum": DRUMS[0][0]})
    assert r.status_code == 409
    assert "sealed" in r.json()["detail"]
    r = stack.post(f"/api/v1/containers/{CONTAINER}/seal", {"seal_no": "bad seal!"})
    assert r.status_code == 422
    csv_text = stack.get(f"/api/v1/containers/{CONTAINER}/packing-list.csv").text
    assert "seal_no,EMCS123456" in csv_text

    r = stack.post(f"/api/v1/containers/{CONTAINER}/ship")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "shipped"
    wait_for(
        lambda: all(i["location"] != CONTAINER for i in stack.get("/api/v1/stock").json()["items"]),
        what="a shipped container is no longer stock",
    )


def test_station_mode_set_by_supervisor(stack: Stack) -> None:
    r = stack.put(
        f"/api/v1/stations/{STATION}/mode", {"mode": "receiving", "supplier": "Pak Slamet"}
    )
    assert r.status_code == 200, r.text
    assert r.json()["mode"] == "receiving"
    assert stack.put(f"/api/v1/stations/{STATION}/mode", {"mode": "dancing"}).status_code == 422
    stack.scan("CB-JMB-M-000555", 5.5)
    stack.scan("CB-JMB-M-000556", 5.6, qc=QcResult.REWORK)  # held by QC, not for loading
    stock = wait_for(
        lambda: len((s := stack.get("/api/v1/stock").json())["items"]) == 2 and s,
        what="received drums in stock",
    )
    assert [(i["sku"], i["location"], i["location_kind"], i["drums"]) for i in stock["items"]] == [
        ("JMB-M", "qc-rework", "qc_hold", 1),
        ("JMB-M", "warehouse", "warehouse", 1),
    ]
    assert stock["totals"] == [
        {
            "sku": "JMB-M",
            "description": "Djembe medium",
            "drums": 2,
            "in_warehouse": 1,
            "held_qc": 1,
            "in_containers": 0,
        }
    ]


def test_duplicate_scan_alert_acknowledged_by_supervisor(stack: Stack) -> None:
    stack.open_and_point()
    stack.scan("CB-JMB-L-000777", 9.0)
    stack.wait_drums(1)
    stack.scan("CB-JMB-L-000777", 9.0)
    alert = wait_for(
        lambda: next(
            iter(stack.get("/api/v1/alerts", params={"kind": "duplicate_scan"}).json()), None
        ),
        what="duplicate scan alert",
    )
    assert alert["state"] == "raised"
    assert "CB-JMB-L-000777" in alert["message"]
    r = stack.post(f"/api/v1/alerts/{alert['id']}/ack")
    assert r.status_code == 200, r.text
    acked = r.json()
    assert acked["acknowledged_by"] == "supervisor-1"
    assert acked["state"] in ("acknowledged", "cleared")  # an event alert clears on ack
    wait_for(
        lambda: all(a["state"] != "raised" for a in stack.get("/api/v1/alerts").json()),
        what="no raised alert left",
    )
    assert stack.post("/api/v1/alerts/no-such-alert/ack").status_code == 404


def test_hung_bridge_retained_online_status_shows_offline(api_settings: Settings) -> None:
    # A bridge that hung without its last will left "online" behind, an hour old.
    topics = Topics(api_settings.site.name)
    hung = StationStatusV1(
        site=api_settings.site.name,
        station="load-7",
        state=StationState.ONLINE,
        ts=datetime.now(UTC) - timedelta(hours=1),
        heartbeat_s=15,
    )
    probe = Probe(api_settings)
    try:
        probe.publish(topics.status("load-7"), encode(hung), retain=True)
        with running_services(api_settings), running_api(api_settings) as url:
            stack = Stack(url, api_settings, probe)
            alert = wait_for(
                lambda: next(
                    iter(stack.get("/api/v1/alerts", params={"kind": "station_offline"}).json()),
                    None,
                ),
                what="station offline alert",
            )
            assert alert["station"] == "load-7"
            st = next(s for s in stack.get("/api/v1/stations").json() if s["station"] == "load-7")
            assert st["online"] is False  # the services' word, not the stale retained status
        probe.publish(topics.status("load-7"), b"", retain=True)
    finally:
        probe.close()
