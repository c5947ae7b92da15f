"""The ingest: MQTT in, InfluxDB written, live state published, then PUBACK.

One persistent MQTT session (fixed client id, no clean start) with manual
acknowledgement. paho's thread only queues messages; the ingest thread takes them in
batches (by size or linger time), decides what each means, writes the batch to
InfluxDB and only then publishes the changed state and acknowledges the batch, in the
order received. The broker's Receive Maximum bounds how much can be in flight, so while
InfluxDB is down the ingest holds acknowledgements and the broker holds the rest.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import msgspec

from gudang.influx import InfluxClient, InfluxRejected, InfluxUnavailable
from gudang.mqtt import Message, MqttLink
from gudang.settings import Settings
from gudang.wire import (
    MAX_PAYLOAD_BYTES,
    QOS_COMMAND,
    QOS_DEADLETTER,
    QOS_SCAN,
    QOS_STATE,
    QOS_STATUS,
    Command,
    CommandV1,
    DeadLetterV1,
    ReplyV1,
    StationState,
    Topics,
    command_decoder,
    encode,
    scan_decoder,
    status_decoder,
)
from services.floor import Floor, FloorError
from services.rebuild import rebuild_floor
from services.records import (
    CONTAINER_EVENT,
    STATION_EVENT,
    datetime_to_ns,
    dead_letter_line,
    event_line,
    scan_line,
    scan_time_ns,
)

log = logging.getLogger(__name__)

# A dead letter keeps this much of the refused payload: enough to see what it was.
DEADLETTER_PAYLOAD_CHARS = 1024
# Back-off between write attempts while InfluxDB is unavailable.
RETRY_MIN_S = 0.2


class Refused(Exception):
    """An input that can never be processed; the message is the dead letter's reason."""


@dataclass(slots=True)
class Batch:
    """What one batch of messages produced, published after the write."""

    lines: list[str] = field(default_factory=list)
    replies: list[tuple[str, bytes]] = field(default_factory=list)
    deadletters: list[bytes] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Cmd:
    topic_name: str
    command: CommandV1


CommandHandler = Callable[[CommandV1, datetime, Batch], dict[str, object] | None]


def _payload_text(payload: bytes) -> str:
    return payload[:DEADLETTER_PAYLOAD_CHARS].decode("utf-8", errors="backslashreplace")


