"""The ingest pipeline: queue -> batch -> write -> publish -> acknowledge.

One persistent MQTT session (fixed client id, no clean start) with manual
acknowledgement. paho's thread only queues messages; the ingest thread takes them in
batches (by size or linger time), has the interpreter (``services/interpret.py``) decide
what each means, writes the batch to InfluxDB and only then publishes the changed state,
sends each station a receipt for its scans (the station then deletes them from its spool)
and acknowledges the batch, in the order received. The broker's Receive Maximum bounds
how much can be in flight, so while InfluxDB is down the ingest holds acknowledgements
and the broker holds the rest.

Alerts raised by a batch are stored with it, then published retained on
``alert/<id>`` and sent to the webhooks. Between batches the thread ticks: heartbeat
timeouts and the services' own broker link.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import msgspec

from gudang.influx import InfluxClient, InfluxRejected, InfluxUnavailable
from gudang.mqtt import Message, MqttLink
from gudang.settings import Settings
from gudang.wire import (
    MAX_RECEIPT_IDS,
    QOS_ALERT,
    QOS_COMMAND,
    QOS_DEADLETTER,
    QOS_RECEIPT,
    QOS_SCAN,
    QOS_STATE,
    QOS_STATUS,
    QOS_WEIGHT,
    AlertKind,
    AlertRoutingV1,
    AlertState,
    AlertV1,
    DeadLetterV1,
    ReceiptV1,
    Topics,
    encode,
)
from services import alerts as rules
from services.checkpoint import load_state, write_checkpoint
from services.interpret import DEADLETTER_PAYLOAD_CHARS, Batch, Interpreter, Refused
from services.rebuild import Rebuilt
from services.recent import window_start_ns
from services.records import (
    Stamper,
    alert_line,
    dead_letter_line,
)
from services.scales import ScaleWatch
from services.shipped import ShippedLookup
from services.webhooks import WebhookSender

log = logging.getLogger(__name__)

# Back-off between write attempts while InfluxDB is unavailable.
RETRY_MIN_S = 0.2
# How often the ingest thread looks at heartbeats and its own broker link.
TICK_S = 1.0
# How often the duplicate window forgets what it has left behind (services/recent.py).
PRUNE_S = 600.0


class Ingest:
    """Consumes the site's station and command topics into InfluxDB and the floor state."""

    def __init__(self, settings: Settings, influx: InfluxClient, state: Rebuilt) -> None:
        self.settings = settings
        self.site = settings.site.name
        self.topics = Topics(self.site)
        self.influx = influx
        self.counters: Counter[str] = Counter()
        self.stamp = Stamper(state.last_ns)
        self.influx_ok = True
        self.webhooks = WebhookSender(settings.alerts, self.site, settings.site)
        self.scales = ScaleWatch(self.site, settings.alerts, self.counters)
        # Bounded by the Receive Maximum we ask of the broker (see _enqueue).
        self._queue: queue.Queue[Message] = queue.Queue(maxsize=settings.ingest.max_inflight)
        self._stop = threading.Event()
        self.shipped_lookup = ShippedLookup(influx, self.site, self._stop)
        self._adopt(state)
        self.max_queued = 0  # the most messages ever waiting in the queue at once
        self._next_prune = time.monotonic() + PRUNE_S
        self._checkpoint_due = time.monotonic() + settings.ingest.checkpoint_interval_s
        self._received_at_checkpoint = 0
        self._shipped_at_checkpoint = state.floor.shipped.count
        self._state_lock = threading.Lock()  # the floor is changed and published under it
        self._thread: threading.Thread | None = None
        self._storage_down_since: float | None = None
        self._broker_down_since: float | None = time.monotonic()  # until first connected
        self._next_tick = 0.0
        self._connected_before = False
        self._republish = False  # set on a reconnection: publish all state and open alerts
        self.link = MqttLink(
            settings.mqtt,
            settings.mqtt.client_id or f"gudang-services-{self.site}",
            subscriptions=[
                (self.topics.all_scans, QOS_SCAN),
                (self.topics.all_status, QOS_STATUS),
                (self.topics.all_commands, QOS_COMMAND),
                # QoS 0: live readings, never queued for us by the broker while we are away.
                (self.topics.all_weights, QOS_WEIGHT),
            ],
            on_message=self._enqueue,
            on_connection=self._connection_changed,
            persistent=True,
            manual_ack=True,
            receive_maximum=settings.ingest.max_inflight,
        )

    @property
    def queued(self) -> int:
        """Messages received and waiting for the ingest thread."""
        return self._queue.qsize()

    def _adopt(self, state: Rebuilt) -> None:
        """Take over a rebuilt state: the interpreter (and its commands) work on it."""
        self.state = state
        self.floor = state.floor
        self.alerts = state.alerts
        # A drum the floor does not know may have shipped long ago: InfluxDB knows.
        self.floor.shipped_lookup = self.shipped_lookup
        # The plain webhooks' kinds: the admin's live routing, else alerts.webhook_kinds.
        self.webhooks.set_webhook_kinds(self.alert_routing().webhook_kinds)
        self.interpreter = Interpreter(
            self.settings, state, self.stamp, self.counters, self._queue.qsize
        )

    def alert_routing(self, now: datetime | None = None) -> AlertRoutingV1:
        """The alert routing in force: the admin's, else the configuration's."""
        if self.floor.alert_routing is not None:
            return self.floor.alert_routing
        a = self.settings.alerts
        return AlertRoutingV1(
            updated_at=now, dashboard_kinds=a.dashboard_kinds, webhook_kinds=a.webhook_kinds
        )

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        """Connect to the broker and start the ingest thread."""
        self.webhooks.start()
        self._thread = threading.Thread(target=self._run, name="ingest", daemon=True)
        self._thread.start()
        self.link.start()

    def stop(self) -> None:
        """Stop taking messages; what is not acknowledged is redelivered next time."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.link.stop()
        self.webhooks.stop()

    # -- paho's thread ---------------------------------------------------------------------
    def _connection_changed(self, connected: bool) -> None:
        # Only noted here; the ingest thread raises or clears the alert on its next tick.
        if connected:
            if self._connected_before:
                # A broker restarted after a crash may have lost retained messages.
                self._republish = True
            self._connected_before = True
            self._broker_down_since = None
        elif self._broker_down_since is None:
            self._broker_down_since = time.monotonic()

    def _enqueue(self, message: Message) -> None:
        parts = message.topic.split("/")
        if len(parts) == 5 and parts[2] == "station" and parts[4] == "weight":
            # Not a batch item: nothing to acknowledge, stored apart (services/scales.py).
            self.scales.take(parts[3], message.payload, datetime.now(UTC))
            return
        try:
            self._queue.put_nowait(message)
        except queue.Full:
            # Mosquitto 2.0 honours our Receive Maximum while nothing is acknowledged
            # (InfluxDB down), but after acknowledgements it may send more than the window
            # (tried: one PUBACK released a whole window). Then paho's thread waits here:
            # the rest stays in the socket and the broker, and the queue stays bounded. The
            # wait is short: it happens only while the ingest thread is writing.
            self.counters["queue_waits"] += 1
            try:
                self._queue.put(message, timeout=self.settings.mqtt.keepalive_s / 2)
            except queue.Full:
                # Waiting longer would miss the keepalive; unacknowledged, the broker
                # redelivers it when the session resumes.
                self.counters["queue_full"] += 1
                log.error("ingest queue full; %s left unacknowledged", message.topic)
                return
        self.max_queued = max(self.max_queued, self._queue.qsize())

    # -- the ingest thread -----------------------------------------------------------------
    def _collect(self) -> list[Message]:
        try:
            first = self._queue.get(timeout=0.2)
        except queue.Empty:
            return []
        batch = [first]
        deadline = time.monotonic() + self.settings.ingest.linger_ms / 1000
        limit = self.settings.ingest.batch_size
        while len(batch) < limit:
            try:
                batch.append(self._queue.get_nowait())
                continue
            except queue.Empty:
                pass
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                batch.append(self._queue.get(timeout=remaining))
            except queue.Empty:
                break
        return batch

    def _run(self) -> None:
        while not self._stop.is_set():
            messages = self._collect()
            try:
                if messages:
                    self.process(messages)
                if time.monotonic() >= self._next_tick:
                    self._next_tick = time.monotonic() + TICK_S
                    self.tick()
            except Exception:  # a bug must not silently stop the ingest
                log.exception("ingest batch failed; messages left unacknowledged")
                self.counters["batch_errors"] += 1
                time.sleep(1.0)

    def process(self, messages: list[Message]) -> None:
        """Decide, write, publish and acknowledge one batch."""
        with self._state_lock:
            self._process(messages)

    def checkpoint(self, why: str) -> bool:
        """Store a checkpoint of the live state now; False (logged) when it could not be."""
        with self._state_lock:
            return self._checkpoint(datetime.now(UTC), why)

    def _checkpoint(self, now: datetime, why: str) -> bool:
        if self.alerts.transitions:
            # Alert transitions not stored yet (InfluxDB down): a checkpoint now would hold
            # what the store does not. The next one will do.
            return False
        started = time.monotonic()
        try:
            header = write_checkpoint(self.influx, self.settings, self.state, self.stamp, now)
        except (InfluxUnavailable, InfluxRejected) as exc:
            # Only the next start's speed depends on it: try again at the next interval.
            log.error("checkpoint (%s) not stored: %s", why, exc)
            self.counters["checkpoint_errors"] += 1
            return False
        finally:
            self._checkpoint_due = time.monotonic() + self.settings.ingest.checkpoint_interval_s
        self._received_at_checkpoint = self.counters["received"]
        self._shipped_at_checkpoint = self.floor.shipped.count
        self.counters["checkpoints"] += 1
        log.info(
            "checkpoint (%s) stored: %d parts in %.2f s",
            why,
            header.parts,
            time.monotonic() - started,
        )
        return True

    def _housekeeping(self, now: datetime) -> None:
        """The window forgets old ids; a checkpoint when one is due."""
        mono = time.monotonic()
        if mono >= self._next_prune:
            self._next_prune = mono + PRUNE_S
            start = window_start_ns(now, self.settings.floor)
            gone = self.state.seen_scans.prune(start) + self.state.scan_points.prune(start)
            self.counters["window_pruned"] += gone
        if (
            mono >= self._checkpoint_due
            and self.counters["received"] != self._received_at_checkpoint
        ):
            self._checkpoint(now, "interval")

    def tick(self) -> None:
        """Time-driven alerts: heartbeats that stopped, the services' own broker link."""
        with self._state_lock:
            now = datetime.now(UTC)
            self._housekeeping(now)
            rules.on_heartbeats(self.alerts, self.floor, self.settings.alerts, now)
            if self.influx_ok:  # while it is down, the readings wait (bounded)
                self.scales.write(self.influx)
            self.scales.evaluate(self.alerts, now)
            if self._republish and self.link.ready:
                self._republish = False
                self.counters["republished"] += 1
                self.floor.mark_all_changed()
                self._publish_changes(now)
                self._publish_open_alerts()
            down = self._broker_down_since
            if down is None:
                self.alerts.clear_condition(AlertKind.BROKER_UNREACHABLE, self.site, now)
            elif time.monotonic() - down >= self.settings.alerts.broker_grace_s:
                self.alerts.raise_(
                    AlertKind.BROKER_UNREACHABLE,
                    self.site,
                    now - timedelta(seconds=time.monotonic() - down),
                    f"the services cannot reach the MQTT broker at "
                    f"{self.settings.mqtt.host}:{self.settings.mqtt.port}",
                    data={"error": self.link.last_error},
                )
            if not self.alerts.transitions:
                return
            batch = Batch()
            self._store_alerts(batch, now)
            if self._write(batch, now):
                self._publish_batch(batch, now)

    def _process(self, messages: list[Message]) -> None:
        now = datetime.now(UTC)
        batch = Batch()
        for msg in messages:
            self.counters["received"] += 1
            try:
                self.interpreter.take(msg, now, batch)
            except Refused as exc:
                self.interpreter.dead_letter(msg, str(exc), now, batch)
            except Exception as exc:
                # A bug met by one message must not stall the stream behind it (it would
                # never be acknowledged): dead-letter it, loudly, and go on.
                log.exception("internal error on a message from %s; dead-lettered", msg.topic)
                self.counters["internal_errors"] += 1
                self.interpreter.dead_letter(msg, f"internal error: {exc!r}", now, batch)
        self._store_alerts(batch, now)
        if not self._write(batch, now):
            return  # stopping: leave the batch unacknowledged
        self._publish_batch(batch, now)
        self.link.ack_all(messages)
        self.counters["acked"] += len(messages)
        if self.floor.shipped.count != self._shipped_at_checkpoint:
            # A container shipped: its drums left memory; the next start need not read them.
            self._checkpoint(now, "shipped")

    def _store_alerts(self, batch: Batch, now: datetime) -> None:
        for alert in self.alerts.take():
            batch.lines.append(alert_line(self.site, alert, self.stamp(now)))
            batch.alerts.append(alert)
            self.counters[f"alert_{alert.state.value}"] += 1

    def _publish_batch(self, batch: Batch, now: datetime) -> None:
        """What a durable batch changed: state, alerts, replies, dead letters."""
        self._publish_changes(now)
        for alert in batch.alerts:
            self._publish_alert(alert)
        for topic, payload in batch.replies:
            self.link.publish(topic, payload, qos=QOS_COMMAND)
        for payload in batch.deadletters:
            self.link.publish(self.topics.deadletter, payload, qos=QOS_DEADLETTER)
        self._publish_receipts(batch)

    def _publish_receipts(self, batch: Batch) -> None:
        """One receipt per station (or a few, MAX_RECEIPT_IDS each): delete from your spool."""
        for station, ids in batch.receipts.items():
            topic = self.topics.receipts(station)
            for i in range(0, len(ids), MAX_RECEIPT_IDS):
                receipt = ReceiptV1(station=station, ids=ids[i : i + MAX_RECEIPT_IDS])
                self.link.publish(topic, encode(receipt), qos=QOS_RECEIPT)
                self.counters["receipts_sent"] += 1

    def _publish_alert(self, alert: AlertV1) -> None:
        topic = self.topics.alert(alert.id)
        self.link.publish(topic, encode(alert), qos=QOS_ALERT, retain=True)
        if alert.state is AlertState.CLEARED:
            # Subscribers saw it cleared; the empty retained message removes it from the
            # broker, so a new subscriber gets only the alerts still open.
            self.link.publish(topic, b"", qos=QOS_ALERT, retain=True)
        self.webhooks.send(alert)

    def _write(self, batch: Batch, now: datetime) -> bool:
        """Write until InfluxDB has the batch; False only when asked to stop meanwhile."""
        delay = RETRY_MIN_S
        while True:
            try:
                self.influx.write(batch.lines)
            except InfluxUnavailable as exc:
                if self.influx_ok:
                    log.error("InfluxDB unavailable, holding acknowledgements: %s", exc)
                    self._storage_down_since = time.monotonic()
                self.influx_ok = False
                self.counters["write_retries"] += 1
                self._storage_alert(batch, now, str(exc))
                if self._stop.wait(delay):
                    return False
                delay = min(delay * 2, self.settings.ingest.retry_max_s)
                continue
            except InfluxRejected as exc:
                self._write_rejected(batch, exc)
            if not self.influx_ok:
                log.info("InfluxDB is back; writing resumed")
                self._storage_back()
            self.influx_ok = True
            self.counters["points_written"] += len(batch.lines)
            return True

    def _storage_alert(self, batch: Batch, now: datetime, error: str) -> None:
        """Raise storage_unreachable once the outage outlasts its grace; publish it now."""
        down = self._storage_down_since
        if down is None or time.monotonic() - down < self.settings.alerts.storage_grace_s:
            return
        alert = self.alerts.raise_(
            AlertKind.STORAGE_UNREACHABLE,
            self.site,
            datetime.now(UTC),
            f"InfluxDB at {self.settings.influx.url} is unreachable: scans are held "
            "unacknowledged until it is back",
            data={"error": error[:200]},
        )
        if alert is None:
            return
        # Stored with the batch once InfluxDB takes it; people need to know now.
        self._store_alerts(batch, now)
        self._publish_alert(alert)
        batch.alerts.remove(alert)

    def _storage_back(self) -> None:
        """InfluxDB answers again: clear the outage alert, store and publish the clearing."""
        self._storage_down_since = None
        now = datetime.now(UTC)
        cleared = self.alerts.clear_condition(AlertKind.STORAGE_UNREACHABLE, self.site, now)
        if cleared is None:
            return
        transitions = self.alerts.take()
        try:
            self.influx.write([alert_line(self.site, a, self.stamp(now)) for a in transitions])
        except (InfluxUnavailable, InfluxRejected) as exc:
            log.error("could not store the end of the InfluxDB outage: %s", exc)
        for alert in transitions:
            self._publish_alert(alert)

    def _write_rejected(self, batch: Batch, exc: InfluxRejected) -> None:
        """Find the points InfluxDB refuses (halving the batch), dead-letter them."""
        log.error("InfluxDB refused a batch (%s); isolating the bad points", exc)
        bad: list[tuple[str, str]] = []

        def write_part(lines: list[str]) -> None:
            try:
                self.influx.write(lines)
            except InfluxRejected as err:
                if len(lines) == 1:
                    bad.append((lines[0], err.message))
                    return
                mid = len(lines) // 2
                write_part(lines[:mid])
                write_part(lines[mid:])

        write_part(batch.lines)
        now = datetime.now(UTC)
        for point, reason in bad:
            self.counters["deadlettered"] += 1
            text = point[:DEADLETTER_PAYLOAD_CHARS]
            try:
                self.influx.write(
                    [dead_letter_line(self.site, "influxdb", reason, text, self.stamp(now))]
                )
            except InfluxRejected:
                log.error("dead letter itself refused by InfluxDB: %s", reason)
            batch.deadletters.append(
                encode(DeadLetterV1(ts=now, topic="influxdb", reason=reason, payload=text))
            )
        # The floor state counted points that are not stored: rebuild it from the record.
        self._adopt(load_state(self.settings, self.influx))

    def publish_active_alerts(self) -> None:
        """Publish (retained) every alert not cleared: the broker may have lost them."""
        with self._state_lock:
            self._publish_open_alerts()

    def _publish_open_alerts(self) -> None:
        for alert in self.alerts.active.values():
            self.link.publish(
                self.topics.alert(alert.id), encode(alert), qos=QOS_ALERT, retain=True
            )

    def publish_state(self, now: datetime) -> None:
        """Publish (retained) the state of what changed since the last publish."""
        with self._state_lock:
            self._publish_changes(now)

    def _publish_changes(self, now: datetime) -> None:
        ch = self.floor.changes
        for number in sorted(ch.containers):
            c = self.floor.containers.get(number)
            if c is not None:
                self._publish_state(self.topics.state_container(number), c.view(now))
        for name in sorted(ch.stations):
            st = self.floor.stations.get(name)
            if st is not None:
                self._publish_state(self.topics.state_station(name), st.view())
        for count_id in sorted(ch.stocktakes):
            count = self.floor.stocktakes.get(count_id)
            if count is not None:
                self._publish_state(self.topics.state_stocktake(count_id), count.view())
        if ch.catalogue:
            self._publish_state(self.topics.state_catalogue, self.floor.catalogue_view(now))
        if ch.alert_routing:
            routing = self.alert_routing(now)
            self.webhooks.set_webhook_kinds(routing.webhook_kinds)
            self._publish_state(self.topics.state_alert_routing, routing)
        if ch.stock:
            self._publish_state(self.topics.state_stock, self.floor.stock_view(now))
        if ch.phone_tokens:
            self._publish_state(self.topics.state_phone_tokens, self.floor.phone_tokens_view())
        ch.clear()

    def _publish_state(self, topic: str, view: msgspec.Struct) -> None:
        # Live state is retained: a dashboard or API that connects later gets it at once.
        self.link.publish(topic, encode(view), qos=QOS_STATE, retain=True)
