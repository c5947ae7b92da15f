"""How facts are stored in InfluxDB, and read back for a rebuild.

Point identity (measurement + tags + timestamp) decides whether a write is new or a
retry: a redelivered scan must land on its own point, two scans never on one.

Measurements (all tagged ``site``):
- ``scan`` (tag ``station``): every scan with its outcome; time = device time + id offset.
- ``container_event`` (tag ``container_no``): open, seal, ship, unload.
- ``station_event`` (tag ``station``): active container or mode set by a command.
- ``alert`` (tag ``kind``): every lifecycle transition of an alert, the whole AlertV1.
- ``quarantine`` (tag ``station``): scans whose device time cannot be right.
- ``dead_letter``: refused inputs with the reason.

Events the services stamp themselves (commands, alerts, quarantine) get a strictly
increasing services' time (``Stamper``), so two in one batch never share a point.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from gudang.influx import FieldValue, line
from gudang.wire import AlertV1, ScanV1, alert_decoder, encode
from services.floor import Result, ScanOutcome

SCAN = "scan"
CONTAINER_EVENT = "container_event"
STATION_EVENT = "station_event"
DEAD_LETTER = "dead_letter"
ALERT = "alert"
QUARANTINE = "quarantine"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)
_ID_OFFSET_NS = 1000  # below the µs: never moves a scan past another's device time


def scan_time_ns(scan: ScanV1) -> int:
    """The scan's point time: its device time to the µs, plus an offset from its id.

    Two scans at one station can share a device time (clocks give ms at best); the
    offset (0..999 ns, from a CRC of the id) keeps them apart while a replay of the same
    scan lands on the same point, and scans keep their device-time order. Two ids with
    the same offset at the same µs (one in a thousand of such rare pairs) are kept apart by
    the ingest, which moves the later one on by 1 ns.
    """
    us = (scan.ts - _EPOCH) // _ONE_US
    return us * 1000 + zlib.crc32(scan.id.encode()) % _ID_OFFSET_NS


def ns_to_datetime(ns: int) -> datetime:
    """UTC datetime of an InfluxDB ns timestamp (exact, to the µs below it)."""
    return _EPOCH + timedelta(microseconds=ns // 1000)


def datetime_to_ns(at: datetime) -> int:
    """ns since the epoch of an aware datetime (exact)."""
    return ((at - _EPOCH) // _ONE_US) * 1000


def scan_line(site: str, scan: ScanV1, outcome: ScanOutcome, ts_ns: int) -> str:
    """The ``scan`` point of one scan and its outcome."""
    fields: dict[str, FieldValue | None] = {
        "id": scan.id,
        "barcode": scan.barcode,
        "symbology": scan.symbology,
        "kind": scan.kind.value,
        "result": outcome.result.value,
        "reason": outcome.reason or None,
        "drum": outcome.drum,
        "sku": outcome.sku,
        "container_no": outcome.container_no,
        "weight_kg": float(scan.weight_kg) if scan.weight_kg is not None else None,
        "weight_stable": scan.weight_stable,
        "weight_status": scan.weight_status.value,
        "out_of_range": outcome.out_of_range,
        "from_stock": outcome.from_stock,
        "supplier": outcome.supplier,
        "qc": outcome.qc,
        "location": outcome.location,
        "from_location": outcome.from_location,
        "device_ts": scan.ts.isoformat(),
    }
    return line(SCAN, {"site": site, "station": scan.station}, fields, ts_ns)


def outcome_from_row(row: Mapping[str, Any]) -> ScanOutcome:
    """The outcome recorded in a ``scan`` row."""
    weight = row.get("weight_kg")
    return ScanOutcome(
        result=Result(row["result"]),
        reason=row.get("reason") or "",
        drum=row.get("drum"),
        sku=row.get("sku"),
        container_no=row.get("container_no"),
        weight_kg=float(weight) if weight is not None else None,
        out_of_range=bool(row.get("out_of_range")),
        from_stock=bool(row.get("from_stock", True)),
        supplier=row.get("supplier"),
        qc=row.get("qc"),
        location=row.get("location"),
        from_location=row.get("from_location"),
    )


def event_line(
    measurement: str,
    site: str,
    key: str,
    value: str,
    fields: Mapping[str, FieldValue | None],
    ts_ns: int,
) -> str:
    """A ``container_event`` / ``station_event`` point."""
    return line(measurement, {"site": site, key: value}, fields, ts_ns)


def dead_letter_line(site: str, topic: str, reason: str, payload: str, ts_ns: int) -> str:
    """A ``dead_letter`` point."""
    return line(
        DEAD_LETTER, {"site": site}, {"topic": topic, "reason": reason, "payload": payload}, ts_ns
    )


def alert_line(site: str, alert: AlertV1, ts_ns: int) -> str:
    """An ``alert`` point: one transition, with the whole alert as JSON in ``payload``."""
    fields: dict[str, FieldValue | None] = {
        "id": alert.id,
        "state": alert.state.value,
        "severity": alert.severity,
        "subject": alert.subject,
        "station": alert.station,
        "container_no": alert.container_no,
        "message": alert.message,
        "acknowledged_by": alert.acknowledged_by,
        "payload": encode(alert).decode(),
    }
    return line(ALERT, {"site": site, "kind": alert.kind.value}, fields, ts_ns)


def alert_from_row(row: Mapping[str, Any]) -> AlertV1:
    """The alert stored in an ``alert`` row."""
    try:
        return alert_decoder.decode(str(row["payload"]).encode())
    except msgspec.DecodeError as exc:
        raise ValueError(f"stored alert {row.get('id')!r} is unreadable: {exc}") from exc


def quarantine_line(
    site: str, station: str, scan_id: str, reason: str, device_ts: str, payload: str, ts_ns: int
) -> str:
    """A ``quarantine`` point: a scan kept aside, at the services' time, with the reason."""
    fields: dict[str, FieldValue | None] = {
        "id": scan_id,
        "reason": reason,
        "device_ts": device_ts,
        "payload": payload,
    }
    return line(QUARANTINE, {"site": site, "station": station}, fields, ts_ns)


class Stamper:
    """Strictly increasing ns timestamps from the services' clock, for the events it stamps."""

    def __init__(self, floor_ns: int = 0) -> None:
        self.last_ns = floor_ns

    def __call__(self, at: datetime) -> int:
        """A ns time at ``at`` or just after the last one given, whichever is later."""
        ns = max(datetime_to_ns(at), self.last_ns + 1)
        self.last_ns = ns
        return ns
