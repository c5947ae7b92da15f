"""Test kit for the floor services: send commands and scans over real MQTT, watch results.

A ``Floorkit`` is an MQTT client (the harness' MqttLink, nothing mocked) that keeps the
latest retained state, every alert message in arrival order, and the services' replies.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import msgspec

from bench.loadgen import station_scan
from gudang.influx import InfluxClient, quote_str
from gudang.mqtt import Message, MqttLink
from gudang.settings import Settings
from gudang.wire import (
    AlertV1,
    CommandV1,
    ContainerStateV1,
    QcResult,
    ReceiptV1,
    ReplyV1,
    ScanKind,
    ScanV1,
    StationViewV1,
    StockV1,
    Topics,
    WeightStatus,
    alert_decoder,
    container_state_decoder,
    encode,
    receipt_decoder,
    reply_decoder,
    station_view_decoder,
    stock_decoder,
)
from tests.harness import Probe, wait_for

CONTAINER = "CSQU3054383"
OTHER_CONTAINER = "MSKU1234565"


class Floorkit:
    """Drive the services like a station and the API would, and watch what they publish."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.site = settings.site.name
        self.topics = Topics(self.site)
        self._lock = threading.Lock()
        self.replies: dict[str, ReplyV1] = {}
        self.retained: dict[str, bytes] = {}
        self.alert_log: list[AlertV1] = []  # every alert message, in arrival order
        self.deadletters: list[bytes] = []
        self.link = MqttLink(
            settings.mqtt,
            f"kit-{uuid.uuid4().hex[:8]}",
            subscriptions=[
                (self.topics.all_replies, 1),
                (self.topics.all_state, 1),
                (self.topics.all_alerts, 1),
                (self.topics.deadletter, 1),
            ],
            on_message=self._on_message,
        )
        self.link.start()
        if not self.link.wait_connected(10) or not self.link.wait_subscribed(10):
            raise RuntimeError("kit could not connect and subscribe")

    def close(self) -> None:
        """Disconnect."""
        self.link.stop()

    def __enter__(self) -> Floorkit:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _on_message(self, msg: Message) -> None:
        with self._lock:
            parts = msg.topic.split("/")
            if parts[2] == "reply":
                reply = reply_decoder.decode(msg.payload)
                self.replies[reply.request_id] = reply
            elif parts[2] == "alert":
                self.retained[msg.topic] = msg.payload
                if msg.payload:
                    self.alert_log.append(alert_decoder.decode(msg.payload))
            elif parts[2] == "deadletter":
                self.deadletters.append(msg.payload)
            else:
                self.retained[msg.topic] = msg.payload

    # -- sending -------------------------------------------------------------------------------
    def command(self, name: str, /, actor: str = "tester", **args: Any) -> ReplyV1:
        """Send a command and wait for the services' reply."""
        request_id = uuid.uuid4().hex
        cmd = CommandV1(request_id=request_id, actor=actor, args=args)
        self.link.publish_and_wait(self.topics.command(name), encode(cmd))
        return wait_for(  # type: ignore[no-any-return]
            lambda: self.replies.get(request_id), what=f"reply to {name}"
        )

    def ok(self, name: str, /, actor: str = "tester", **args: Any) -> dict[str, Any]:
        """Send a command that must succeed; its result."""
        reply = self.command(name, actor=actor, **args)
        assert reply.ok, f"{name} {args} refused: {reply.code} {reply.error}"
        return reply.result or {}

    def scan(
        self,
        station: str,
        barcode: str,
        *,
        kind: ScanKind = ScanKind.DRUM,
        weight: float | None = 9.5,
        status: WeightStatus | None = None,
        ts: datetime | None = None,
        scan_id: str | None = None,
        qc: QcResult | None = None,
    ) -> ScanV1:
        """Publish one scan as a bridge would (QoS 1, acknowledged by the broker)."""
        scan = make_scan(
            self.site,
            station,
            barcode,
            weight,
            ts,
            kind=kind,
            status=status,
            scan_id=scan_id,
            qc=qc,
        )
        self.link.publish_and_wait(self.topics.scan(station), encode(scan))
        return scan

    def receive(
        self,
        *labels: str,
        station: str = "recv-1",
        supplier: str = "Pak Darto",
        weight: float = 9.5,
    ) -> None:
        """Set `station` receiving from `supplier` and scan each of `labels` there."""
        self.ok("station/set-mode", station=station, mode="receiving", supplier=supplier)
        for label in labels:
            self.scan(station, label, weight=weight)

    def open_at(self, container_no: str, *stations: str, **args: Any) -> None:
        """Open a container (``args``: the command's others) and point `stations` at it."""
        self.ok("container/open", container_no=container_no, **args)
        for station in stations:
            self.point_at(station, container_no)

    def point_at(self, station: str, container_no: str) -> None:
        """Scan a container label at a station and wait until the station follows it."""
        self.scan(station, container_no, kind=ScanKind.CONTAINER)
        wait_for(
            lambda: (s := self.station(station)) and s.active_container == container_no,
            what=f"{station} pointed at {container_no}",
        )

    # -- watching ----------------------------------------------------------------------------
    def container(self, container_no: str) -> ContainerStateV1 | None:
        """The container's latest retained state."""
        payload = self.retained.get(self.topics.state_container(container_no))
        return container_state_decoder.decode(payload) if payload else None

    def station(self, name: str) -> StationViewV1 | None:
        """The station's latest retained view."""
        payload = self.retained.get(self.topics.state_station(name))
        return station_view_decoder.decode(payload) if payload else None

    def stock(self) -> StockV1 | None:
        """The latest retained stock."""
        payload = self.retained.get(self.topics.state_stock)
        return stock_decoder.decode(payload) if payload else None

    def stock_of(self, sku: str, location: str = "warehouse") -> int:
        """Drums of a SKU at a location, by the latest retained stock."""
        stock = self.stock()
        if stock is None:
            return 0
        return sum(i["drums"] for i in stock.items if i["sku"] == sku and i["location"] == location)

    def wait_drums(self, container_no: str, drums: int, timeout: float = 10.0) -> ContainerStateV1:
        """Wait until the retained state shows this many drums in the container."""
        return wait_for(  # type: ignore[no-any-return]
            lambda: (c := self.container(container_no)) and c.drums == drums and c,
            timeout=timeout,
            what=f"{container_no} with {drums} drums",
        )

    def wait_stock(self, sku: str, where: dict[str, int], what: str) -> None:
        """Wait until the retained stock shows, of a SKU, this many drums at each location."""
        wait_for(
            lambda: all(self.stock_of(sku, location) == n for location, n in where.items()),
            what=f"{what} ({sku}: {where})",
        )

    def alerts_of(self, kind: str, states: Iterable[str] = ("raised",)) -> list[AlertV1]:
        """Alert messages seen of one kind and states, in arrival order."""
        wanted = set(states)
        with self._lock:
            return [a for a in self.alert_log if a.kind == kind and a.state in wanted]

    def wait_alert(self, kind: str, state: str = "raised", timeout: float = 10.0) -> AlertV1:
        """Wait for an alert message of a kind in a state; the first such."""
        found: list[AlertV1] = wait_for(
            lambda: self.alerts_of(kind, (state,)), timeout=timeout, what=f"{kind} {state}"
        )
        return found[0]

    def retained_alert(self, alert_id: str) -> AlertV1 | None:
        """What the broker keeps for an alert (None once cleared and emptied)."""
        payload = self.retained.get(self.topics.alert(alert_id))
        return alert_decoder.decode(payload) if payload else None


