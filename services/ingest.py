"""The ingest: MQTT in, InfluxDB written, live state published, then PUBACK.

One persistent MQTT session (fixed client id, no clean start) with manual
acknowledgement. paho's thread only queues messages; the ingest thread takes them in
batches (by size or linger time), decides what each means, writes the batch to
InfluxDB and only then publishes the changed state, sends each station a receipt for its
scans (the station then deletes them from its spool) and acknowledges the batch, in the
order received. The broker's Receive Maximum bounds how much can be in flight, so while
InfluxDB is down the ingest holds acknowledgements and the broker holds the rest.

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
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import msgspec

from gudang.influx import InfluxClient, InfluxRejected, InfluxUnavailable
from gudang.mqtt import Message, MqttLink
from gudang.settings import Settings
from gudang.storage import ns_to_datetime, scan_time_ns
from gudang.wire import (
    MAX_PAYLOAD_BYTES,
    MAX_RECEIPT_IDS,
    QOS_ALERT,
    QOS_COMMAND,
    QOS_DEADLETTER,
    QOS_RECEIPT,
    QOS_SCAN,
    QOS_STATE,
    QOS_STATUS,
    AlertKind,
    AlertState,
    AlertV1,
    DeadLetterV1,
    ReceiptV1,
    ReplyV1,
    ScanV1,
    Topics,
    command_decoder,
    encode,
    scan_decoder,
    scan_ref_decoder,
    status_decoder,
)
from services import alerts as rules
from services.commands import CommandsMixin
from services.floor import FloorError
from services.rebuild import Rebuilt, rebuild
from services.records import (
    Stamper,
    alert_line,
    dead_letter_line,
    quarantine_line,
    scan_line,
)
from services.webhooks import WebhookSender

log = logging.getLogger(__name__)

# A dead letter keeps this much of the refused payload: enough to see what it was.
DEADLETTER_PAYLOAD_CHARS = 1024
# Back-off between write attempts while InfluxDB is unavailable.
RETRY_MIN_S = 0.2
# How often the ingest thread looks at heartbeats and its own broker link.
TICK_S = 1.0
# Device times before this are a clock that was never set (RTC reset, no NTP: 1970).
EARLIEST_SCAN = datetime(2020, 1, 1, tzinfo=UTC)
# A station's clock is measured from its live heartbeat only while the ingest keeps up:
# a heartbeat that waited in a queue would make a right clock look slow.
CLOCK_PROBE_MAX_QUEUE = 100


class Refused(Exception):
    """An input that can never be processed; the message is the dead letter's reason."""


@dataclass(slots=True)
class Batch:
    """What one batch of messages produced, published after the write."""

    lines: list[str] = field(default_factory=list)
    replies: list[tuple[str, bytes]] = field(default_factory=list)
    deadletters: list[bytes] = field(default_factory=list)
    alerts: list[AlertV1] = field(default_factory=list)
    # Station -> ids of its scans this batch is done with (stored, or refused for good).
    receipts: dict[str, list[str]] = field(default_factory=dict)


def _payload_text(payload: bytes) -> str:
    return payload[:DEADLETTER_PAYLOAD_CHARS].decode("utf-8", errors="backslashreplace")


