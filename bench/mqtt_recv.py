"""What receiving a message costs: stock paho beside gudang.mqtt's chunked reader.

    .venv/bin/python -m bench.mqtt_recv

Queues 30,000 QoS 1 messages of 400 bytes for a persistent session, then lets a client
take them all at once, and reports the process CPU per message (the client's work:
reading, parsing, acknowledging). Each client runs three times, alternating, so a busy
neighbour disturbs both alike.
"""

from __future__ import annotations

import resource
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

if __package__ in (None, ""):  # `python bench/mqtt_recv.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from gudang.mqtt import _BufferedClient
from gudang_ops.servers import start_mosquitto

MESSAGES = 30_000
PAYLOAD = b"x" * 400
ROUNDS = 3


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _client(cls: type[paho.Client], client_id: str) -> paho.Client:
    return cls(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5)


def receive(cls: type[paho.Client], port: int) -> tuple[float, float]:
    """(µs of CPU, µs of wall time) per message for a client of ``cls``."""
    client_id = uuid.uuid4().hex
    topic = f"bench/{client_id}"
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = 300
    got = [0]
    done = threading.Event()

    def on_message(client: paho.Client, userdata: object, msg: paho.MQTTMessage) -> None:
        got[0] += 1
        if got[0] >= MESSAGES:
            done.set()

    # Subscribe once, leave: the broker keeps what is published meanwhile.
    sub = _client(cls, client_id)
    sub.connect("127.0.0.1", port, clean_start=False, properties=props)
    sub.subscribe(f"{topic}/#", 1)
    sub.loop_start()
    time.sleep(0.5)
    sub.disconnect()
    sub.loop_stop()
    pub = _client(paho.Client, uuid.uuid4().hex)
    pub.max_inflight_messages_set(1000)
    pub.connect("127.0.0.1", port)
    pub.loop_start()
    infos = [pub.publish(f"{topic}/s{i % 24}/scan", PAYLOAD, 1) for i in range(MESSAGES)]
    infos[-1].wait_for_publish(60)
    pub.disconnect()
    pub.loop_stop()
    sub = _client(cls, client_id)
    sub.on_message = on_message
    t0, c0 = time.monotonic(), _cpu()
    sub.connect("127.0.0.1", port, clean_start=False, properties=props)
    sub.loop_start()
    done.wait(120)
    t1, c1 = time.monotonic(), _cpu()
    sub.disconnect()
    sub.loop_stop()
    n = max(1, got[0])
    return 1e6 * (c1 - c0) / n, 1e6 * (t1 - t0) / n


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="gudang-mqtt-recv-") as tmp:
        mosquitto = start_mosquitto(Path(tmp) / "mosquitto")
        try:
            results: dict[str, list[tuple[float, float]]] = {}
            for _ in range(ROUNDS):
                for name, cls in (("paho", paho.Client), ("gudang.mqtt", _BufferedClient)):
                    results.setdefault(name, []).append(receive(cls, mosquitto.port))
        finally:
            mosquitto.stop()
    for name, runs in results.items():
        cpu = min(c for c, _ in runs)
        wall = min(w for _, w in runs)
        print(
            f"{name:12s} {cpu:5.1f} µs CPU per message (best of {ROUNDS}), {1e6 / wall:,.0f} msg/s"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