class Receipts:
    """Every receipt published on the site's stations' receipt topics."""

    def __init__(self, settings: Settings) -> None:
        self.site = settings.site.name
        self.probe = Probe(settings, f"gudang/{self.site}/station/+/receipts")
        self.got: list[tuple[str, ReceiptV1]] = []  # (topic's station, receipt)

    def take(self) -> None:
        """Move what arrived into ``got``."""
        while not self.probe.messages.empty():
            msg = self.probe.messages.get_nowait()
            self.got.append((msg.topic.split("/")[3], receipt_decoder.decode(msg.payload)))

    def ids(self, station: str) -> list[str]:
        """The scan ids named by the station's receipts so far, in order."""
        self.take()
        return [i for s, r in self.got if s == station for i in r.ids]

    def count(self, station: str) -> int:
        """How many receipts the station got so far."""
        self.take()
        return sum(1 for s, _r in self.got if s == station)

    def clear(self) -> None:
        """Forget the receipts seen so far."""
        self.take()
        self.got.clear()


def rows(
    influx: InfluxClient, measurement: str, site: str, where: str = ""
) -> list[dict[str, Any]]:
    """Stored rows of a measurement for the site."""
    q = f'SELECT * FROM "{measurement}" WHERE site = {quote_str(site)}'
    if where:
        q += f" AND {where}"
    return influx.query(q)