class Ingest(CommandsMixin):
    """Consumes the site's station and command topics into InfluxDB and the floor state."""

    def __init__(self, settings: Settings, influx: InfluxClient, state: Rebuilt) -> None:
        self.settings = settings
        self.site = settings.site.name
        self.topics = Topics(self.site)
        self.influx = influx
        self.counters: Counter[str] = Counter()
        self._adopt(state)
        self.stamp = Stamper(state.last_ns)
        self.influx_ok = True
        self.webhooks = WebhookSender(settings.alerts)
        # Bounded by the Receive Maximum we ask of the broker (see _enqueue).
        self._queue: queue.Queue[Message] = queue.Queue(maxsize=settings.ingest.max_inflight)
        self.max_queued = 0  # the most messages ever waiting in the queue at once
        self._stop = threading.Event()
        self._state_lock = threading.Lock()  # the floor is changed and published under it
        self._thread: threading.Thread | None = None
        self._commands = self.command_table()
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
        """Take over a rebuilt state."""
        self.floor = state.floor
        self.alerts = state.alerts
        self.seen_scans = state.seen_scans  # scan id -> point time (ns)
        self.seen_commands = state.seen_commands
        self.scan_points = state.scan_points

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

    def tick(self) -> None:
        """Time-driven alerts: heartbeats that stopped, the services' own broker link."""
        with self._state_lock:
            now = datetime.now(UTC)
            rules.on_heartbeats(self.alerts, self.floor, self.settings.alerts, now)
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
                self._handle(msg, now, batch)
            except Refused as exc:
                self._dead_letter(msg, str(exc), now, batch)
            except Exception as exc:
                # A bug met by one message must not stall the stream behind it (it would
                # never be acknowledged): dead-letter it, loudly, and go on.
                log.exception("internal error on a message from %s; dead-lettered", msg.topic)
                self.counters["internal_errors"] += 1
                self._dead_letter(msg, f"internal error: {exc!r}", now, batch)
        self._store_alerts(batch, now)
        if not self._write(batch, now):
            return  # stopping: leave the batch unacknowledged
        self._publish_batch(batch, now)
        self.link.ack_all(messages)
        self.counters["acked"] += len(messages)

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

    def _handle(self, msg: Message, now: datetime, batch: Batch) -> None:
        if len(msg.payload) > MAX_PAYLOAD_BYTES:
            raise Refused(f"payload of {len(msg.payload)} bytes exceeds {MAX_PAYLOAD_BYTES}")
        parts = msg.topic.split("/")
        # gudang/<site>/station/<station>/<kind>  or  gudang/<site>/command/<a>/<b>
        if len(parts) == 5 and parts[2] == "station":
            station, kind = parts[3], parts[4]
            if kind == "scan":
                self._handle_scan(msg, station, now, batch)
            elif kind == "status":
                self._handle_status(msg, station, now)
            return
        if len(parts) >= 4 and parts[2] == "command":
            self._handle_command(msg, "/".join(parts[3:]), now, batch)
            return
        self.counters["ignored"] += 1

    def _handle_scan(self, msg: Message, station: str, now: datetime, batch: Batch) -> None:
        try:
            scan = scan_decoder.decode(msg.payload)
        except msgspec.DecodeError as exc:
            self._receipt_refused(msg.payload, station, batch)
            raise Refused(f"invalid scan payload: {exc}") from exc
        # Whatever becomes of it now (stored, quarantined, refused), this batch settles it.
        batch.receipts.setdefault(station, []).append(scan.id)
        if scan.site != self.site or scan.station != station:
            raise Refused(f"scan for {scan.site}/{scan.station} published on {msg.topic}")
        if scan.id in self.seen_scans:
            self.counters["redelivered"] += 1
            return
        problem = self._clock_problem(scan, now)
        if problem is not None:
            self._quarantine(msg, scan, problem, now, batch)
            return
        ts_ns = scan_time_ns(scan)
        while (station, ts_ns) in self.scan_points:
            # Another scan of this station holds the point (same ms, same id offset: about
            # one in a million): take the next ns, or it would overwrite that scan.
            self.counters["point_collisions"] += 1
            ts_ns += 1
        self.scan_points.add((station, ts_ns))
        outcome = self.floor.decide(scan)
        # The stored point's time, so that a rebuild from it gives the very same state.
        self.floor.apply(station, ns_to_datetime(ts_ns), outcome, scan)
        self.seen_scans[scan.id] = ts_ns
        batch.lines.append(scan_line(self.site, scan, outcome, ts_ns))
        rules.on_scan(self.alerts, self.floor, scan, outcome, now)
        self.counters[f"scan_{outcome.result.value}"] += 1

    def _receipt_refused(self, payload: bytes, station: str, batch: Batch) -> None:
        """Receipt a scan refused for good if its id can be read: else it is resent forever."""
        try:
            ref = scan_ref_decoder.decode(payload)
        except msgspec.DecodeError:
            return
        batch.receipts.setdefault(station, []).append(ref.id)

    def _clock_problem(self, scan: ScanV1, now: datetime) -> str | None:
        """Why the scan's device time cannot be right, or None."""
        fs = self.settings.floor
        if scan.ts < EARLIEST_SCAN:
            return f"device time {scan.ts.isoformat()} is before 2020: the clock was never set"
        ahead = (scan.ts - now).total_seconds()
        if ahead > fs.max_clock_ahead_s:
            return f"device time is {ahead:.0f}s ahead of the services' clock"
        if -ahead > fs.max_scan_age_s:
            return f"device time is {-ahead:.0f}s old, more than max_scan_age_s"
        st = self.floor.stations.get(scan.station)
        if st is not None and abs(st.clock_offset_s) > fs.max_station_clock_offset_s:
            return f"station clock is {st.clock_offset_s:+.0f}s off (from its heartbeat)"
        return None

    def _quarantine(
        self, msg: Message, scan: ScanV1, reason: str, now: datetime, batch: Batch
    ) -> None:
        """Keep a scan with an impossible time aside: stored at our time, never counted."""
        self.counters["quarantined"] += 1
        log.warning("scan %s from %s quarantined: %s", scan.id, scan.station, reason)
        ts_ns = self.stamp(now)
        self.seen_scans[scan.id] = ts_ns
        batch.lines.append(
            quarantine_line(
                self.site,
                scan.station,
                scan.id,
                reason,
                scan.ts.isoformat(),
                _payload_text(msg.payload),
                ts_ns,
            )
        )
        self.alerts.raise_(
            AlertKind.CLOCK_SKEW,
            scan.station,
            now,
            f"{scan.station}: {reason}; its scans are quarantined, not counted",
            station=scan.station,
            data={"device_ts": scan.ts.isoformat(), "scan_id": scan.id},
        )

    def _handle_status(self, msg: Message, station: str, now: datetime) -> None:
        if not msg.payload:
            return  # a cleared retained status
        try:
            status = status_decoder.decode(msg.payload)
        except msgspec.DecodeError as exc:
            raise Refused(f"invalid status payload: {exc}") from exc
        if status.station != station:
            raise Refused(f"status of {status.station} published on {msg.topic}")
        st = self.floor.station(station)
        # A retained status (met at start) is as old as it says: a bridge that hung without
        # its last will left "online" behind, and must not look alive for that.
        seen_at = min(now, status.ts) if msg.retain and status.ts is not None else now
        st.last_status_at = seen_at
        st.heartbeat_s = status.heartbeat_s
        silent = (now - seen_at).total_seconds()
        stale = (
            status.heartbeat_s is not None
            and silent > status.heartbeat_s * self.settings.alerts.heartbeat_misses
        )
        self.floor.set_online(station, status.state.value == "online" and not stale)
        live = not msg.retain and self._queue.qsize() < CLOCK_PROBE_MAX_QUEUE
        if live and status.ts is not None and status.state.value == "online":
            st.clock_offset_s = (status.ts - now).total_seconds()
            if abs(st.clock_offset_s) > self.settings.floor.max_station_clock_offset_s:
                self.alerts.raise_(
                    AlertKind.CLOCK_SKEW,
                    station,
                    now,
                    f"{station}: clock is {st.clock_offset_s:+.0f}s off the services' clock; "
                    "its scans are quarantined until it is right",
                    station=station,
                    data={"offset_s": st.clock_offset_s},
                )
            else:
                self.alerts.clear_condition(AlertKind.CLOCK_SKEW, station, now)
        rules.on_status(
            self.alerts, self.settings.alerts, status, now, silent_s=silent if stale else None
        )

    def _handle_command(self, msg: Message, name: str, now: datetime, batch: Batch) -> None:
        try:
            cmd = command_decoder.decode(msg.payload)
        except msgspec.DecodeError as exc:
            raise Refused(f"invalid command payload: {exc}") from exc
        if cmd.request_id in self.seen_commands:
            self.counters["redelivered"] += 1
            return
        self.seen_commands.add(cmd.request_id)
        handler = self._commands.get(name)
        reply: ReplyV1
        if handler is None:
            reply = ReplyV1(
                request_id=cmd.request_id, ok=False, code=404, error=f"unknown command {name!r}"
            )
        else:
            try:
                result = handler(cmd, now, batch.lines)
                reply = ReplyV1(request_id=cmd.request_id, ok=True, result=result)
            except FloorError as exc:
                reply = ReplyV1(request_id=cmd.request_id, ok=False, code=exc.code, error=str(exc))
            except (ValueError, TypeError, KeyError) as exc:
                reply = ReplyV1(request_id=cmd.request_id, ok=False, code=400, error=str(exc))
        self.counters[f"command_{'ok' if reply.ok else 'refused'}"] += 1
        batch.replies.append((self.topics.reply(cmd.request_id), encode(reply)))

    # -- output ------------------------------------------------------------------------------
    def _dead_letter(self, msg: Message, reason: str, now: datetime, batch: Batch) -> None:
        self.counters["deadlettered"] += 1
        text = _payload_text(msg.payload)
        log.warning("dead-lettered message on %s: %s", msg.topic, reason)
        # Distinct ns per dead letter so a flood of them at one instant keeps every one.
        ts_ns = self.stamp(now)
        batch.lines.append(dead_letter_line(self.site, msg.topic, reason, text, ts_ns))
        batch.deadletters.append(
            encode(DeadLetterV1(ts=now, topic=msg.topic, reason=reason, payload=text))
        )

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
        self._adopt(rebuild(self.settings, self.influx))

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
                self.link.publish(
                    self.topics.state_container(number),
                    encode(c.view(now)),
                    qos=QOS_STATE,
                    retain=True,
                )
        for name in sorted(ch.stations):
            st = self.floor.stations.get(name)
            if st is not None:
                self.link.publish(
                    self.topics.state_station(name), encode(st.view()), qos=QOS_STATE, retain=True
                )
        if ch.stock:
            self.link.publish(
                self.topics.state_stock,
                encode(self.floor.stock_view(now)),
                qos=QOS_STATE,
                retain=True,
            )
        ch.clear()
