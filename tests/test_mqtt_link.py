"""gudang.mqtt against a real broker: chunked reads and batched acknowledgements.

The link reads the socket in chunks (``RECV_CHUNK``) and acknowledges a batch with one
write (``ack_all``); these tests show that every message still arrives whole and in order,
none waits in the buffer, and every acknowledgement reaches the broker. Subscriptions added
later (``subscribe``) answer once the broker confirmed them.
"""

from __future__ import annotations

import queue
import threading
import uuid

import pytest

import gudang.mqtt
from bench.loadgen import drum_label, drum_scan
from gudang.mqtt import RECV_CHUNK, RECV_CHUNKS_PER_WAKEUP, Message, MqttLink
from gudang.settings import Settings
from gudang.wire import Topics, encode
from gudang_ops.servers import free_port
from tests.harness import Probe, running_services, wait_for

# Longer than any wait below: a message left in the buffer would only come out with
# the next keepalive ping, and the test would time out first.
KEEPALIVE_S = 120
WAIT_S = 60.0


@pytest.fixture(params=["chunked", "stock-paho"])
def paho_client(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both ways the link runs: its chunked reader, and paho's own (a paho without the
    internals the reader relies on)."""
    if request.param == "stock-paho":
        monkeypatch.setattr(gudang.mqtt, "PAHO_INTERNALS_OK", False)
    return str(request.param)


def _settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"mqtt": settings.mqtt.model_copy(update={"keepalive_s": KEEPALIVE_S})}
    )


@pytest.mark.parametrize("qos", [0, 1])
def test_a_burst_larger_than_a_wakeup_arrives_whole_in_order(
    settings: Settings, qos: int, paho_client: str
) -> None:
    """At QoS 0 no acknowledgement wakes paho's thread: only the socket's readiness does."""
    settings = _settings(settings)
    topic = f"gudang/{settings.site.name}/test/burst"
    got: queue.Queue[Message] = queue.Queue()
    published = threading.Event()

    def on_message(message: Message) -> None:
        # Held up until everything is published: the burst waits in the socket and the
        # broker, and is then read in full chunks, the last bytes with the last chunk.
        published.wait(WAIT_S)
        got.put(message)

    sub = MqttLink(
        settings.mqtt,
        f"sub-{uuid.uuid4().hex[:8]}",
        subscriptions=[(topic, qos)],
        on_message=on_message,
    )
    sub.start()
    pub = Probe(settings)
    try:
        assert sub.wait_connected(30)
        assert sub.wait_subscribed(30)
        # Small messages (many per chunk, some split across two chunks), and large ones
        # (several chunks each): more bytes than one wake-up reads.
        sent: list[bytes] = []
        total = 0
        i = 0
        while total < 3 * RECV_CHUNK * RECV_CHUNKS_PER_WAKEUP:
            size = 150_000 if i % 500 == 499 else 40 + i % 300
            payload = f"{i:08d}".encode() + bytes([i % 251]) * size
            sent.append(payload)
            total += len(payload)
            i += 1
        for payload in sent[:-1]:
            pub.link.publish(topic, payload, qos=1)
        pub.publish(topic, sent[-1])  # waits for the broker's PUBACK of the last
        published.set()
        received: list[bytes] = []
        while len(received) < len(sent):
            try:
                received.append(got.get(timeout=WAIT_S).payload)
            except queue.Empty:
                raise AssertionError(
                    f"{len(sent) - len(received)} of {len(sent)} messages never arrived"
                ) from None
        assert [p[:8] for p in received] == [p[:8] for p in sent]  # in order
        assert received == sent  # and whole
    finally:
        sub.stop()
        pub.close()


def test_acknowledged_batches_are_not_redelivered_after_a_restart(
    settings: Settings, paho_client: str
) -> None:
    """Every PUBACK of ``ack_all`` reached the broker: the resumed session brings nothing back."""
    settings = _settings(settings)
    site = settings.site.name
    topics = Topics(site)
    probe = Probe(settings)
    scans = 600
    try:
        with running_services(settings) as services:
            for seq in range(scans):
                station = f"st{seq % 6}"
                scan = drum_scan(site, station, uuid.uuid4().hex, drum_label(1, seq % 6, seq))
                probe.link.publish(topics.scan(station), encode(scan), qos=1)
            wait_for(
                lambda: services.ingest.counters["acked"] >= scans,
                timeout=WAIT_S,
                what=f"{scans} scans acknowledged",
            )
            assert services.ingest.counters["received"] == scans
        # The same persistent session again. Unacknowledged messages would come first;
        # the marker published now comes after anything the broker still holds.
        with running_services(settings) as again:
            marker = drum_scan(site, "st0", uuid.uuid4().hex, drum_label(2, 0, 0))
            probe.publish(topics.scan("st0"), encode(marker))
            wait_for(
                lambda: again.ingest.counters["acked"] >= 1,
                timeout=WAIT_S,
                what="the marker scan acknowledged",
            )
            assert again.ingest.counters["redelivered"] == 0
            assert again.ingest.counters["received"] == 1
    finally:
        probe.close()


def test_a_subscription_added_later_answers_once_confirmed(
    settings: Settings, paho_client: str
) -> None:
    """Asked before the connection and while connected: True, then its messages arrive."""
    settings = _settings(settings)
    base = f"gudang/{settings.site.name}/test/later-{uuid.uuid4().hex[:6]}"
    got: queue.Queue[Message] = queue.Queue()
    sub = MqttLink(settings.mqtt, f"sub-{uuid.uuid4().hex[:8]}", on_message=got.put)
    before = sub.subscribe(f"{base}/a", 1)
    assert not before.done()  # not started: nothing can confirm it yet
    sub.start()
    pub = Probe(settings)
    try:
        assert before.result(timeout=WAIT_S) is True
        assert sub.wait_connected(WAIT_S)
        connected = sub.subscribe(f"{base}/b", 1)
        assert connected.result(timeout=WAIT_S) is True
        # Asked again: confirmed again, and its messages still come once each.
        assert sub.subscribe(f"{base}/b", 1).result(timeout=WAIT_S) is True
        for topic in (f"{base}/a", f"{base}/b", f"{base}/a"):
            pub.publish(topic, topic.encode())
        seen = [got.get(timeout=WAIT_S).topic for _ in range(3)]
        assert seen == [f"{base}/a", f"{base}/b", f"{base}/a"]
        assert got.empty()
    finally:
        pub.close()
        sub.stop()


def test_a_subscription_never_confirmed_answers_false_when_the_link_stops(
    settings: Settings,
) -> None:
    """No broker: the waiter is not left hanging by stop()."""
    nobody = settings.mqtt.model_copy(update={"port": free_port()})
    link = MqttLink(nobody, f"sub-{uuid.uuid4().hex[:8]}")
    link.start()
    try:
        waiter = link.subscribe("gudang/nowhere/test", 1)
        assert not waiter.done()
    finally:
        link.stop()
    assert waiter.result(timeout=WAIT_S) is False
