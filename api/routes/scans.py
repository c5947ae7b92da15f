"""Scans from InfluxDB: the recent ones, per container, per station, per hour."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Query, status

from api.auth import Worker
from api.deps import InfluxDep, SettingsDep
from api.queries import hourly_query, recent_scans_query, run
from api.schemas import AUTH_ERRORS, INFLUX_ERRORS, HourlyOut, ScanOut
from gudang.barcodes import BarcodeError, ContainerNo
from gudang.storage import MAX_TIME, MIN_TIME, ns_to_datetime
from gudang.wire import NAME_PATTERN

router = APIRouter(prefix="/scans", tags=["scans"], responses=AUTH_ERRORS)

MAX_LIMIT = 1000  # a page of scans; older ones by ``since``
MAX_HOURS = 24 * 31  # a month of hourly buckets per station
# No scan was ever counted into an invalid number: filter by one that matches nothing.
NOT_A_CONTAINER = "-"

StationQuery = Annotated[str | None, Query(pattern=NAME_PATTERN, description="only this station")]
ResultQuery = Annotated[
    str | None, Query(pattern="^[a-z_]{1,32}$", description="only this result, e.g. loaded")
]
ContainerQuery = Annotated[
    str | None, Query(max_length=20, description="only scans for this container (ISO 6346)")
]


def _compact(container_no: str | None) -> str | None:
    """The compact number, or ``NOT_A_CONTAINER`` for text no container can carry."""
    if not container_no:
        return None
    try:
        return ContainerNo.parse(container_no).value
    except BarcodeError:
        return NOT_A_CONTAINER


def _opt(row: dict[str, Any], key: str) -> Any:
    value = row.get(key)
    return None if value == "" else value


def _scan_out(row: dict[str, Any]) -> ScanOut:
    weight = row.get("weight_kg")
    return ScanOut(
        time=ns_to_datetime(int(row["time"])),
        station=str(row.get("station") or ""),
        id=str(row.get("id") or ""),
        barcode=str(row.get("barcode") or ""),
        kind=str(row.get("kind") or ""),
        result=str(row.get("result") or ""),
        reason=_opt(row, "reason"),
        drum=_opt(row, "drum"),
        sku=_opt(row, "sku"),
        container_no=_opt(row, "container_no"),
        weight_kg=float(weight) if weight is not None else None,
        weight_stable=row.get("weight_stable"),
        weight_status=_opt(row, "weight_status"),
        out_of_range=row.get("out_of_range"),
    )


@router.get("", response_model=list[ScanOut], responses=INFLUX_ERRORS)
async def recent_scans(
    who: Worker,
    influx: InfluxDep,
    settings: SettingsDep,
    station: StationQuery = None,
    container_no: ContainerQuery = None,
    result: ResultQuery = None,
    since: Annotated[
        datetime | None, Query(description="only scans at or after (ISO 8601)")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
) -> list[ScanOut]:
    """Stored scans, newest first, with their result and reason."""
    number = _compact(container_no)
    if since is not None:
        if since.tzinfo is None:
            since = since.replace(tzinfo=ZoneInfo(settings.site.timezone))  # people's time
        if not MIN_TIME <= since <= MAX_TIME:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT,
                f"since must be between {MIN_TIME.date()} and {MAX_TIME.date()}",
            )
    rows = await run(
        influx,
        recent_scans_query(
            settings.site.name,
            station=station,
            container_no=number,
            result=result,
            since=since,
            limit=limit,
        ),
    )
    return [_scan_out(r) for r in rows]


@router.get("/hourly", response_model=list[HourlyOut], responses=INFLUX_ERRORS)
async def scans_per_hour(
    who: Worker,
    influx: InfluxDep,
    settings: SettingsDep,
    station: StationQuery = None,
    container_no: ContainerQuery = None,
    hours: Annotated[int, Query(ge=1, le=MAX_HOURS, description="how far back")] = 24,
) -> list[HourlyOut]:
    """Scans and loaded drums per station and hour (InfluxQL GROUP BY time(1h))."""
    site = settings.site.name
    number = _compact(container_no)
    every = await run(influx, hourly_query(site, hours, station, False, number))
    loaded = await run(influx, hourly_query(site, hours, station, True, number))
    counts: dict[tuple[int, str], list[int]] = {}
    for row in every:
        counts[(int(row["time"]), str(row.get("station", "")))] = [int(row.get("n") or 0), 0]
    for row in loaded:
        key = (int(row["time"]), str(row.get("station", "")))
        counts.setdefault(key, [0, 0])[1] = int(row.get("n") or 0)
    return [
        HourlyOut(hour=ns_to_datetime(ts), station=st, scans=n, loaded=m)
        for (ts, st), (n, m) in sorted(counts.items())
    ]
