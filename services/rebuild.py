"""Rebuild the floor's live state from InfluxDB, the system of record.

Runs at start and after InfluxDB refused points of a batch: the state is whatever the
stored facts say, so a restart, or a second instance, agrees with the first. Each
measurement is read in time order, a chunk of rows per query (a year of scans is about
150,000 rows: never one giant response), and the streams are merged by time.

``rebuild`` reads all history (the full road); ``services/checkpoint.py`` starts from a
stored checkpoint and replays only what came after it (``replay`` with lower bounds).
Either way, what the window of duplicate detection has left behind (scan ids and points
older than ``floor.max_scan_age_s``) is not kept, and drums of shipped containers leave
memory when their container ships.
"""

from __future__ import annotations

import heapq
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

import msgspec

from gudang.influx import InfluxClient, quote_ident, quote_str
from gudang.settings import ApiRole, Settings, SkuSettings
from gudang.storage import (
    ALERT,
    CATALOGUE_EVENT,
    CONTAINER_EVENT,
    EVENT,
    QUARANTINE,
    SCAN,
    SETTING_EVENT,
    SHIPMENT,
    SKU_SPEC,
    STATION_EVENT,
    STOCK_EVENT,
    STOCKTAKE_EVENT,
    TOKEN_EVENT,
    Event,
    datetime_to_ns,
    ns_to_datetime,
)
from gudang.wire import shipment_decoder
from services.alerts import AlertBook
from services.floor import Floor, FloorError
from services.recent import RecentIds, RecentPoints, window_start_ns
from services.records import alert_from_row, outcome_from_row

log = logging.getLogger(__name__)

# Rows per query: big enough that a year of scans takes a few dozen round trips, small
# enough that one response stays a few MB.
CHUNK_ROWS = 10_000

# What a rebuild needs of a scan row (about half of it: no barcode, device time ...).
_SCAN_COLUMNS = (
    "id",
    "station",
    "result",
    "reason",
    "drum",
    "sku",
    "container_no",
    "weight_kg",
    "out_of_range",
    "from_stock",
    "supplier",
    "qc",
    "location",
    "from_location",
    "stocktake",
)
_COLUMNS = {SCAN: ", ".join(quote_ident(c) for c in _SCAN_COLUMNS)}

# At one instant, events apply in this order: a container opens before a scan loads it.
# The settings first (the admin's alert routing), then the catalogue: a SKU added is
# known to the scans of the same instant.
# A count opens before the scans of the same instant, and closes after them; its approval
# (stocktake_event) after its adjustments (stock_event).
_ORDER = (
    SETTING_EVENT,
    CATALOGUE_EVENT,
    CONTAINER_EVENT,
    STATION_EVENT,
    SCAN,
    STOCK_EVENT,
    STOCKTAKE_EVENT,
    TOKEN_EVENT,
    QUARANTINE,
    ALERT,
)


@dataclass(slots=True)
class Rebuilt:
    """Everything the services know, as the stored facts say."""

    # How it was read, not state: never in a checkpoint, nor compared.
    not_state: ClassVar[frozenset[str]] = frozenset({"last_ns", "events", "road"})

    floor: Floor
    alerts: AlertBook
    # (station, scan id) -> point time (ns), inside the window (services/recent.py): a
    # scan's identity is its station's and its id.
    seen_scans: RecentIds[tuple[str, str]] = field(default_factory=RecentIds)
    seen_commands: set[str] = field(default_factory=set)
    # (station, point time) of the stored scans in the window: a new one never takes a used point.
    scan_points: RecentPoints = field(default_factory=RecentPoints)
    last_ns: int = 0  # the latest stored point: the services stamp their events after it
    events: int = 0
    road: str = "full"  # "full": all history read; "checkpoint": a checkpoint and its tail


@dataclass(frozen=True, slots=True)
class Bounds:
    """What a replay reads and keeps."""

    scans_from: int = 0  # scan rows at or after this point time (ns)
    stamped_from: int = 0  # rows of the services' own time (events, alerts, quarantine)
    keep_from: int = 0  # ids and points older than this are not remembered (the window)
    skip_seen: bool = False  # scans whose id is known are applied already (a checkpoint's)


