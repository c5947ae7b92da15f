"""Scans from InfluxDB: the recent ones, per container, per station, per hour."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from api.auth import Worker
from api.deps import (
    ContainerQuery,
    InfluxDep,
    ResultQuery,
    SettingsDep,
    StationQuery,
    container_filter,
    site_time,
)
from api.queries import hourly_query, recent_scans_query, run
from api.schemas import AUTH_ERRORS, INFLUX_ERRORS, HourlyOut, ScanOut
from gudang.influx import AsyncInfluxReader
from gudang.settings import Settings
from gudang.storage import ns_to_datetime

router = APIRouter(prefix="/scans", tags=["scans"], responses=AUTH_ERRORS)

MAX_LIMIT = 1000  # a page of scans; older ones by ``since``
MAX_HOURS = 24 * 31  # a month of hourly buckets per station


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


class ScanFilters(BaseModel):
    """What GET /scans and /scans.csv are filtered by."""

    station: StationQuery = None
    container_no: ContainerQuery = None
    result: ResultQuery = None
    since: Annotated[
        datetime | None, Query(description="only scans at or after (ISO 8601; no zone: WIB)")
    ] = None


ScanQuery = Annotated[ScanFilters, Query()]


async def stored_scans(
    influx: AsyncInfluxReader, settings: Settings, f: ScanFilters, limit: int
) -> list[ScanOut]:
    """Stored scans, newest first, filtered as GET /scans filters them."""
    query = recent_scans_query(
        settings.site.name,
        station=f.station,
        container_no=container_filter(f.container_no),
        result=f.result,
        since=site_time(f.since, settings, "since"),
        limit=limit,
    )
    return [_scan_out(r) for r in await run(influx, query)]


@router.get("", response_model=list[ScanOut], responses=INFLUX_ERRORS)
async def recent_scans(
    who: Worker,
    influx: InfluxDep,
    settings: SettingsDep,
    f: ScanQuery,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
) -> list[ScanOut]:
    """Stored scans, newest first, with their result and reason."""
    return await stored_scans(influx, settings, f, limit)


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
    number = container_filter(container_no)
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