def alert_states(influx: InfluxClient, site: str, kind: str) -> list[str]:
    """The stored transitions of one kind of alert, oldest first (raised, cleared, ...)."""
    return [str(r["state"]) for r in rows(influx, "alert", site, f"kind = {quote_str(kind)}")]


def assert_loaded_once(influx: InfluxClient, site: str, n_scans: int) -> None:
    """Exactly ``n_scans`` loaded scans are stored, each id once: none lost, none twice."""
    loaded = rows(influx, "scan", site, "result = 'loaded'")
    assert len(loaded) == n_scans
    assert len({r["id"] for r in loaded}) == n_scans


def comparable(struct: msgspec.Struct) -> dict[str, Any]:
    """A state payload without its publication time, for before/after comparisons."""
    data: dict[str, Any] = msgspec.to_builtins(struct)
    data.pop("updated_at", None)
    return data


def drum(n: int, sku: str = "JMB-L") -> str:
    """The internal label of drum number ``n``."""
    return f"CB-{sku}-{n:06d}"


class WebhookReceiver:
    """A tiny real HTTP server receiving webhook POSTs (the receiving end, not a mock).

    ``fail_first`` requests are answered 500, to see the sender retry. ``reserved`` is a
    socket bound earlier (not listening: connections to it are refused) that the receiver
    starts listening on, for a gateway that is down first and comes back on its address.
    """

    def __init__(self, fail_first: int = 0, reserved: socket.socket | None = None) -> None:
        self.bodies: list[AlertV1] = []
        self.requests = 0
        self._fail_left = fail_first
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.requests += 1
                if receiver._fail_left > 0:
                    receiver._fail_left -= 1
                    self.send_response(500)
                else:
                    receiver.bodies.append(alert_decoder.decode(body))
                    self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet test output

        if reserved is None:
            self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        else:
            # The port stayed bound all along: no other process (nor a client's own
            # ephemeral port, a TCP self-connect) can have taken it in between.
            self.server = ThreadingHTTPServer(
                reserved.getsockname(), Handler, bind_and_activate=False
            )
            self.server.socket.close()
            self.server.socket = reserved
            self.server.server_activate()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def of(self, kind: str, state: str = "raised") -> list[AlertV1]:
        """Alerts received of a kind in a state."""
        return [a for a in list(self.bodies) if a.kind == kind and a.state == state]

    def close(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)


def make_scan(
    site: str,
    station: str,
    barcode: str,
    weight: float | None = 9.5,
    ts: datetime | None = None,
    *,
    kind: ScanKind = ScanKind.DRUM,
    status: WeightStatus | None = None,
    scan_id: str | None = None,
    qc: QcResult | None = None,
) -> ScanV1:
    """A scan as a bridge sends it (``station_scan``), or with the scale's own `status`."""
    scan = station_scan(
        site,
        station,
        barcode,
        weight if kind is ScanKind.DRUM else None,
        kind,
        qc,
        sid=scan_id,
        ts=ts,
    )
    if status is None:
        return scan
    # What a scale reports besides a stable weight (overload, error, ...), as the bridge says it.
    return msgspec.structs.replace(
        scan, weight_stable=status is WeightStatus.STABLE, weight_status=status
    )