def _row_key(row: dict[str, Any]) -> frozenset[tuple[str, Any]]:
    return frozenset(row.items())


def stream_rows(
    influx: InfluxClient, measurement: str, site: str, chunk: int = CHUNK_ROWS, start_ns: int = 0
) -> Iterator[dict[str, Any]]:
    """Every row of a measurement for a site from ``start_ns``, in time order, in chunks."""
    cursor = max(start_ns, 0)
    at_cursor: set[frozenset[tuple[str, Any]]] = set()  # rows at ``cursor`` already given
    limit = chunk
    columns = _COLUMNS.get(measurement, "*")
    base = f"SELECT {columns} FROM {quote_ident(measurement)} WHERE site = {quote_str(site)}"
    while True:
        rows = influx.query(f"{base} AND time >= {cursor} ORDER BY time ASC LIMIT {limit}")
        for row in rows:
            if int(row["time"]) == cursor and _row_key(row) in at_cursor:
                continue  # seen in the previous chunk (rows of other series at the same ns)
            yield row
        if len(rows) < limit:
            return
        last = int(rows[-1]["time"])
        if last == cursor:
            # A whole chunk at one instant: ask for more at once rather than loop.
            at_cursor.update(_row_key(r) for r in rows)
            limit *= 2
            continue
        cursor = last
        at_cursor = {_row_key(r) for r in rows if int(r["time"]) == last}
        limit = chunk


def _tagged(
    influx: InfluxClient, measurement: str, site: str, chunk: int, start_ns: int
) -> Iterator[tuple[int, int, str, dict[str, Any]]]:
    order = _ORDER.index(measurement)
    for row in stream_rows(influx, measurement, site, chunk, start_ns):
        yield int(row["time"]), order, measurement, row


def rebuild(
    settings: Settings,
    influx: InfluxClient,
    chunk: int = CHUNK_ROWS,
    now: datetime | None = None,
) -> Rebuilt:
    """The floor, alerts and seen ids from every stored event of the site, in time order."""
    now = now or datetime.now(UTC)
    out = Rebuilt(floor=Floor(settings.floor), alerts=AlertBook())
    bounds = Bounds(keep_from=window_start_ns(now, settings.floor))
    replay(out, settings, influx, bounds, chunk)
    finish(out, settings, influx, now)
    return out


def replay(
    out: Rebuilt, settings: Settings, influx: InfluxClient, bounds: Bounds, chunk: int = CHUNK_ROWS
) -> None:
    """Apply the stored events within ``bounds`` to ``out``, in time order."""
    site = settings.site.name
    streams = [
        _tagged(influx, m, site, chunk, bounds.scans_from if m == SCAN else bounds.stamped_from)
        for m in _ORDER
    ]
    for ts, _order, measurement, row in heapq.merge(*streams, key=lambda e: (e[0], e[1])):
        out.events += 1
        out.last_ns = max(out.last_ns, ts)
        at = ns_to_datetime(ts)
        if row.get("request_id"):
            out.seen_commands.add(str(row["request_id"]))
        try:
            _apply(out, measurement, row, ts, at, bounds)
        except (FloorError, ValueError, KeyError) as exc:
            # A stored fact the state cannot take (written by an older version, say):
            # skip it, loudly, rather than refuse to start.
            log.warning("stored %s at %d skipped in rebuild: %s", measurement, ts, exc)


def finish(
    out: Rebuilt, settings: Settings, influx: InfluxClient, now: datetime, scans_from: int = 0
) -> None:
    """After a replay: the window as of ``now``, each station's last scan, all to publish."""
    start = window_start_ns(now, settings.floor)
    out.seen_scans.prune(start)
    out.scan_points.prune(start)
    floor = out.floor
    _last_scans(floor, influx, settings.site.name, scans_from)
    floor.mark_all_changed()
    log.info(
        "state rebuilt (%s) from %d stored events: %d containers, %d stations, %d scan ids "
        "in the window, %d drums in memory, %d active alerts",
        out.road,
        out.events,
        len(floor.containers),
        len(floor.stations),
        len(out.seen_scans),
        len(floor.drum_location),
        len(out.alerts.active),
    )


