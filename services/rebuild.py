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
from collections.abc import Generator, Iterator
from concurrent.futures import ThreadPoolExecutor
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
# A scan stream's first window (later ones follow the rows' density), and the end of
# InfluxDB's time (int64 ns, its largest point time): no upper bound from there.
FIRST_SPAN_NS = 3600 * 10**9
MAX_NS = 2**63 - 2

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


def tie_key(row: dict[str, Any]) -> tuple[tuple[bool, str], ...]:
    """The order of rows at one ns: by their values, column by column (None first)."""
    return tuple((v is not None, str(v)) for v in row.values())


def _settled(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows in time order with the rows of each ns in ``tie_key`` order.

    InfluxDB merges the series of a measurement by time only: rows of several series at
    one ns come in an order that depends on the query (its range, its LIMIT), so pages of
    another size would replay them in another order. Sorted, they replay alike.
    """
    times = [r["time"] for r in rows]
    if len(set(times)) == len(times):
        return rows
    return sorted(rows, key=lambda r: (r["time"], tie_key(r)))


def stream_rows(
    influx: InfluxClient, measurement: str, site: str, chunk: int = CHUNK_ROWS, start_ns: int = 0
) -> Iterator[dict[str, Any]]:
    """Every row of a measurement for a site from ``start_ns``, in time order, in chunks.

    The rows of one ns in ``tie_key`` order, whatever the chunks. The next chunk is read
    (by a thread of its own) while this one is applied: InfluxDB answers on the other
    core instead of waiting for the replay, and the replay for it. Two chunks are in
    memory at most.
    """
    pages = _pages(influx, measurement, site, chunk, start_ns)
    try:
        with ThreadPoolExecutor(1, thread_name_prefix=f"rebuild-{measurement}") as pool:
            # One read at a time, each after the one before: the pager's state is one thread's.
            ahead = pool.submit(next, pages, None)
            while (page := ahead.result()) is not None:
                ahead = pool.submit(next, pages, None)
                yield from page
    finally:
        pages.close()


def _pages(
    influx: InfluxClient, measurement: str, site: str, chunk: int, start_ns: int
) -> Generator[list[dict[str, Any]]]:
    """The rows of ``stream_rows``, a query's worth at a time, each row once.

    Each query is bounded in time as well as in rows: InfluxDB 1.x reads up to LIMIT
    points of every shard (a week each) that a query's range touches before it merges
    them, so a page open to the end of history costs as much as the history is long, and
    all pages together its square (a year of scans: 0.6 s of InfluxDB for the first page
    of 10,000 rows, 0.08 s for the same rows asked over 14 days). A window about twice as
    long as the last full page took keeps each query to the shards it returns rows from.
    A window that ends short of a full page is followed by the next one, longer; an empty
    one by one question (LIMIT 1: a point of each shard after it) for the next row: where
    it is, or that there is none.
    A full page gives its rows before its last ns; the next page starts at that ns, so
    the rows of one ns always come in one page (a page of one ns only: twice the rows).
    """
    cursor = max(start_ns, 0)
    limit = chunk
    columns = _COLUMNS.get(measurement, "*")
    base = f"SELECT {columns} FROM {quote_ident(measurement)} WHERE site = {quote_str(site)}"
    span = FIRST_SPAN_NS
    probe = True
    while True:
        if probe:
            # Where the next row is (the same columns: the same rows).
            first = influx.query(f"{base} AND time >= {cursor} ORDER BY time ASC LIMIT 1")
            if not first:
                return
            cursor = int(first[0]["time"])
        hi = cursor + span
        upper = f" AND time < {hi}" if hi < MAX_NS else ""
        rows = influx.query(f"{base} AND time >= {cursor}{upper} ORDER BY time ASC LIMIT {limit}")
        if len(rows) < limit:
            if not upper:
                if rows:
                    yield _settled(rows)
                return  # to the end of time: all read
            if rows:
                yield _settled(rows)
                # The next window starts after this one, longer if this one was sparse.
                span *= min(16, max(2, chunk // len(rows)))
            # After an empty window, where the next row is (years later, or none).
            cursor, limit, probe = hi, chunk, not rows
            continue
        last = int(rows[-1]["time"])
        probe = False
        if int(rows[0]["time"]) == last:
            cursor, limit = last, 2 * limit  # a whole page at one ns: ask for all of it
            continue
        end = len(rows) - 1
        while int(rows[end - 1]["time"]) == last:
            end -= 1  # stops at the first row, which is before ``last``
        yield _settled(rows[:end])
        span = 2 * (last - cursor)
        cursor, limit = last, chunk


def _tagged(
    influx: InfluxClient, measurement: str, site: str, chunk: int, start_ns: int
) -> Iterator[tuple[int, int, int, str, dict[str, Any]]]:
    # (time, the measurement's place at one instant, the row's place in its stream, ...):
    # tuples that order themselves, so the merge needs no key; never compares two rows.
    order = _ORDER.index(measurement)
    for seq, row in enumerate(stream_rows(influx, measurement, site, chunk, start_ns)):
        yield int(row["time"]), order, seq, measurement, row


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
    for ts, _order, _seq, measurement, row in heapq.merge(*streams):
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
