"""Prometheus metrics of the API, one registry per app (tests build many apps)."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from api.live import LiveState

# The *_created series double every counter for nothing a dashboard uses.
disable_created_metrics()  # type: ignore[no-untyped-call]

# Request durations: the API answers from memory in ms; InfluxDB queries take longer.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class LiveCollector(Collector):
    """Gauges read from the live state at scrape time."""

    def __init__(self, live: LiveState) -> None:
        self.live = live

    def collect(self) -> Iterable[Metric]:
        """The current fill, stations, alerts and stream figures."""
        live = self.live
        drums = GaugeMetricFamily(
            "gudang_container_drums", "Drums loaded into a container", labels=["container_no"]
        )
        fill = GaugeMetricFamily(
            "gudang_container_fill_ratio", "Drums / capacity", labels=["container_no"]
        )
        weight = GaugeMetricFamily(
            "gudang_container_net_weight_kg", "Net weight loaded", labels=["container_no"]
        )
        for c in live.containers.values():
            drums.add_metric([c.container_no], c.drums)
            fill.add_metric([c.container_no], c.fill_ratio)
            weight.add_metric([c.container_no], c.net_weight_kg)
        online = GaugeMetricFamily(
            "gudang_station_online", "1 when the station is online", labels=["station"]
        )
        for name, st in live.station_views().items():
            online.add_metric([name], 1.0 if st.online else 0.0)
        alerts = GaugeMetricFamily(
            "gudang_alerts", "Alerts not cleared, by kind and state", labels=["kind", "state"]
        )
        by_kind: dict[tuple[str, str], int] = {}
        for a in live.alerts.values():
            key = (a.kind.value, a.state.value)
            by_kind[key] = by_kind.get(key, 0) + 1
        for (kind, state), n in sorted(by_kind.items()):
            alerts.add_metric([kind, state], n)
        broker = GaugeMetricFamily("gudang_api_broker_connected", "1 when following the broker")
        broker.add_metric([], 1.0 if live.link.ready else 0.0)
        subscribers = GaugeMetricFamily("gudang_api_stream_clients", "Open live streams")
        subscribers.add_metric([], len(live.subscribers))
        counters = GaugeMetricFamily(
            "gudang_api_live_events", "Live-state counters since start", labels=["what"]
        )
        for what, n in sorted(live.counters.items()):
            counters.add_metric([what], n)
        yield from (drums, fill, weight, online, alerts, broker, subscribers, counters)


class Metrics:
    """The app's registry and its instruments."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "gudang_api_requests",
            "HTTP requests by route template, method and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "gudang_api_request_seconds",
            "HTTP request duration until the response started",
            ["method", "route"],
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self.auth_failures = Counter(
            "gudang_api_auth_failures",
            "Refused requests: unknown token or a role too low",
            ["reason"],
            registry=self.registry,
        )
        self.bodies_refused = Counter(
            "gudang_api_bodies_refused",
            "Request bodies refused for their size (413)",
            registry=self.registry,
        )
        self.command_failures = Counter(
            "gudang_api_command_failures",
            "Commands refused by the services or unanswered",
            ["command", "code"],
            registry=self.registry,
        )

        self.phone_scans = Counter(
            "gudang_api_phone_scans",
            "Phone scans by path (bridge / api) and outcome (stored / pending / refused)",
            ["via", "outcome"],
            registry=self.registry,
        )

    def watch(self, live: LiveState) -> None:
        """Add the live-state gauges."""
        self.registry.register(LiveCollector(live))


def _route_template(scope: Scope, prefix: str) -> str:
    # The template (/api/v1/containers/{container_no}), never the raw path: bounded labels.
    path = getattr(scope.get("route"), "path", None)
    if not isinstance(path, str):
        return "unmatched"
    if scope["path"].startswith(prefix) and not path.startswith(prefix):
        path = prefix + path  # the route knows its router's prefix, not the app's
    return path


class HttpMiddleware:
    """An ASGI middleware of the API's HTTP requests (``prefix``: the API's path), counted in
    ``metrics``; anything else (lifespan) passes through it."""

    def __init__(self, app: ASGIApp, metrics: Metrics, prefix: str) -> None:
        self.app = app
        self.metrics = metrics
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.http(scope, receive, send)

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        """One HTTP request."""
        raise NotImplementedError


class MetricsMiddleware(HttpMiddleware):
    """Counts requests and times them until the response starts (streams stay open)."""

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Count and time one request."""
        start = time.perf_counter()
        method = scope["method"]
        status_code = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = int(message["status"])
                self.metrics.duration.labels(method, _route_template(scope, self.prefix)).observe(
                    time.perf_counter() - start
                )
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            self.metrics.requests.labels(
                method, _route_template(scope, self.prefix), str(status_code)
            ).inc()