def quarantine_key_ns(row_ns: int, device_ts: datetime) -> int:
    """How long a quarantined scan's id is kept: while its own device time may still arrive."""
    return max(row_ns, datetime_to_ns(device_ts) + 999)


def _last_scans(floor: Floor, influx: InfluxClient, site: str, from_ns: int = 0) -> None:
    """Each station's newest scan from ``from_ns`` on, as its worker saw it.

    (The replay leaves labels out.) A start from a checkpoint has each station's last scan
    up to it, so it asks only from there: unbounded, InfluxDB opens every shard of the
    years (a week each) to find each station's last point.
    """
    since = f"AND time >= {from_ns} " if from_ns > 0 else ""
    rows = influx.query(
        f"SELECT * FROM {quote_ident(SCAN)} WHERE site = {quote_str(site)} {since}"
        "GROUP BY station ORDER BY time DESC LIMIT 1"
    )
    for row in rows:
        station = str(row.get("station") or "")
        if station in floor.stations:
            ts = int(row["time"])
            outcome = outcome_from_row(row)
            label = str(row.get("barcode") or "")
            floor.note_last_scan(station, ns_to_datetime(ts), outcome, label, outcome.weight_kg)


def apply_row(out: Rebuilt, measurement: str, row: dict[str, Any], bounds: Bounds) -> None:
    """Apply one stored row (as a query returns it) to ``out``: what a replay does with it."""
    ts = int(row["time"])
    out.events += 1
    out.last_ns = max(out.last_ns, ts)
    if row.get("request_id"):
        out.seen_commands.add(str(row["request_id"]))
    _apply(out, measurement, row, ts, ns_to_datetime(ts), bounds)


def _apply(
    out: Rebuilt, measurement: str, row: dict[str, Any], ts: int, at: datetime, bounds: Bounds
) -> None:
    floor = out.floor
    if measurement == SCAN:
        key = (str(row["station"]), str(row["id"]))
        if bounds.skip_seen and key in out.seen_scans:
            return  # applied in the checkpoint already
        if ts >= bounds.keep_from:
            out.seen_scans[key] = ts
            out.scan_points.add((str(row["station"]), ts))
        floor.apply(str(row["station"]), at, outcome_from_row(row))
    elif measurement == QUARANTINE:
        device = row.get("device_ts")
        until = quarantine_key_ns(ts, datetime.fromisoformat(device)) if device else ts
        if until >= bounds.keep_from:
            out.seen_scans[(str(row.get("station") or ""), str(row["id"]))] = until
    elif measurement == ALERT:
        out.alerts.restore(alert_from_row(row))
    elif measurement == CONTAINER_EVENT:
        _apply_container_event(floor, row, at)
    elif measurement == CATALOGUE_EVENT:
        # set_sku, retire_sku: the whole definition, over the configured one.
        spec = SkuSettings.model_validate_json(str(row[SKU_SPEC]))
        floor.set_sku(str(row["sku"]), spec, check=False)
    elif measurement == SETTING_EVENT:
        if row.get(EVENT) == Event.ALERT_ROUTING:
            floor.set_alert_routing(
                msgspec.json.decode(str(row["dashboard_kinds"]), type=list[str]),
                msgspec.json.decode(str(row["webhook_kinds"]), type=list[str]),
                str(row.get("actor") or ""),
                at,
            )
    elif measurement == STOCK_EVENT:
        # write_off, move, qc_dispose: the drum goes where the correction put it.
        drum = str(row["drum"])
        if row.get(EVENT) == Event.STOCKTAKE:
            # A count's adjustment: a drum found may be one the books never had.
            floor.adjust(drum, str(row.get("sku") or ""), str(row["to_location"]))
            return
        if drum not in floor.drum_location:
            raise ValueError(f"stock correction of drum {drum} the books never had")
        if floor.drum_location[drum] in floor.containers:
            raise ValueError(f"stock correction of drum {drum} while it is in a container")
        floor.relocate(drum, str(row["to_location"]))
    elif measurement == STOCKTAKE_EVENT:
        _apply_count_event(floor, row, at)
    elif measurement == TOKEN_EVENT:
        _apply_token_event(out.floor, row, at, None)
    elif measurement == STATION_EVENT:
        station = str(row["station"])
        event = row.get(EVENT)
        if event == Event.SET_CONTAINER:
            floor.set_active_container(station, row.get("container_no") or None, check=False)
        elif event == Event.SET_MODE:
            supplier = row.get("supplier")
            floor.set_mode(
                station,
                str(row["mode"]),
                str(supplier) if supplier else "",
                stocktake=str(row.get("stocktake") or "") or None,
                check=False,
            )
        elif event in (Event.PHONE_TOKEN_ISSUE, Event.PHONE_TOKEN_REVOKE):
            _apply_token_event(floor, row, at, station)


