"""Setting up loading stations for a load run, and watching what becomes visible.

Each station loads its own container (opened through the API, pointed at by scanning its
label, as on the floor), so a container's drum count says how many of that station's
scans are visible: they are processed in the order published.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
import msgspec
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from bench.loadgen import container_number, label_scan
from gudang.influx import InfluxClient, quote_str
from gudang.wire import QOS_SCAN, ContainerStateV1, ContainerStatus, Topics, encode

# The API accepts containers of up to 100,000 drums (api/schemas.py).
BENCH_CAPACITY = 100_000
SETUP_TIMEOUT_S = 60.0
# The local stack's well-known admin token (api.allow_demo_tokens: loopback only).
API_HEADERS = {"Authorization": "Bearer demo-admin"}


def loading_state(
    number: str,
    drums: int,
    now: datetime,
    kg_per_drum: float,
    drums_by_sku: dict[str, int],
    **more: Any,
) -> ContainerStateV1:
    """A 40HC container loading ``drums`` drums of ``kg_per_drum``, as the services retain it."""
    return ContainerStateV1(
        container_no=number,
        container_type="40HC",
        status=ContainerStatus.LOADING,
        drums=drums,
        capacity_drums=2600,
        fill_ratio=drums / 2600,
        net_weight_kg=kg_per_drum * drums,
        max_payload_kg=26000.0,
        weight_ratio=kg_per_drum * drums / 26000.0,
        opened_at=now,
        last_scan_at=now,
        updated_at=now,
        drums_by_sku=drums_by_sku,
        **more,
    )


def station_names(phase: int, count: int) -> list[str]:
    """Station names of one phase: ``p<phase>-s<index>``."""
    return [f"p{phase}-s{i:03d}" for i in range(count)]


def prepare_stations(
    api_url: str, host: str, port: int, site: str, phase: int, stations: Sequence[str]
) -> dict[str, str]:
    """Open a container per station and scan its label there; station -> container."""
    mapping = {name: container_number("BNC", phase * 1000 + i) for i, name in enumerate(stations)}
    with httpx.Client(base_url=api_url, timeout=30, headers=API_HEADERS) as api:
        for number in mapping.values():
            r = api.post(
                "/api/v1/containers",
                json={"container_no": number, "capacity_drums": BENCH_CAPACITY},
            )
            if r.status_code != 201:
                raise RuntimeError(f"could not open {number}: {r.status_code} {r.text}")
        topics = Topics(site)
        pub = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"bench-setup-{uuid.uuid4().hex[:6]}",
            protocol=paho.MQTTv5,
        )
        pub.connect(host, port)
        pub.loop_start()
        try:
            for name, number in mapping.items():
                payload = encode(label_scan(site, name, number))
                pub.publish(topics.scan(name), payload, qos=QOS_SCAN).wait_for_publish(10)
        finally:
            pub.disconnect()
            pub.loop_stop()
        deadline = time.monotonic() + SETUP_TIMEOUT_S
        while time.monotonic() < deadline:
            active = {
                s["station"]: s["active_container"] for s in api.get("/api/v1/stations").json()
            }
            if all(active.get(name) == number for name, number in mapping.items()):
                return mapping
            time.sleep(0.1)
    raise RuntimeError("stations were not pointed at their containers in time")


class _Drums(msgspec.Struct):
    container_no: str
    drums: int


_drums_decoder = msgspec.json.Decoder(_Drums)


@dataclass
class StateWatcher:
    """Follows ``state/container/+`` like the API does; records (drums, arrival) per container."""

    host: str
    port: int
    site: str
    arrivals: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _client: paho.Client | None = None

    def start(self) -> None:
        """Connect and subscribe (blocks until subscribed)."""
        subscribed = threading.Event()
        topic = f"{Topics(self.site).base}/state/container/+"
        client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"bench-watch-{uuid.uuid4().hex[:6]}",
            protocol=paho.MQTTv5,
        )
        client.on_connect = lambda c, *a: c.subscribe(topic, 1)
        client.on_subscribe = lambda *a: subscribed.set()
        client.on_message = self._on_message
        client.connect(self.host, self.port)
        client.loop_start()
        self._client = client
        if not subscribed.wait(15):
            raise RuntimeError("state watcher could not subscribe")

    def stop(self) -> None:
        """Disconnect."""
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()

    def _on_message(self, client: paho.Client, userdata: object, msg: paho.MQTTMessage) -> None:
        now = time.monotonic()
        if not msg.payload:
            return
        state = _drums_decoder.decode(msg.payload)
        with self._lock:
            self.arrivals.setdefault(state.container_no, []).append((state.drums, now))

    def drums(self, container_no: str) -> int:
        """The latest drum count seen for a container."""
        with self._lock:
            seen = self.arrivals.get(container_no)
            return max(d for d, _t in seen) if seen else 0

    def wait_for(self, expected: dict[str, int], timeout: float) -> float | None:
        """Wait until every container shows its expected count; the arrival time, or None."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(self.drums(c) >= n for c, n in expected.items()):
                with self._lock:
                    return max(
                        min(t for d, t in self.arrivals[c] if d >= n) for c, n in expected.items()
                    )
            time.sleep(0.02)
        return None

    def latencies(
        self, publish_times: dict[str, list[float]], containers: dict[str, str], base: int = 0
    ) -> list[float]:
        """Publish-to-visible seconds of every scan: scan i is visible once drums > base + i."""
        out: list[float] = []
        with self._lock:
            for station, times in publish_times.items():
                seen = sorted(self.arrivals.get(containers[station], []), key=lambda a: a[1])
                j = 0
                for i, sent in enumerate(times):
                    while j < len(seen) and seen[j][0] < base + i + 1:
                        j += 1
                    if j == len(seen):
                        break
                    out.append(seen[j][1] - sent)
        return out


def api_drums(api_url: str, containers: Sequence[str]) -> int:
    """Drums the API shows in these containers, in all."""
    wanted = set(containers)
    body = httpx.get(f"{api_url}/api/v1/containers", timeout=30, headers=API_HEADERS).json()
    return sum(int(c["drums"]) for c in body if c["container_no"] in wanted)


def influx_loaded(influx: InfluxClient, site: str, station_prefix: str = "") -> int:
    """``scan`` points with result ``loaded`` in InfluxDB (of stations with this prefix)."""
    where = f"site = {quote_str(site)} AND result = 'loaded'"
    if station_prefix:
        where += f" AND station =~ /^{station_prefix}/"
    rows = influx.query(f"SELECT count(id) AS n FROM scan WHERE {where}")
    return int(rows[0]["n"]) if rows else 0


def influx_loaded_ids(influx: InfluxClient, site: str) -> list[str]:
    """Every loaded scan's id in InfluxDB, one entry per stored point."""
    rows = influx.query(f"SELECT id FROM scan WHERE site = {quote_str(site)} AND result = 'loaded'")
    return [str(r["id"]) for r in rows]
