"""What the API reads from InfluxDB, in InfluxQL (the schema is ``gudang.storage``)."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import HTTPException, status

from gudang.influx import (
    AsyncInfluxReader,
    InfluxRejected,
    InfluxUnavailable,
    quote_ident,
    quote_str,
)
from gudang.storage import CONTAINER_EVENT, EVENT, SCAN, Event, ns_to_datetime, rfc3339

log = logging.getLogger(__name__)

LOADED = "loaded"

# Most rows one query returns: a container holds 2,600 drums; a packing list of a bigger
# one still fits, and nothing asks InfluxDB for an unbounded result.
MAX_ROWS = 100_000


async def run(influx: AsyncInfluxReader, q: str) -> list[dict[str, Any]]:
    """Run a query; no database yet means no rows; unreachable is 503."""
    try:
        return await influx.query(q)
    except InfluxRejected as exc:
        if "database not found" in exc.message:
            return []  # nothing was ever stored for this site
        log.error("InfluxDB refused the API's query %s: %s", q, exc)
        raise HTTPException(
            status.HTTP_502_BAD_GATEWAY, f"InfluxDB refused a query: {exc}"
        ) from exc
    except InfluxUnavailable as exc:
        log.warning("InfluxDB unreachable: %s", exc)
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, f"InfluxDB is unreachable: {exc}"
        ) from exc


def where(
    site: str,
    equal: Mapping[str, str | None],
    *,
    one_of: tuple[str, Sequence[str] | None] = ("", None),
    since: datetime | None = None,
    until: datetime | None = None,
) -> str:
    """An InfluxQL condition on the site's points: each tag or field of ``equal`` with a
    value equal to it (no value: any), ``one_of``'s equal to one of its values (none: any),
    the time at or after ``since`` and at or before ``until``."""
    conditions = [f"site = {quote_str(site)}"]
    conditions += [f"{quote_ident(k)} = {quote_str(v)}" for k, v in equal.items() if v]
    key, values = one_of
    if values:
        conditions.append(
            "(" + " OR ".join(f"{quote_ident(key)} = {quote_str(v)}" for v in values) + ")"
        )
    if since is not None:
        conditions.append(f"time >= '{rfc3339(since)}'")
    if until is not None:
        conditions.append(f"time <= '{rfc3339(until)}'")
    return " AND ".join(conditions)


def recent_scans_query(
    site: str,
    *,
    station: str | None = None,
    container_no: str | None = None,
    result: str | None = None,
    since: datetime | None = None,
    limit: int = 100,
) -> str:
    """Scans newest first, filtered."""
    match = where(
        site, {"station": station, "container_no": container_no, "result": result}, since=since
    )
    return f"SELECT * FROM {SCAN} WHERE {match} ORDER BY time DESC LIMIT {limit}"


def hourly_query(
    site: str,
    hours: int,
    station: str | None,
    loaded_only: bool,
    container_no: str | None = None,
) -> str:
    """Scans per station and hour over the last ``hours`` hours."""
    result = LOADED if loaded_only else None
    match = where(site, {"station": station, "container_no": container_no, "result": result})
    return (
        f"SELECT count(id) AS n FROM {SCAN} WHERE {match} AND time >= now() - {hours}h "
        "GROUP BY time(1h), station fill(0)"
    )


@dataclass(frozen=True, slots=True)
class LoadedDrum:
    """A drum in a container, as the stored scans and corrections say."""

    drum: str
    sku: str
    weight_kg: float
    loaded_at: datetime
    station: str


async def _container_replay(
    influx: AsyncInfluxReader, site: str, container_no: str
) -> tuple[int, list[tuple[int, bool, dict[str, Any]]]]:
    """Since the container's last opening: its loads and unloads in time order.

    Returns the opening's time (ns) and ``(time_ns, is_load, row)`` steps; at one
    instant an unload sorts before a load, so a drum unloaded and loaded again is in.
    """
    events = await run(
        influx,
        f"SELECT * FROM {CONTAINER_EVENT} WHERE site = {quote_str(site)} "
        f"AND container_no = {quote_str(container_no)} LIMIT {MAX_ROWS}",
    )
    opened_ns = max((int(e["time"]) for e in events if e.get(EVENT) == Event.OPEN), default=0)
    scans = await run(
        influx,
        f"SELECT drum, sku, weight_kg, station FROM {SCAN} WHERE site = {quote_str(site)} "
        f"AND container_no = {quote_str(container_no)} AND result = {quote_str(LOADED)} "
        f"AND time >= {opened_ns} LIMIT {MAX_ROWS}",
    )
    steps: list[tuple[int, bool, dict[str, Any]]] = [(int(r["time"]), True, r) for r in scans]
    steps += [
        (int(e["time"]), False, e)
        for e in events
        if e.get(EVENT) == Event.UNLOAD and int(e["time"]) >= opened_ns and e.get("drum")
    ]
    steps.sort(key=lambda t: (t[0], t[1]))
    return opened_ns, steps


async def drums_in_container(
    influx: AsyncInfluxReader, site: str, container_no: str
) -> list[LoadedDrum]:
    """The drums now in a container: loaded scans since its last opening, less unloads."""
    _opened, steps = await _container_replay(influx, site, container_no)
    inside: dict[str, LoadedDrum] = {}
    for ts, is_load, row in steps:
        drum = str(row.get("drum") or "")
        if not is_load:
            inside.pop(drum, None)
        elif drum and drum not in inside:
            inside[drum] = LoadedDrum(
                drum=drum,
                sku=str(row.get("sku") or ""),
                weight_kg=float(row.get("weight_kg") or 0.0),
                loaded_at=ns_to_datetime(ts),
                station=str(row.get("station") or ""),
            )
    return sorted(inside.values(), key=lambda d: (d.loaded_at, d.drum))


@dataclass(frozen=True, slots=True)
class FillPoint:
    """A container's fill at the end of a time bucket in which it changed."""

    at: datetime
    drums: int
    net_weight_kg: float


async def fill_timeline(
    influx: AsyncInfluxReader, site: str, container_no: str, bucket_s: int
) -> tuple[datetime | None, list[FillPoint]]:
    """How the container filled since its last opening (see ``fill_points``)."""
    opened_ns, steps = await _container_replay(influx, site, container_no)
    points = fill_points(opened_ns, steps, bucket_s * 1_000_000_000, time.time_ns())
    return (ns_to_datetime(opened_ns) if opened_ns else None), points


def fill_points(
    opened_ns: int, steps: list[tuple[int, bool, dict[str, Any]]], bucket_ns: int, now_ns: int
) -> list[FillPoint]:
    """The opening (0 drums), then the fill at the end of each bucket in which it changed.

    Between two points the fill held. The bucket going on ends at ``now_ns``.
    """
    inside: dict[str, float] = {}
    points: list[FillPoint] = []

    def point(end_ns: int) -> FillPoint:
        weight = round(sum(inside.values()), 3)
        return FillPoint(ns_to_datetime(min(end_ns, now_ns)), len(inside), weight)

    if opened_ns:
        points.append(FillPoint(ns_to_datetime(opened_ns), 0, 0.0))
    current: int | None = None  # the bucket whose changes are not yet a point
    for ts, is_load, row in steps:
        bucket = ts // bucket_ns
        if current is not None and bucket != current:
            points.append(point((current + 1) * bucket_ns))
        current = bucket
        drum = str(row.get("drum") or "")
        if not is_load:
            inside.pop(drum, None)
        elif drum and drum not in inside:
            inside[drum] = float(row.get("weight_kg") or 0.0)
    if current is not None:
        points.append(point((current + 1) * bucket_ns))
    return points
