"""Alerts: one per condition, raised -> acknowledged -> cleared (PRODUCT.md, "Alerts").

Pure code. The ingest asks the rules below after each scan, status, command and tick;
each transition is queued in ``AlertBook.transitions``, stored in InfluxDB with the batch
that caused it, and only then published (retained) and sent to the webhooks. A rebuild
replays the stored transitions, so a condition still raised after a restart is not
raised again: every alert fires exactly once per condition.

Two sorts (docs/floor.md, "Alerts"):
- a *condition* (container full, station offline, InfluxDB unreachable ...) is cleared
  by the services when the condition ends; acknowledging it only records who saw it;
- an *event* (a duplicate scan, an unknown barcode ...) has no end of its own: it is
  cleared when a supervisor acknowledges it.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

import msgspec

from gudang.settings import AlertSettings, FloorSettings
from gudang.wire import (
    AlertKind,
    AlertState,
    AlertV1,
    ContainerStatus,
    ScanKind,
    ScanResult,
    ScanV1,
    StationState,
    StationStatusV1,
    WeightStatus,
)
from services.floor import Container, Floor, FloorError, ScanOutcome, heartbeat_stale

Severity = Literal["info", "warning", "critical"]

SEVERITY: dict[AlertKind, Severity] = {
    AlertKind.CONTAINER_NEARLY_FULL: "info",
    AlertKind.CONTAINER_FULL: "warning",
    AlertKind.CONTAINER_OVERWEIGHT: "critical",
    AlertKind.WEIGHT_OUT_OF_RANGE: "warning",
    AlertKind.DUPLICATE_SCAN: "info",
    AlertKind.WRONG_CONTAINER: "critical",
    AlertKind.UNKNOWN_BARCODE: "warning",
    AlertKind.SCALE_ERROR: "warning",
    AlertKind.SCALE_DRIFT: "warning",
    AlertKind.SCALE_UNSTABLE: "warning",
    AlertKind.STATION_OFFLINE: "critical",
    AlertKind.SPOOL_NEARLY_FULL: "warning",
    AlertKind.STATION_ERROR: "critical",
    AlertKind.STORAGE_UNREACHABLE: "critical",
    AlertKind.BROKER_UNREACHABLE: "critical",
    AlertKind.CLOCK_SKEW: "critical",
}

# Cleared by acknowledgement: nothing else ends them.
EVENT_KINDS = frozenset(
    {
        AlertKind.DUPLICATE_SCAN,
        AlertKind.WEIGHT_OUT_OF_RANGE,
        AlertKind.UNKNOWN_BARCODE,
        AlertKind.WRONG_CONTAINER,
    }
)

# Informational events grouped per station and hour unless alerts.grouped_kinds says.
DEFAULT_GROUPED = frozenset({AlertKind.DUPLICATE_SCAN})

# Weight statuses that mean the scale could not give a stable weight.
SCALE_TROUBLE = frozenset(
    {WeightStatus.OVERLOAD, WeightStatus.UNDERLOAD, WeightStatus.ERROR, WeightStatus.NO_STABLE}
)

# Alert ids become MQTT topic levels: keep them to safe characters and a sane length.
_UNSAFE = re.compile(r"[^A-Za-z0-9_.:-]")
_MAX_SUBJECT_CHARS = 80


def alert_id(kind: AlertKind, subject: str) -> str:
    """The id of the alert for one condition: ``container_full-CSQU3054383``."""
    slug = _UNSAFE.sub("_", subject)[:_MAX_SUBJECT_CHARS]
    if slug != subject:  # keep two subjects that clean up alike apart
        slug = f"{slug}-{zlib.crc32(subject.encode()):08x}"
    return f"{kind.value}-{slug}"


def _new_alert(
    aid: str,
    kind: AlertKind,
    subject: str,
    at: datetime,
    message: str,
    *,
    station: str | None,
    container_no: str | None,
    data: dict[str, Any],
) -> AlertV1:
    """A newly raised alert, with its kind's severity."""
    return AlertV1(
        id=aid,
        kind=kind,
        severity=SEVERITY[kind],
        subject=subject,
        station=station,
        container_no=container_no,
        message=message,
        raised_at=at,
        data=data,
    )