_ROLES: dict[str, ApiRole] = {"worker": "worker", "supervisor": "supervisor", "admin": "admin"}


def _apply_token_event(
    floor: Floor, row: dict[str, Any], at: datetime, station: str | None
) -> None:
    """A token issued or revoked: a phone's (``station_event``) or a person's (``token_event``)."""
    if row.get(EVENT) == Event.PHONE_TOKEN_ISSUE:
        role = str(row.get("role") or "worker")
        floor.issue_phone_token(
            station,
            str(row["name"]),
            str(row["sha256"]),
            at,
            str(row.get("actor") or ""),
            role=_ROLES.get(role, "worker"),
        )
    elif row.get(EVENT) == Event.PHONE_TOKEN_REVOKE:
        floor.revoke_phone_token(str(row["name"]))


def _apply_count_event(floor: Floor, row: dict[str, Any], at: datetime) -> None:
    count_id = str(row["stocktake"])
    event = row.get(EVENT)
    if event == Event.OPEN_COUNT:
        floor.open_stocktake(count_id, str(row["location"]), str(row.get("actor") or ""), at, False)
    elif event == Event.CLOSE_COUNT:
        # The differences as the close found them (a late scan replayed in time order
        # before it must not change them).
        stored = msgspec.json.decode(str(row.get("result") or "{}"))
        floor.close_stocktake(count_id, at, check=False, stored=stored)
    elif event == Event.APPROVE_COUNT:
        count = floor.approve_stocktake(count_id, [])  # its adjustments came as stock_events
        count.adjusted = sorted(msgspec.json.decode(str(row.get("adjusted") or "[]")))


def _apply_container_event(floor: Floor, row: dict[str, Any], at: datetime) -> None:
    event = row.get(EVENT)
    number = str(row["container_no"])
    if event == Event.OPEN:
        existing = floor.containers.get(number)
        if existing is not None and existing.opened_at is None:
            # Loaded by a scan stamped (by a slightly fast device clock) before the open
            # event: the container was made with defaults; give it its real settings.
            existing.container_type = str(row.get("container_type") or existing.container_type)
            if row.get("capacity_drums"):
                existing.capacity_drums = int(row["capacity_drums"])
            if row.get("max_payload_kg"):
                existing.max_payload_kg = float(row["max_payload_kg"])
            existing.opened_at = at
            return
        floor.open_container(
            number,
            container_type=str(row.get("container_type") or "40HC"),
            capacity_drums=int(row["capacity_drums"]) if row.get("capacity_drums") else None,
            max_payload_kg=float(row["max_payload_kg"]) if row.get("max_payload_kg") else None,
            at=at,
        )
    elif event == Event.SEAL:
        floor.seal(number, str(row.get("seal_no") or ""), check=False)
    elif event == Event.SHIP:
        floor.ship(number, check=False)
    elif event == Event.UNLOAD:
        floor.unload(number, str(row["drum"]), check=False)
    elif event == Event.SHIPMENT:
        try:
            shipment = shipment_decoder.decode(str(row[SHIPMENT]).encode())
        except msgspec.DecodeError as exc:
            raise ValueError(f"stored shipment record of {number} is unreadable: {exc}") from exc
        floor.set_shipment(number, shipment, check=False)
    elif event == Event.UNSEAL:
        floor.unseal(number, check=False)
    elif event == Event.CORRECT_SEAL:
        floor.correct_seal(number, str(row.get("seal_no") or ""), check=False)
    elif event == Event.CANCEL:
        floor.cancel(number, check=False)
