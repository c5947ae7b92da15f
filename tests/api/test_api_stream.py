"""The live stream: a scan published on MQTT reaches an SSE client as a fill change."""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from api.routes import stream as stream_routes
from gudang.wire import WeightReadingV1, encode
from tests.api.conftest import CONTAINER, TOKENS, Stack
from tests.harness import wait_for

# The product's promise: the dashboard shows a scan within a second (issue #5).
LIVE_WITHIN_S = 1.0


@contextmanager
def sse_events(url: str, token: str) -> Iterator[queue.Queue[tuple[float, str, Any]]]:
    """Read the stream in a thread; yields a queue of (arrival time, event, data)."""
    events: queue.Queue[tuple[float, str, Any]] = queue.Queue()
    stop = threading.Event()
    client = httpx.Client(timeout=httpx.Timeout(10, read=30))

    def read() -> None:
        try:
            _read()
        except Exception as exc:  # closing the client under the reader ends it this way
            if not stop.is_set():
                events.put((time.monotonic(), "error", repr(exc)))

    def _read() -> None:
        with client.stream("GET", f"{url}/api/v1/stream", params={"access_token": token}) as r:
            events.put((time.monotonic(), "status", r.status_code))
            name = "message"
            for line in r.iter_lines():
                if stop.is_set():
                    return
                if line.startswith(":"):
                    events.put((time.monotonic(), "comment", line))
                elif line.startswith("event: "):
                    name = line[len("event: ") :]
                elif line.startswith("data: "):
                    events.put((time.monotonic(), name, json.loads(line[len("data: ") :])))

    thread = threading.Thread(target=read, name="sse-reader", daemon=True)
    thread.start()
    try:
        yield events
    finally:
        stop.set()
        client.close()
        thread.join(timeout=5)


def _next(events: queue.Queue[tuple[float, str, Any]], name: str, timeout: float = 10) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        at, event, data = events.get(timeout=max(0.01, deadline - time.monotonic()))
        if event == name:
            return at, data


def test_scan_reaches_the_stream_within_a_second(stack: Stack) -> None:
    stack.open_and_point()
    with sse_events(stack.url, TOKENS["worker"]) as events:
        assert _next(events, "status")[1] == 200
        _, snapshot = _next(events, "snapshot")
        assert [c["container_no"] for c in snapshot["containers"]] == [CONTAINER]
        assert snapshot["containers"][0]["drums"] == 0
        assert {s["station"] for s in snapshot["stations"]} == {"load-1"}
        published = time.monotonic()
        stack.scan("CB-JMB-L-000042", 9.75)
        while True:
            at, c = _next(events, "container")
            if c["container_no"] == CONTAINER and c["drums"] == 1:
                break
        elapsed = at - published
        assert c["net_weight_kg"] == 9.75
        assert c["fill_ratio"] == 1 / 2600
        assert elapsed < LIVE_WITHIN_S, f"the fill change took {elapsed:.3f}s"
        # The station's scan count follows, and heartbeats keep an idle stream open.
        _, st = _next(events, "station")
        assert st["station"] == "load-1"
        assert _next(events, "comment", timeout=5)[1] == ": ping"


def test_stream_needs_a_token(stack: Stack) -> None:
    r = httpx.get(f"{stack.url}/api/v1/stream")
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"


def test_open_streams_are_bounded(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stream_routes, "MAX_STREAM_CLIENTS", 1)
    with sse_events(stack.url, TOKENS["worker"]) as events:
        assert _next(events, "status")[1] == 200
        _next(events, "snapshot")
        r = httpx.get(f"{stack.url}/api/v1/stream", params={"access_token": TOKENS["worker"]})
        assert r.status_code == 503
        assert r.json() == {"detail": "too many open streams"}


def test_scale_readings_reach_the_stream_and_a_stranger_is_ignored(stack: Stack) -> None:
    topics = stack.topics
    reading = WeightReadingV1(
        ts=datetime.now(UTC), station="load-1", weight_kg=9.4, stable=True, status="stable"
    )
    with sse_events(stack.url, TOKENS["worker"]) as events:
        _, snapshot = _next(events, "snapshot")
        assert snapshot["weights"] == []
        # A reading claiming another station's name on load-1's topic: refused, counted.
        stranger = WeightReadingV1(
            ts=datetime.now(UTC), station="load-2", weight_kg=1.0, stable=True, status="stable"
        )
        stack.probe.publish(topics.weight("load-1"), encode(stranger))
        stack.probe.publish(topics.weight("load-1"), encode(reading))
        _, got = _next(events, "weight")
        assert (got["station"], got["weight_kg"], got["stable"], got["status"]) == (
            "load-1",
            9.4,
            True,
            "stable",
        )
    with sse_events(stack.url, TOKENS["worker"]) as events:
        _, snapshot = _next(events, "snapshot")
        assert [(w["station"], w["weight_kg"]) for w in snapshot["weights"]] == [("load-1", 9.4)]
    metrics = stack.get("/metrics").text
    assert 'gudang_api_live_events{what="bad_state_messages"} 1.0' in metrics


def _first(
    events: queue.Queue[tuple[float, str, Any]],
    name: str,
    wanted: Callable[[Any], bool],
    what: str,
    timeout: float = 20,
) -> Any:
    """The first ``name`` event whose data ``wanted`` takes (earlier ones of it are skipped)."""
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        try:
            _, data = _next(events, name, timeout=max(0.01, deadline - time.monotonic()))
        except queue.Empty:
            break
        if wanted(data):
            return data
        seen.append(data)
    raise AssertionError(f"no {name} event with {what} within {timeout}s; saw {seen!r}")


