"""Rebuild the floor's live state from InfluxDB, the system of record.

Runs at start and after InfluxDB refused points of a batch: the state is whatever the
stored facts say, so a restart, or a second instance, agrees with the first.
"""

from __future__ import annotations

import logging
from typing import Any

from gudang.influx import InfluxClient, quote_ident, quote_str
from gudang.settings import Settings
from services.floor import Floor, FloorError
from services.records import CONTAINER_EVENT, SCAN, STATION_EVENT, ns_to_datetime, outcome_from_row

log = logging.getLogger(__name__)


def _rows(influx: InfluxClient, measurement: str, site: str) -> list[dict[str, Any]]:
    q = f"SELECT * FROM {quote_ident(measurement)} WHERE site = {quote_str(site)}"
    return influx.query(q)


def rebuild_floor(settings: Settings, influx: InfluxClient, seen_scans: dict[str, int]) -> Floor:
    """A new Floor from every stored event of the site, in time order; fills ``seen_scans``."""
    site = settings.site.name
    floor = Floor(settings.floor)
    seen_scans.clear()
    events: list[tuple[int, int, str, dict[str, Any]]] = []
    for order, measurement in enumerate((CONTAINER_EVENT, STATION_EVENT, SCAN)):
        for row in _rows(influx, measurement, site):
            events.append((int(row["time"]), order, measurement, row))
    events.sort(key=lambda e: (e[0], e[1]))
    for ts, _order, measurement, row in events:
        at = ns_to_datetime(ts)
        if measurement == SCAN:
            seen_scans[str(row["id"])] = ts
            floor.apply(str(row["station"]), at, outcome_from_row(row))
        elif measurement == CONTAINER_EVENT:
            _apply_container_event(floor, row, at)
        elif measurement == STATION_EVENT and row.get("event") == "set_container":
            floor.station(str(row["station"])).active_container = row.get("container_no") or None
    log.info(
        "state rebuilt from %d stored events: %d containers, %d stations, %d scans",
        len(events),
        len(floor.containers),
        len(floor.stations),
        len(seen_scans),
    )
    return floor


def _apply_container_event(floor: Floor, row: dict[str, Any], at: Any) -> None:
    if row.get("event") != "open":
        return
    number = str(row["container_no"])
    existing = floor.containers.get(number)
    try:
        floor.open_container(
            number,
            container_type=str(row.get("container_type") or "40HC"),
            capacity_drums=int(row["capacity_drums"]) if row.get("capacity_drums") else None,
            max_payload_kg=float(row["max_payload_kg"]) if row.get("max_payload_kg") else None,
            at=at,
        )
    except FloorError:
        # Opened again while not shipped cannot be stored; keep the first.
        log.warning(
            "stored open event for %s ignored: container %s",
            number,
            existing.status.value if existing else "?",
        )