def scan_messages(
    site: str, stations: Sequence[str], labels: Iterable[str]
) -> list[tuple[str, bytes]]:
    """Drum scans of `labels` as ``(topic, payload)`` for a Streamer, the stations in turn."""
    topics = Topics(site)
    messages = []
    for n, label in enumerate(labels):
        station = stations[n % len(stations)]
        messages.append((topics.scan(station), encode(make_scan(site, station, label))))
    return messages


class Streamer:
    """Publishes many messages over real MQTT at QoS 1 from a thread, paced or flat out.

    ``acked`` counts the broker's PUBACKs: a message acknowledged by the broker is one the
    services must count, whatever happens to them afterwards.
    """

    def __init__(self, settings: Settings) -> None:
        self._lock = threading.Lock()
        self.acked = 0
        self.sent = 0
        self.link = MqttLink(
            settings.mqtt, f"streamer-{uuid.uuid4().hex[:8]}", on_published=self._published
        )
        self.link.start()
        if not self.link.wait_connected(10):
            raise RuntimeError("streamer could not connect")
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def _published(self, mid: int, ok: bool) -> None:
        if ok:
            with self._lock:
                self.acked += 1

    def start(self, messages: list[tuple[str, bytes]], per_second: float | None = None) -> None:
        """Publish ``(topic, payload)`` pairs in order, at most ``per_second``."""

        def run() -> None:
            begin = time.monotonic()
            for i, (topic, payload) in enumerate(messages):
                if self._stop.is_set():
                    return
                if per_second is not None:
                    due = begin + i / per_second
                    pause = due - time.monotonic()
                    if pause > 0 and self._stop.wait(pause):
                        return
                self.link.publish(topic, payload, qos=1)
                self.sent += 1

        self._thread = threading.Thread(target=run, name="streamer", daemon=True)
        self._thread.start()

    def wait_done(self, count: int, timeout: float = 60.0) -> None:
        """Wait until ``count`` messages were acknowledged by the broker."""
        wait_for(lambda: self.acked >= count, timeout=timeout, what=f"{count} PUBACKs")

    def close(self) -> None:
        """Stop publishing and disconnect."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.link.stop()


def count(influx: InfluxClient, measurement: str, site: str, where: str = "") -> int:
    """Stored rows of a measurement for the site (by ``count(*)``)."""
    q = f'SELECT count(*) FROM "{measurement}" WHERE site = {quote_str(site)}'
    if where:
        q += f" AND {where}"
    result = influx.query(q)
    if not result:
        return 0
    return max(int(v) for k, v in result[0].items() if k.startswith("count_") and v is not None)


def services_config(
    settings: Settings, path: Path, *, influx_url: str | None = None, ingest_extra: str = ""
) -> Path:
    """A site file at `path` for ``gudang services`` run as its own process against `settings`."""
    path.write_text(
        f"""
[site]
name = "{settings.site.name}"

[mqtt]
host = "{settings.mqtt.host}"
port = {settings.mqtt.port}
keepalive_s = 10

[influx]
url = "{influx_url or settings.influx.url}"
database = "{settings.influx.database}"

[ingest]
linger_ms = 5
batch_size = 200
{ingest_extra}"""
    )
    return path


SERVICES_RUNNING = "services running for site"  # logged once connected and subscribed


def start_services_process(config: Path, log: Path) -> subprocess.Popen[bytes]:
    """``gudang --config FILE services`` as its own process; returns once it consumes."""
    gudang = Path(sys.executable).with_name("gudang")
    seen = log.read_text().count(SERVICES_RUNNING) if log.exists() else 0
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [str(gudang), "--config", str(config), "services"],
            stdout=out,
            stderr=out,
            start_new_session=True,
        )
    wait_for(
        lambda: (
            log.read_text(errors="replace").count(SERVICES_RUNNING) > seen
            or proc.poll() is not None
        ),
        timeout=90,
        what="services subprocess running",
    )
    assert proc.poll() is None, log.read_text(errors="replace")[-3000:]
    return proc


def kill_9(proc: subprocess.Popen[bytes]) -> None:
    """``kill -9`` a services process started above (its whole group) and reap it, if it runs."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