def _until(
    events: queue.Queue[tuple[float, str, Any]], name: str, wanted: Any, timeout: float = 20
) -> Any:
    """The first ``name`` event whose data is ``wanted`` (earlier ones of it are skipped)."""
    return _first(events, name, lambda data: data == wanted, repr(wanted), timeout)


def test_the_admins_alert_routing_is_pushed_to_open_streams(stack: Stack) -> None:
    """PUT /alerts/routing reaches a stream opened before it, the dashboard's part only."""
    with sse_events(stack.url, TOKENS["worker"]) as events:
        assert _next(events, "status")[1] == 200
        _, snapshot = _next(events, "snapshot")
        assert snapshot["alert_list_kinds"] == []  # the configuration's: every kind
        wanted = {
            "dashboard_kinds": ["container_full", "duplicate_scan"],
            "webhook_kinds": ["container_full"],
        }
        r = stack.put("/api/v1/alerts/routing", wanted, role="admin")
        assert r.status_code == 200, r.text
        # The services' retained seed may come first (the API started with them): skipped.
        pushed = {"alert_list_kinds": ["container_full", "duplicate_scan"]}
        assert _until(events, "alert_list_kinds", pushed) == pushed
    # A stream opened afterwards has it in its snapshot (a dashboard that missed the push).
    with sse_events(stack.url, TOKENS["worker"]) as events:
        _, snapshot = _next(events, "snapshot")
        assert snapshot["alert_list_kinds"] == ["container_full", "duplicate_scan"]


# What GET /site says of a SKU, and so all the stream may: every worker reads the stream.
SITE_SKU_FIELDS = {"sku", "name", "size", "min_kg", "max_kg", "hs_code"}


def test_the_admins_catalogue_change_is_pushed_to_open_streams_as_get_site_has_it(
    stack: Stack,
) -> None:
    """PUT /catalogue/{sku} reaches a stream opened before it: the SKUs as in GET /site (no
    prices, GTINs or papers' data), then the stock under the new name; later snapshots too."""
    stack.open_and_point()
    stack.scan("CB-JMB-L-000001", 9.5)
    stack.wait_drums(1)
    site = stack.get("/api/v1/site", role="worker").json()
    renamed = "Djembe besar (baru)"
    with sse_events(stack.url, TOKENS["worker"]) as events:
        assert _next(events, "status")[1] == 200
        _, snapshot = _next(events, "snapshot")
        assert snapshot["skus"] == site["skus"]
        large = next(s for s in stack.get("/api/v1/catalogue").json() if s["sku"] == "JMB-L")
        spec = {k: v for k, v in large.items() if k != "sku"}
        spec |= {"name": renamed, "unit_prices": {"USD": "29.75"}, "capacity_drums": 1111}
        r = stack.put("/api/v1/catalogue/JMB-L", spec, role="admin")
        assert r.status_code == 200, r.text

        def named(data: Any) -> bool:
            return {s["sku"]: s["name"] for s in data["skus"]}.get("JMB-L") == renamed

        # The services' retained catalogue may come first (the API started with them).
        pushed = _first(events, "skus", named, "JMB-L renamed")
        wanted = [{**s, "name": renamed} if s["sku"] == "JMB-L" else s for s in site["skus"]]
        assert pushed == {"skus": wanted}
        assert all(set(s) == SITE_SKU_FIELDS for s in pushed["skus"])
        # The stock's descriptions are the catalogue's: sent again under the new name.
        stock = _first(
            events,
            "stock",
            lambda d: [(t["sku"], t["description"]) for t in d["totals"]] == [("JMB-L", renamed)],
            "JMB-L's new name",
        )
        assert [t["drums"] for t in stock["totals"]] == [1]
    assert stack.get("/api/v1/site", role="worker").json()["skus"] == wanted
    # A stream opened afterwards has it in its snapshot (a dashboard that missed the push).
    with sse_events(stack.url, TOKENS["worker"]) as events:
        _, snapshot = _next(events, "snapshot")
        assert snapshot["skus"] == wanted


def test_a_stocktakes_changes_reach_open_streams_without_its_differences(stack: Stack) -> None:
    """A count opened, counted into and closed: each change is a small `stocktake` event
    (id, status, found), the differences stay GET /stocktakes/{id}'s."""
    stack.scan("CB-JMB-L-000001", station="load-1")  # load-1 seen by the services (refused)
    wait_for(
        lambda: "load-1" in {s["station"] for s in stack.get("/api/v1/stations").json()},
        what="load-1 known",
    )
    with sse_events(stack.url, TOKENS["worker"]) as events:
        assert _next(events, "status")[1] == 200
        _next(events, "snapshot")
        r = stack.post("/api/v1/stocktakes", {"location": "warehouse"})
        assert r.status_code == 201, r.text
        count_id = r.json()["id"]
        opened = {"id": count_id, "status": "open", "found": 0}
        assert _until(events, "stocktake", opened) == opened
        r = stack.put("/api/v1/stations/load-1/mode", {"mode": "counting", "stocktake": count_id})
        assert r.status_code == 200, r.text
        stack.scan("CB-JMB-L-000002", station="load-1")
        counted = {"id": count_id, "status": "open", "found": 1}
        assert _until(events, "stocktake", counted) == counted
        r = stack.post(f"/api/v1/stocktakes/{count_id}/close")
        assert r.status_code == 200, r.text
        closed = {"id": count_id, "status": "closed", "found": 1}
        assert _until(events, "stocktake", closed) == closed
    assert stack.get(f"/api/v1/stocktakes/{count_id}").json()["unexpected"][0]["drum"] == (
        "CB-JMB-L-000002"
    )
