"""What each message means: scans, station statuses and commands, turned into a batch's output.

The ingest's pipeline (``services/ingest.py``) hands every received message to
``Interpreter.take``; the interpreter decides it against the floor (``services/floor.py``),
adds the points to store, the replies, dead letters and receipts to the ``Batch``, and
raises or clears alerts. It does no I/O: the pipeline writes, publishes and acknowledges.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import msgspec

from gudang.mqtt import Message
from gudang.settings import Settings
from gudang.storage import ns_to_datetime, scan_time_ns
from gudang.wire import (
    MAX_PAYLOAD_BYTES,
    AlertKind,
    AlertV1,
    DeadLetterV1,
    ScanV1,
    StationState,
    Topics,
    command_decoder,
    encode,
    parse_command_topic,
    parse_station_topic,
    scan_decoder,
    scan_ref_decoder,
    status_decoder,
)
from services import alerts as rules
from services.commands import Commands
from services.floor import clock_problem, clock_skewed, heartbeat_stale
from services.rebuild import Rebuilt, quarantine_key_ns
from services.records import Stamper, dead_letter_line, quarantine_line, scan_line

log = logging.getLogger(__name__)

# A dead letter keeps this much of the refused payload: enough to see what it was.
DEADLETTER_PAYLOAD_CHARS = 1024
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


def payload_text(payload: bytes) -> str:
    """The start of a payload as text, for a dead letter or a quarantined scan."""
    return payload[:DEADLETTER_PAYLOAD_CHARS].decode("utf-8", errors="backslashreplace")


class Interpreter:
    """Decides each message against the state it is given; the pipeline does the I/O."""

    def __init__(
        self,
        settings: Settings,
        state: Rebuilt,
        stamp: Stamper,
        counters: Counter[str],
        queued: Callable[[], int],
    ) -> None:
        self.settings = settings
        self.site = settings.site.name
        self.grouped = frozenset(AlertKind(k) for k in settings.alerts.grouped_kinds)
        self.topics = Topics(self.site)
        self.floor = state.floor
        self.alerts = state.alerts
        self.seen_scans = state.seen_scans  # (station, scan id) -> point time (ns)
        self.seen_commands = state.seen_commands
        self.scan_points = state.scan_points
        self.stamp = stamp
        self.counters = counters
        self.queued = queued  # messages waiting behind this one
        self.commands = Commands(self.site, self.floor, self.alerts, stamp)

    def take(self, msg: Message, now: datetime, batch: Batch) -> None:
        """Interpret one message into the batch; a message that can never be taken is refused."""
        if len(msg.payload) > MAX_PAYLOAD_BYTES:
            raise Refused(f"payload of {len(msg.payload)} bytes exceeds {MAX_PAYLOAD_BYTES}")
        at_station = parse_station_topic(msg.topic)
        if at_station is not None:
            _site, station, kind = at_station
            if kind == "scan":
                self.scan(msg, station, now, batch)
            elif kind == "status":
                self.status(msg, station, now)
            return
        command = parse_command_topic(msg.topic)
        if command is not None:
            self.command(msg, command[1], now, batch)
            return
        self.counters["ignored"] += 1

    # -- scans -------------------------------------------------------------------------------
    def scan(self, msg: Message, station: str, now: datetime, batch: Batch) -> None:
        """A scan: decided and stored once, quarantined if its time cannot be right."""
        try:
            scan = scan_decoder.decode(msg.payload)
        except msgspec.DecodeError as exc:
            self._receipt_refused(msg.payload, station, batch)
            raise Refused(f"invalid scan payload: {exc}") from exc
        # Whatever becomes of it now (stored, quarantined, refused), this batch settles it.
        batch.receipts.setdefault(station, []).append(scan.id)
        if scan.site != self.site or scan.station != station:
            raise Refused(f"scan for {scan.site}/{scan.station} published on {msg.topic}")
        # A scan is known by (station, id): ids are the stations' own, so another station's
        # scan with the same id (a simple device's predictable id) is another scan.
        if (station, scan.id) in self.seen_scans:
            self.counters["redelivered"] += 1
            return
        problem = clock_problem(
            scan, now, self.settings.floor, self.floor.stations.get(scan.station)
        )
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
        self.seen_scans[(station, scan.id)] = ts_ns
        batch.lines.append(scan_line(self.site, scan, outcome, ts_ns))
        rules.on_scan(self.alerts, self.floor, scan, outcome, now, self.grouped)
        self.counters[f"scan_{outcome.result.value}"] += 1

    def _receipt_refused(self, payload: bytes, station: str, batch: Batch) -> None:
        """Receipt a scan refused for good if its id can be read: else it is resent forever."""
        try:
            ref = scan_ref_decoder.decode(payload)
        except msgspec.DecodeError:
            return
        batch.receipts.setdefault(station, []).append(ref.id)

    def _quarantine(
        self, msg: Message, scan: ScanV1, reason: str, now: datetime, batch: Batch
    ) -> None:
        """Keep a scan with an impossible time aside: stored at our time, never counted."""
        self.counters["quarantined"] += 1
        log.warning("scan %s from %s quarantined: %s", scan.id, scan.station, reason)
        ts_ns = self.stamp(now)
        # Kept while the scan could still come with a time that is right (one 10 min
        # ahead is right in 10 min): a replay then is recognised, not counted.
        self.seen_scans[(scan.station, scan.id)] = quarantine_key_ns(ts_ns, scan.ts)
        batch.lines.append(
            quarantine_line(
                self.site,
                scan.station,
                scan.id,
                reason,
                scan.ts.isoformat(),
                payload_text(msg.payload),
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

    # -- station statuses --------------------------------------------------------------------
    def status(self, msg: Message, station: str, now: datetime) -> None:
        """A station's status or heartbeat: online, its clock, its spool."""
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
        stale = heartbeat_stale(status.heartbeat_s, silent, self.settings.alerts.heartbeat_misses)
        online = status.state is StationState.ONLINE
        self.floor.set_online(station, online and not stale)
        live = not msg.retain and self.queued() < CLOCK_PROBE_MAX_QUEUE
        if live and status.ts is not None and online:
            st.clock_offset_s = (status.ts - now).total_seconds()
            if clock_skewed(st.clock_offset_s, self.settings.floor):
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
            self.alerts,
            self.settings.alerts,
            status,
            now,
            silent_s=silent if stale else None,
            spool_nearly_full_ratio=self.settings.station.spool_nearly_full_ratio,
        )

    # -- commands ----------------------------------------------------------------------------
    def command(self, msg: Message, name: str, now: datetime, batch: Batch) -> None:
        """A command: carried out once (a redelivery is not run again), its reply queued."""
        try:
            cmd = command_decoder.decode(msg.payload)
        except msgspec.DecodeError as exc:
            raise Refused(f"invalid command payload: {exc}") from exc
        if cmd.request_id in self.seen_commands:
            self.counters["redelivered"] += 1
            return
        self.seen_commands.add(cmd.request_id)
        reply = self.commands.run(name, cmd, now, batch.lines)
        self.counters[f"command_{'ok' if reply.ok else 'refused'}"] += 1
        batch.replies.append((self.topics.reply(cmd.request_id), encode(reply)))

    # -- refused -----------------------------------------------------------------------------
    def dead_letter(self, msg: Message, reason: str, now: datetime, batch: Batch) -> None:
        """Store and publish a message that was refused, with the reason."""
        self.counters["deadlettered"] += 1
        text = payload_text(msg.payload)
        log.warning("dead-lettered message on %s: %s", msg.topic, reason)
        # Distinct ns per dead letter so a flood of them at one instant keeps every one.
        ts_ns = self.stamp(now)
        batch.lines.append(dead_letter_line(self.site, msg.topic, reason, text, ts_ns))
        batch.deadletters.append(
            encode(DeadLetterV1(ts=now, topic=msg.topic, reason=reason, payload=text))
        )