@dataclass(slots=True)
class AlertBook:
    """The alerts not yet cleared, and the transitions still to be stored and sent."""

    # Live only, never stored: a rebuild cannot know them, so a checkpoint leaves them out
    # too (services/checkpoint.py); after a restart the fresh statuses decide again.
    transient: ClassVar[frozenset[str]] = frozenset({"settling", "flaps"})

    active: dict[str, AlertV1] = field(default_factory=dict)
    transitions: list[AlertV1] = field(default_factory=list)
    # Flapping conditions: an alert whose condition ended at this time, cleared only once
    # it stayed ended for the settle time (settle); its condition back meanwhile is a flap.
    settling: dict[str, datetime] = field(default_factory=dict)
    flaps: dict[str, int] = field(default_factory=dict)

    def is_active(self, kind: AlertKind, subject: str) -> bool:
        """True while the alert for this condition is raised or acknowledged."""
        return alert_id(kind, subject) in self.active

    def raise_(
        self,
        kind: AlertKind,
        subject: str,
        at: datetime,
        message: str,
        *,
        station: str | None = None,
        container_no: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> AlertV1 | None:
        """Raise the alert for a condition, unless it is raised already."""
        aid = alert_id(kind, subject)
        if aid in self.active:
            if self.settling.pop(aid, None) is not None:
                # Back before its clear settled: one flap more of the same alert, no transition.
                self.flaps[aid] = self.flaps.get(aid, 0) + 1
            return None
        alert = _new_alert(
            aid,
            kind,
            subject,
            at,
            message,
            station=station,
            container_no=container_no,
            data=data or {},
        )
        return self._record(alert)

    def raise_grouped(
        self,
        kind: AlertKind,
        station: str,
        at: datetime,
        message: str,
        *,
        container_no: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> AlertV1:
        """One alert per station and hour (UTC: Indonesia's zones are whole hours off it),
        counting its occurrences: a new one updates the count (a transition, stored)."""
        hour = at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        aid = alert_id(kind, f"{station}-{hour:%Y%m%dT%H}")
        existing = self.active.get(aid)
        count = int(existing.data.get("count", 1)) + 1 if existing is not None else 1
        data = {**(data or {}), "count": count, "hour": hour.isoformat()}
        text = f"{message}; {count} this hour" if count > 1 else message
        if existing is None:
            alert = _new_alert(
                aid, kind, station, at, text, station=station, container_no=container_no, data=data
            )
        else:
            alert = msgspec.structs.replace(
                existing, message=text, data=data, container_no=container_no
            )
        return self._record(alert)

    def _record(self, alert: AlertV1) -> AlertV1:
        """Make ``alert`` the active one of its condition: a transition to store and send."""
        self.active[alert.id] = alert
        self.transitions.append(alert)
        return alert

    def acknowledge_kind(self, kind: AlertKind, who: str, at: datetime) -> list[AlertV1]:
        """Acknowledge every raised alert of one kind at once (those acknowledged stay)."""
        due = [
            a.id for a in self.active.values() if a.kind is kind and a.state is AlertState.RAISED
        ]
        return [self.acknowledge(aid, who, at) for aid in sorted(due)]

    def acknowledge(self, aid: str, who: str, at: datetime) -> AlertV1:
        """A supervisor saw it; an event alert is cleared with it."""
        alert = self.active.get(aid)
        if alert is None:
            raise FloorError(f"alert {aid} is not active", code=404)
        if alert.state is AlertState.ACKNOWLEDGED:
            raise FloorError(f"alert {aid} was acknowledged by {alert.acknowledged_by}")
        alert = self._record(
            msgspec.structs.replace(
                alert, state=AlertState.ACKNOWLEDGED, acknowledged_at=at, acknowledged_by=who
            )
        )
        if alert.kind in EVENT_KINDS:
            cleared = self.clear(aid, at)
            assert cleared is not None  # it was active a line ago
            return cleared
        return alert

    def clear(self, aid: str, at: datetime) -> AlertV1 | None:
        """The condition ended: clear its alert (None when none was active)."""
        alert = self.active.pop(aid, None)
        if alert is None:
            return None
        alert = msgspec.structs.replace(alert, state=AlertState.CLEARED, cleared_at=at)
        self.transitions.append(alert)
        return alert

    def clear_condition(self, kind: AlertKind, subject: str, at: datetime) -> AlertV1 | None:
        """Clear the alert of a condition, if raised."""
        return self.clear(alert_id(kind, subject), at)

    def clear_settled(
        self, kind: AlertKind, subject: str, at: datetime, settle_s: float
    ) -> AlertV1 | None:
        """The condition ended: clear its alert once it stays ended ``settle_s`` (``settle``)."""
        aid = alert_id(kind, subject)
        if aid not in self.active:
            return None
        if settle_s <= 0:
            return self._clear_counting_flaps(aid, at)
        self.settling.setdefault(aid, at)
        return None

    def settle(self, at: datetime, settle_s: float) -> list[AlertV1]:
        """Clear the alerts whose condition stayed ended for ``settle_s``."""
        due = [
            aid for aid, since in self.settling.items() if (at - since).total_seconds() >= settle_s
        ]
        cleared = []
        for aid in due:
            since = self.settling.pop(aid)
            alert = self._clear_counting_flaps(aid, since)
            if alert is not None:
                cleared.append(alert)
        return cleared

    def _clear_counting_flaps(self, aid: str, at: datetime) -> AlertV1 | None:
        flaps = self.flaps.pop(aid, 0)
        alert = self.active.get(aid)
        if alert is not None and flaps:
            data = dict(alert.data)
            data["flaps"] = flaps
            self.active[aid] = msgspec.structs.replace(
                alert, data=data, message=f"{alert.message} (flapped {flaps} times)"
            )
        return self.clear(aid, at)

    def restore(self, alert: AlertV1) -> None:
        """Replay one stored transition (rebuild)."""
        if alert.state is AlertState.CLEARED:
            self.active.pop(alert.id, None)
        else:
            self.active[alert.id] = alert

    def take(self) -> list[AlertV1]:
        """The transitions since the last call, oldest first."""
        out, self.transitions = self.transitions, []
        return out


# -- the rules --------------------------------------------------------------------------------
def on_scan(
    book: AlertBook,
    floor: Floor,
    scan: ScanV1,
    outcome: ScanOutcome,
    at: datetime,
    grouped: frozenset[AlertKind] = DEFAULT_GROUPED,
) -> None:
    """Alerts of one scan that was decided and applied; ``grouped`` kinds one per station
    and hour, with a count (``alerts.grouped_kinds``)."""
    station = scan.station

    def _event(
        kind: AlertKind,
        subject: str,
        at: datetime,
        message: str,
        *,
        station: str,
        container_no: str | None = None,
        data: dict[str, Any],
    ) -> None:
        if kind in grouped:
            book.raise_grouped(kind, station, at, message, container_no=container_no, data=data)
        else:
            book.raise_(
                kind, subject, at, message, station=station, container_no=container_no, data=data
            )

    drum = outcome.drum or scan.barcode
    r = outcome.result
    if r is ScanResult.DUPLICATE:
        _event(
            AlertKind.DUPLICATE_SCAN,
            drum,
            at,
            f"{station}: drum {drum} scanned again ({outcome.reason})",
            station=station,
            container_no=outcome.container_no,
            data={"drum": drum, "scan_id": scan.id},
        )
    elif r is ScanResult.WRONG_CONTAINER:
        where = floor.drum_location.get(drum)
        _event(
            AlertKind.WRONG_CONTAINER,
            drum,
            at,
            f"{station}: {outcome.reason}; not counted until a supervisor unloads it from {where}",
            station=station,
            container_no=outcome.container_no,
            data={"drum": drum, "in_container": where, "scan_id": scan.id},
        )
    elif r is ScanResult.REJECTED and outcome.unknown_label:
        _event(
            AlertKind.UNKNOWN_BARCODE,
            station,
            at,
            f"{station}: {outcome.reason}",
            station=station,
            data={"barcode": scan.barcode, "scan_id": scan.id},
        )
    if outcome.out_of_range and r in (ScanResult.LOADED, ScanResult.RECEIVED) and outcome.sku:
        spec = floor.settings.skus[outcome.sku]
        _event(
            AlertKind.WEIGHT_OUT_OF_RANGE,
            drum,
            at,
            f"{station}: drum {drum} weighs {outcome.weight_kg} kg, {outcome.sku} expects "
            f"{spec.min_kg}-{spec.max_kg} kg (wrong SKU? wet wood?)",
            station=station,
            container_no=outcome.container_no,
            data={
                "drum": drum,
                "sku": outcome.sku,
                "weight_kg": outcome.weight_kg,
                "min_kg": spec.min_kg,
                "max_kg": spec.max_kg,
            },
        )
    if scan.kind is ScanKind.DRUM:
        if scan.weight_status in SCALE_TROUBLE:
            _event(
                AlertKind.SCALE_ERROR,
                station,
                at,
                f"{station}: scale {scan.weight_status.value.replace('_', ' ')}",
                station=station,
                data={"weight_status": scan.weight_status.value, "scan_id": scan.id},
            )
        elif scan.weight_status is WeightStatus.STABLE:
            book.clear_condition(AlertKind.SCALE_ERROR, station, at)
    book.clear_condition(AlertKind.CLOCK_SKEW, station, at)
    if r is ScanResult.LOADED and outcome.container_no:
        container = floor.containers.get(outcome.container_no)
        if container is not None:
            on_container(book, floor.settings, container, at)


def on_container(book: AlertBook, settings: FloorSettings, c: Container, at: datetime) -> None:
    """Fill and weight alerts of a container whose state changed."""
    no = c.container_no
    if c.status in (ContainerStatus.SEALED, ContainerStatus.SHIPPED, ContainerStatus.CANCELLED):
        book.clear_condition(AlertKind.CONTAINER_NEARLY_FULL, no, at)
        book.clear_condition(AlertKind.CONTAINER_FULL, no, at)
        if c.status is not ContainerStatus.SEALED:
            book.clear_condition(AlertKind.CONTAINER_OVERWEIGHT, no, at)
        return
    drums = len(c.drums)
    data = {"drums": drums, "capacity_drums": c.capacity_drums, "net_weight_kg": c.net_weight_kg}
    ratio = max(drums / c.capacity_drums, c.net_weight_kg / c.max_payload_kg)
    if ratio >= settings.nearly_full_ratio:
        book.raise_(
            AlertKind.CONTAINER_NEARLY_FULL,
            no,
            at,
            f"container {no} is {ratio:.0%} full ({drums}/{c.capacity_drums} drums)",
            container_no=no,
            data=data,
        )
    if drums >= c.capacity_drums:
        book.raise_(
            AlertKind.CONTAINER_FULL,
            no,
            at,
            f"container {no} is full: {drums} drums",
            container_no=no,
            data=data,
        )
    if c.net_weight_kg > c.max_payload_kg:
        book.raise_(
            AlertKind.CONTAINER_OVERWEIGHT,
            no,
            at,
            f"container {no} holds {c.net_weight_kg:.1f} kg, over its maximum payload "
            f"{c.max_payload_kg:.0f} kg",
            container_no=no,
            data=data,
        )
    else:
        book.clear_condition(AlertKind.CONTAINER_OVERWEIGHT, no, at)


def on_unload(
    book: AlertBook, settings: FloorSettings, c: Container, drum: str, at: datetime
) -> None:
    """A supervisor took a drum out: that resolves a wrong-container alert about it."""
    book.clear_condition(AlertKind.WRONG_CONTAINER, drum, at)
    on_container(book, settings, c, at)


def on_status(
    book: AlertBook,
    settings: AlertSettings,
    status: StationStatusV1,
    at: datetime,
    silent_s: float | None = None,
    *,
    spool_nearly_full_ratio: float,
) -> None:
    """Station offline (its last will, a clean stop, a stale status), in error, spool filling."""
    station = status.station
    if silent_s is not None:  # a retained "online" older than the heartbeat allows
        book.raise_(
            AlertKind.STATION_OFFLINE,
            station,
            at,
            f"station {station}: no heartbeat for {silent_s:.0f}s",
            station=station,
            data={"cause": "heartbeat timeout", "heartbeat_s": status.heartbeat_s},
        )
    elif status.state is StationState.OFFLINE:
        book.raise_(
            AlertKind.STATION_OFFLINE,
            station,
            at,
            f"station {station} is offline",
            station=station,
            data={"cause": "offline status (last will)"},
        )
    else:
        # Cleared once the station stayed online a while: a flapping one raises one alert.
        book.clear_settled(AlertKind.STATION_OFFLINE, station, at, settings.flap_settle_s)
    if status.error and status.state is StationState.ONLINE:
        book.raise_(
            AlertKind.STATION_ERROR,
            station,
            at,
            f"station {station}: {status.error}",
            station=station,
            data={"error": status.error, "errors": status.errors},
        )
    else:
        book.clear_condition(AlertKind.STATION_ERROR, station, at)
    if status.spool_capacity > 0:
        ratio = status.spool_depth / status.spool_capacity
        # The station's own threshold (its flag) or the site's, whichever is stricter.
        if status.spool_nearly_full or ratio >= spool_nearly_full_ratio:
            book.raise_(
                AlertKind.SPOOL_NEARLY_FULL,
                station,
                at,
                f"station {station}: spool {ratio:.0%} full "
                f"({status.spool_depth}/{status.spool_capacity} scans)",
                station=station,
                data={"spool_depth": status.spool_depth, "spool_capacity": status.spool_capacity},
            )
        else:
            book.clear_condition(AlertKind.SPOOL_NEARLY_FULL, station, at)


def on_heartbeats(book: AlertBook, floor: Floor, settings: AlertSettings, at: datetime) -> None:
    """Stations whose heartbeat stopped without a last will (a cut cable, a hung box);
    offline alerts whose station stayed back long enough are cleared."""
    book.settle(at, settings.flap_settle_s)
    for st in floor.stations.values():
        if not st.online or st.heartbeat_s is None or st.last_status_at is None:
            continue
        silent = (at - st.last_status_at).total_seconds()
        if heartbeat_stale(st.heartbeat_s, silent, settings.heartbeat_misses):
            floor.set_online(st.name, False)
            book.raise_(
                AlertKind.STATION_OFFLINE,
                st.name,
                at,
                f"station {st.name}: no heartbeat for {silent:.0f}s",
                station=st.name,
                data={"cause": "heartbeat timeout", "heartbeat_s": st.heartbeat_s},
            )
