"""The ceilings that bound the pipeline, measured with the same publisher as Gudang.

- a bare paho subscriber that only counts (the Python client's ceiling), QoS 1 and 0;
- ``mosquitto_sub`` (the broker's own client, in C).
"""

from __future__ import annotations

import multiprocessing as mp
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass
from multiprocessing.synchronize import Event as MpEvent
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from bench.loadgen import Ledger, Load, split_plan
from gudang_ops.servers import find_binary

# A ceiling run that has not seen every message by then reports what it saw.
RECEIVE_TIMEOUT_S = 120.0


@dataclass
class CeilingResult:
    """What one consumer received of what the publisher sent."""

    name: str
    sent: int
    received: int
    seconds: float  # from the first publish to the last message received

    @property
    def rate(self) -> float:
        return self.received / self.seconds if self.seconds > 0 else 0.0


def _count(host: str, port: int, topic: str, qos: int, n: int, ready: MpEvent, out: Any) -> None:
    """A subscriber that only counts; reports (count, monotonic time of the last)."""
    state = {"count": 0, "last": 0.0}
    done = threading.Event()

    def on_message(client: paho.Client, userdata: object, msg: paho.MQTTMessage) -> None:
        state["count"] += 1
        if state["count"] >= n:
            state["last"] = time.monotonic()
            done.set()

    def on_subscribe(*args: object) -> None:
        ready.set()

    client = paho.Client(
        CallbackAPIVersion.VERSION2,
        client_id=f"bench-count-{uuid.uuid4().hex[:6]}",
        protocol=paho.MQTTv5,
    )
    client.on_message = on_message
    client.on_subscribe = on_subscribe
    client.on_connect = lambda c, *a: c.subscribe(topic, qos)
    client.connect(host, port, keepalive=30)
    client.loop_start()
    done.wait(RECEIVE_TIMEOUT_S)
    last = state["last"] or time.monotonic()
    client.disconnect()
    client.loop_stop()
    out.put((int(state["count"]), float(last)))


def paho_ceiling(
    host: str, port: int, site: str, stations: list[str], per_station: int, workers: int, qos: int
) -> CeilingResult:
    """Publish at full speed (QoS 1) to a bare paho subscriber at ``qos``."""
    ctx = mp.get_context("spawn")
    ready = ctx.Event()
    out: Any = ctx.Queue()
    n = len(stations) * per_station
    topic = f"gudang/{site}/station/+/scan"
    proc = ctx.Process(target=_count, args=(host, port, topic, qos, n, ready, out), daemon=True)
    proc.start()
    try:
        if not ready.wait(30):
            raise RuntimeError("counting subscriber did not subscribe")
        plans = split_plan(host, port, site, "ceil", 1, stations, per_station, 0, workers)
        ledger = Ledger(Load(plans).join())
        count, last = out.get(timeout=RECEIVE_TIMEOUT_S + 10)
    finally:
        proc.join(timeout=10)
        if proc.is_alive():
            proc.kill()
    return CeilingResult(
        f"paho subscriber QoS {qos}", ledger.accepted, count, last - ledger.first_publish
    )


def mosquitto_sub_ceiling(
    host: str, port: int, site: str, stations: list[str], per_station: int, workers: int
) -> CeilingResult:
    """Publish at full speed to ``mosquitto_sub -q 1`` (the broker's C client)."""
    binary = find_binary("mosquitto_sub", "apt-get install mosquitto-clients")
    n = len(stations) * per_station
    marker = f"gudang/{site}/bench-ready"
    # A retained marker arrives right after the SUBACK: the first line says "subscribed".
    pub = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    pub.connect(host, port)
    pub.loop_start()
    pub.publish(marker, b"ready", qos=1, retain=True).wait_for_publish(10)
    proc = subprocess.Popen(
        [
            binary, "-h", host, "-p", str(port), "-q", "1", "-V", "mqttv5",
            "-t", f"gudang/{site}/station/+/scan", "-t", marker,
            "-C", str(n + 1), "-F", "%t", "-W", str(int(RECEIVE_TIMEOUT_S)),
        ],
        stdout=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        if marker.encode() not in first:
            raise RuntimeError(f"mosquitto_sub did not subscribe: {first!r}")
        pub.publish(marker, b"", qos=1, retain=True)  # clear the retained marker
        lines = 0
        plans = split_plan(host, port, site, "msub", 1, stations, per_station, 0, workers)
        load = Load(plans)
        while chunk := proc.stdout.read(65536):
            lines += chunk.count(b"\n")
        last = time.monotonic()
        ledger = Ledger(load.join())
        proc.wait(timeout=RECEIVE_TIMEOUT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        pub.disconnect()
        pub.loop_stop()
    return CeilingResult("mosquitto_sub QoS 1", ledger.accepted, lines, last - ledger.first_publish)