class Ingest:
    """Consumes the site's station and command topics into InfluxDB and the floor state."""

    def __init__(self, settings: Settings, influx: InfluxClient, floor: Floor) -> None:
        self.settings = settings
        self.site = settings.site.name
        self.topics = Topics(self.site)
        self.influx = influx
        self.floor = floor
        self.counters: Counter[str] = Counter()
        self.seen_scans: dict[str, int] = {}  # scan id -> point time (ns)
        self.seen_commands: set[str] = set()
        self.influx_ok = True
        self._queue: queue.Queue[Message] = queue.Queue(maxsize=settings.ingest.max_inflight + 1000)
        self._stop = threading.Event()
        self._state_lock = threading.Lock()  # the floor is changed and published under it
        self._thread: threading.Thread | None = None
        self._commands: dict[str, CommandHandler] = {
            Command.CONTAINER_OPEN.value: self._cmd_open_container,
            Command.STATION_SET_CONTAINER.value: self._cmd_set_container,
        }
        self.link = MqttLink(
            settings.mqtt,
            settings.mqtt.client_id or f"gudang-services-{self.site}",
            subscriptions=[
                (self.topics.all_scans, QOS_SCAN),
                (self.topics.all_status, QOS_STATUS),
                (self.topics.all_commands, QOS_COMMAND),
            ],
            on_message=self._enqueue,
            persistent=True,
            manual_ack=True,
            receive_maximum=settings.ingest.max_inflight,
        )

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        """Connect to the broker and start the ingest thread."""
        self._thread = threading.Thread(target=self._run, name="ingest", daemon=True)
        self._thread.start()
        self.link.start()

    def stop(self) -> None:
        """Stop taking messages; what is not acknowledged is redelivered next time."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.link.stop()

    # -- paho's thread ---------------------------------------------------------------------
    def _enqueue(self, message: Message) -> None:
        try:
            self._queue.put_nowait(message)
        except queue.Full:
            # Cannot happen while the broker honours our Receive Maximum; without a
            # PUBACK the broker redelivers it on the next session.
            self.counters["queue_full"] += 1
            log.error("ingest queue full; %s left unacknowledged", message.topic)

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
            if not messages:
                continue
            try:
                self.process(messages)
            except Exception:  # a bug must not silently stop the ingest
                log.exception("ingest batch failed; messages left unacknowledged")
                self.counters["batch_errors"] += 1
                time.sleep(1.0)

    def process(self, messages: list[Message]) -> None:
        """Decide, write, publish and acknowledge one batch."""
        with self._state_lock:
            self._process(messages)

    def _process(self, messages: list[Message]) -> None:
        now = datetime.now(UTC)
        batch = Batch()
        for msg in messages:
            self.counters["received"] += 1
            try:
                self._handle(msg, now, batch)
            except Refused as exc:
                self._dead_letter(msg, str(exc), now, batch)
        if not self._write(batch, now):
            return  # stopping: leave the batch unacknowledged
        self._publish_changes(now)
        for topic, payload in batch.replies:
            self.link.publish(topic, payload, qos=QOS_COMMAND)
        for payload in batch.deadletters:
            self.link.publish(self.topics.deadletter, payload, qos=QOS_DEADLETTER)
        for msg in messages:
            self.link.ack(msg)
        self.counters["acked"] += len(messages)

    def _handle(self, msg: Message, now: datetime, batch: Batch) -> None:
        if len(msg.payload) > MAX_PAYLOAD_BYTES:
            raise Refused(f"payload of {len(msg.payload)} bytes exceeds {MAX_PAYLOAD_BYTES}")
        parts = msg.topic.split("/")
        # gudang/<site>/station/<station>/<kind>  or  gudang/<site>/command/<a>/<b>
        if len(parts) == 5 and parts[2] == "station":
            station, kind = parts[3], parts[4]
            if kind == "scan":
                self._handle_scan(msg, station, batch)
            elif kind == "status":
                self._handle_status(msg, station)
            return
        if len(parts) >= 4 and parts[2] == "command":
            self._handle_command(msg, "/".join(parts[3:]), now, batch)
            return
        self.counters["ignored"] += 1

    def _handle_scan(self, msg: Message, station: str, batch: Batch) -> None:
        try:
            scan = scan_decoder.decode(msg.payload)
        except msgspec.DecodeError as exc:
            raise Refused(f"invalid scan payload: {exc}") from exc
        if scan.site != self.site or scan.station != station:
            raise Refused(f"scan for {scan.site}/{scan.station} published on {msg.topic}")
        if scan.id in self.seen_scans:
            self.counters["redelivered"] += 1
            return
        ts_ns = scan_time_ns(scan)
        outcome = self.floor.decide(scan)
        self.floor.apply(station, scan.ts, outcome)
        self.seen_scans[scan.id] = ts_ns
        batch.lines.append(scan_line(self.site, scan, outcome, ts_ns))
        self.counters[f"scan_{outcome.result.value}"] += 1

    def _handle_status(self, msg: Message, station: str) -> None:
        if not msg.payload:
            return  # a cleared retained status
        try:
            status = status_decoder.decode(msg.payload)
        except msgspec.DecodeError as exc:
            raise Refused(f"invalid status payload: {exc}") from exc
        self.floor.set_online(station, status.state is StationState.ONLINE)

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
                result = handler(cmd, now, batch)
                reply = ReplyV1(request_id=cmd.request_id, ok=True, result=result)
            except FloorError as exc:
                reply = ReplyV1(request_id=cmd.request_id, ok=False, code=exc.code, error=str(exc))
            except (ValueError, TypeError, KeyError) as exc:
                reply = ReplyV1(request_id=cmd.request_id, ok=False, code=400, error=str(exc))
        self.counters[f"command_{'ok' if reply.ok else 'refused'}"] += 1
        batch.replies.append((self.topics.reply(cmd.request_id), encode(reply)))

    # -- commands ----------------------------------------------------------------------------
    def _cmd_open_container(
        self, cmd: CommandV1, now: datetime, batch: Batch
    ) -> dict[str, object] | None:
        a = cmd.args
        c = self.floor.open_container(
            str(a["container_no"]),
            container_type=str(a.get("container_type") or "40HC"),
            capacity_drums=int(a["capacity_drums"]) if a.get("capacity_drums") else None,
            max_payload_kg=float(a["max_payload_kg"]) if a.get("max_payload_kg") else None,
            at=now,
        )
        batch.lines.append(
            event_line(
                CONTAINER_EVENT,
                self.site,
                "container_no",
                c.container_no,
                {
                    "event": "open",
                    "container_type": c.container_type,
                    "capacity_drums": c.capacity_drums,
                    "max_payload_kg": float(c.max_payload_kg),
                    "actor": cmd.actor,
                    "request_id": cmd.request_id,
                },
                datetime_to_ns(now),
            )
        )
        return msgspec.to_builtins(c.view(now))  # type: ignore[no-any-return]

    def _cmd_set_container(
        self, cmd: CommandV1, now: datetime, batch: Batch
    ) -> dict[str, object] | None:
        station = str(cmd.args["station"])
        number = cmd.args.get("container_no")
        self.floor.set_active_container(station, str(number) if number else None)
        batch.lines.append(
            event_line(
                STATION_EVENT,
                self.site,
                "station",
                station,
                {
                    "event": "set_container",
                    "container_no": str(number) if number else "",
                    "actor": cmd.actor,
                    "request_id": cmd.request_id,
                },
                datetime_to_ns(now),
            )
        )
        return msgspec.to_builtins(self.floor.station(station).view())  # type: ignore[no-any-return]

    # -- output ------------------------------------------------------------------------------
    def _dead_letter(self, msg: Message, reason: str, now: datetime, batch: Batch) -> None:
        self.counters["deadlettered"] += 1
        text = _payload_text(msg.payload)
        log.warning("dead-lettered message on %s: %s", msg.topic, reason)
        # Distinct ns per dead letter so a flood of them at one instant keeps every one.
        ts_ns = datetime_to_ns(now) + self.counters["deadlettered"] % 1000
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
                self.influx_ok = False
                self.counters["write_retries"] += 1
                if self._stop.wait(delay):
                    return False
                delay = min(delay * 2, self.settings.ingest.retry_max_s)
                continue
            except InfluxRejected as exc:
                self._write_rejected(batch, exc)
            if not self.influx_ok:
                log.info("InfluxDB is back; writing resumed")
            self.influx_ok = True
            self.counters["points_written"] += len(batch.lines)
            return True

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
                    [dead_letter_line(self.site, "influxdb", reason, text, datetime_to_ns(now))]
                )
            except InfluxRejected:
                log.error("dead letter itself refused by InfluxDB: %s", reason)
            batch.deadletters.append(
                encode(DeadLetterV1(ts=now, topic="influxdb", reason=reason, payload=text))
            )
        # The floor state counted points that are not stored: rebuild it from the record.
        self.floor = rebuild_floor(self.settings, self.influx, self.seen_scans)

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
