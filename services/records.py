"""How the services write facts to InfluxDB, and read their rows back for a rebuild.

The schema itself (measurement, tag and event names, point times) is ``gudang.storage``,
shared with the API. Events the services stamp themselves (commands, alerts, quarantine)
get a strictly increasing services' time (``Stamper``), so two in one batch never share a
point.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import msgspec

from gudang.influx import FieldValue, line
from gudang.storage import (
    ALERT,
    AUDIT,
    DEAD_LETTER,
    QUARANTINE,
    SCAN,
    SHIPPED_DRUM,
    STOCK_EVENT,
    TAG_BUCKET,
    TAG_COMMAND,
    TAG_KIND,
    TAG_SITE,
    TAG_STATION,
    datetime_to_ns,
    drum_bucket,
)
from gudang.wire import AlertV1, ScanResult, ScanV1, alert_decoder, encode
from services.floor import ScanOutcome


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
        "stocktake": outcome.stocktake,
        "device_ts": scan.ts.isoformat(),
    }
    return line(SCAN, {TAG_SITE: site, TAG_STATION: scan.station}, fields, ts_ns)


_RESULTS = {r.value: r for r in ScanResult}  # a dict: ScanResult(...) costs 8x as much


def outcome_from_row(row: Mapping[str, Any]) -> ScanOutcome:
    """The outcome recorded in a ``scan`` row."""
    weight = row.get("weight_kg")
    value = row["result"]
    return ScanOutcome(
        result=_RESULTS.get(value) or ScanResult(value),  # an unknown one: its ValueError
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
        stocktake=row.get("stocktake"),
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
    return line(measurement, {TAG_SITE: site, key: value}, fields, ts_ns)


def stock_event_line(site: str, fields: Mapping[str, FieldValue | None], ts_ns: int) -> str:
    """A ``stock_event`` point: one series for the site (a tag per drum would be a series each)."""
    return line(STOCK_EVENT, {TAG_SITE: site}, fields, ts_ns)


# An audit row's JSON is kept whole up to this; a bigger one (a container's whole state
# with many SKUs) is cut, and says so: the stored event is the record, this is for people.
AUDIT_JSON_CHARS = 8000


def _json_text(value: Any) -> str:
    text = msgspec.json.encode(value).decode()
    if len(text) > AUDIT_JSON_CHARS:
        return text[:AUDIT_JSON_CHARS] + "…(cut)"
    return text


def audit_line(
    site: str,
    command: str,
    actor: str,
    request_id: str,
    args: Mapping[str, Any],
    result: Any,
    container_no: str | None,
    ts_ns: int,
) -> str:
    """An ``audit`` point: one accepted command, its arguments and its result as JSON."""
    fields: dict[str, FieldValue | None] = {
        "actor": actor,
        "request_id": request_id,
        "args": _json_text(dict(args)),
        "result": _json_text(result),
        "container_no": container_no,
    }
    return line(AUDIT, {TAG_SITE: site, TAG_COMMAND: command}, fields, ts_ns)


def shipped_drum_lines(
    site: str, container_no: str, drums: Mapping[str, str], ts_ns: int
) -> list[str]:
    """The ``shipped_drum`` points of a container that ships: ``drums`` is drum -> SKU.

    The i-th drum's point is at ``ts_ns + i``: two drums of one bucket never share a point.
    """
    return [
        line(
            SHIPPED_DRUM,
            {TAG_SITE: site, TAG_BUCKET: drum_bucket(drum)},
            {"drum": drum, "sku": sku, "container_no": container_no},
            ts_ns + i,
        )
        for i, (drum, sku) in enumerate(sorted(drums.items()))
    ]


def dead_letter_line(site: str, topic: str, reason: str, payload: str, ts_ns: int) -> str:
    """A ``dead_letter`` point."""
    return line(
        DEAD_LETTER, {TAG_SITE: site}, {"topic": topic, "reason": reason, "payload": payload}, ts_ns
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
    return line(ALERT, {TAG_SITE: site, TAG_KIND: alert.kind.value}, fields, ts_ns)


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
    return line(QUARANTINE, {TAG_SITE: site, TAG_STATION: station}, fields, ts_ns)


class Stamper:
    """Strictly increasing ns timestamps from the services' clock, for the events it stamps."""

    def __init__(self, floor_ns: int = 0) -> None:
        self.last_ns = floor_ns

    def __call__(self, at: datetime) -> int:
        """A ns time at ``at`` or just after the last one given, whichever is later."""
        ns = max(datetime_to_ns(at), self.last_ns + 1)
        self.last_ns = ns
        return ns
