"""A phone is a station's scanner: POST /stations/{station}/scans.

A station whose bridge is online with a scale gets the scan on its command topic: the
bridge weighs it, spools it and publishes it. Any other station's scan is published by
the API itself, without a weight. Either way the answer waits for the services' receipt
(stored in InfluxDB), so a phone forgets a scan only once it is stored; a resend with the
same id is recognised by the bridge and by the services and changes nothing.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Response, status

from api.auth import Scanner
from api.deps import InfluxDep, LiveDep, MetricsDep, SettingsDep, StationName
from api.live import CommandFailed, LiveState
from api.queries import run
from api.schemas import AUTH_ERRORS, INVALID, ErrorOut, PhoneScanIn, PhoneScanOut
from gudang.barcodes import BarcodeError, StationCard, is_container_label
from gudang.influx import AsyncInfluxReader, quote_str
from gudang.settings import Settings
from gudang.storage import MAX_TIME, MIN_TIME, QUARANTINE, SCAN, rfc3339
from gudang.wire import (
    ScanKind,
    ScanV1,
    StationScanCommandV1,
    StationState,
    WeightStatus,
    encode,
)

log = logging.getLogger(__name__)

router = APIRouter(prefix="/stations", tags=["stations"], responses=AUTH_ERRORS)

Via = Literal["bridge", "api"]

# The stored point's time is the scan's time plus under a µs (gudang.storage.scan_time_ns);
# this much either side finds it with an indexed time range.
POINT_SLACK = timedelta(seconds=1)
# A quarantined scan is stored at the services' time: a resend within this long finds it.
QUARANTINE_LOOKBACK = "2d"


def scan_path(live: LiveState, station: str) -> tuple[Via, WeightStatus]:
    """Where a phone's scan at ``station`` goes, and the weight status if the API sends it.

    The bridge's retained status says whether it has a scale; the services' view says
    whether it is online (they also time out a hung bridge's heartbeats).
    """
    st = live.station_status.get(station)
    if st is None or not any(d.role == "scale" for d in st.devices):
        return "api", WeightStatus.NO_SCALE
    view = live.stations.get(station)
    online = view.online if view is not None else st.state is StationState.ONLINE
    if online:
        return "bridge", WeightStatus.STABLE
    # Its scale is out of reach with its bridge: the drum is counted, its weight is missing.
    return "api", WeightStatus.ERROR


def _direct_scan(site: str, station: str, body: PhoneScanIn, weight: WeightStatus) -> ScanV1:
    """The ScanV1 the API publishes for a station it sends scans for itself."""
    barcode, kind = body.barcode, ScanKind.DRUM
    try:
        card = StationCard.parse(body.barcode)
    except BarcodeError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    if card is not None and card.qc is not None:
        # The verdict is held for the next drum by the station's bridge; there is none.
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"QC card {body.barcode!r}: QC cards need a station with a bridge",
        )
    if card is not None and card.supplier is not None:
        barcode, kind = card.supplier, ScanKind.SUPPLIER
    elif is_container_label(body.barcode):
        kind = ScanKind.CONTAINER
    if kind is not ScanKind.DRUM:
        weight = WeightStatus.NO_SCALE  # labels are never weighed
    return ScanV1(
        id=body.id,
        ts=body.ts,
        site=site,
        station=station,
        barcode=barcode,
        symbology=body.symbology,
        kind=kind,
        weight_status=weight,
    )


def _known(station: str, token_station: str | None, live: LiveState, settings: Settings) -> bool:
    """Whether the site knows the station (as for its commands), so no scan invents one.

    A phone signed in for a station by a supervisor's QR code makes that station known:
    a phone may be the only scanner of a station nobody configured.
    """
    return (
        station == token_station
        or station in settings.floor.stations
        or station in live.stations
        or station in live.station_status
    )


async def _find(
    influx: AsyncInfluxReader, site: str, station: str, body: PhoneScanIn
) -> dict[str, Any] | None:
    """The stored point of the scan (with its result), or None when it is not stored."""
    where = (
        f"site = {quote_str(site)} AND station = {quote_str(station)} AND id = {quote_str(body.id)}"
    )
    try:
        # A phone whose clock says year 540 or 4823: no point can be stored at that time
        # (InfluxDB's range ends in 1677 and 2262), and the literal would not even parse.
        if MIN_TIME + POINT_SLACK <= body.ts <= MAX_TIME - POINT_SLACK:
            rows = await run(
                influx,
                f"SELECT * FROM {SCAN} WHERE {where}"
                f" AND time >= '{rfc3339(body.ts - POINT_SLACK)}'"
                f" AND time <= '{rfc3339(body.ts + POINT_SLACK)}' LIMIT 1",
            )
            if rows:
                return rows[0]
        # A scan with an impossible time is kept aside at the services' time.
        rows = await run(
            influx,
            f"SELECT * FROM {QUARANTINE} WHERE {where}"
            f" AND time >= now() - {QUARANTINE_LOOKBACK} LIMIT 1",
        )
    except HTTPException as exc:
        log.warning("phone scan %s: cannot look it up: %s", body.id, exc.detail)
        return None
    return {**rows[0], "result": "quarantined"} if rows else None


def _answer(out: PhoneScanOut, row: dict[str, Any]) -> PhoneScanOut:
    """The answer with what the stored point says."""
    weight_kg = row.get("weight_kg")
    out.result = str(row["result"]) if row.get("result") else None
    out.reason = str(row["reason"]) if row.get("reason") else None
    out.container_no = str(row["container_no"]) if row.get("container_no") else None
    out.weight_kg = float(weight_kg) if isinstance(weight_kg, int | float) else None
    out.weight_status = str(row["weight_status"]) if row.get("weight_status") else None
    return out


@router.post(
    "/{station}/scans",
    response_model=PhoneScanOut,
    responses={
        202: {"model": PhoneScanOut, "description": "Sent, not receipted in time: send again"},
        404: {"model": ErrorOut, "description": "A station the site does not know"},
        503: {"model": ErrorOut, "description": "The broker is unreachable: not sent, send again"},
        **INVALID,
    },
)
async def phone_scan(
    who: Scanner,
    station: StationName,
    body: PhoneScanIn,
    response: Response,
    live: LiveDep,
    influx: InfluxDep,
    settings: SettingsDep,
    metrics: MetricsDep,
) -> PhoneScanOut:
    """A scan from a phone at this station, counted once by its id; 200 once stored."""
    if who.station is not None and who.station != station:
        metrics.auth_failures.labels("other_station").inc()
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"the token {who.name!r} scans at station {who.station} only",
        )
    if not _known(station, who.station, live, settings):
        metrics.phone_scans.labels("none", "unknown_station").inc()
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            f"stasiun {station!r} tidak dikenal / unknown station {station!r}: not in "
            "floor.stations, never seen on MQTT and no phone signed in for it",
        )
    site = settings.site.name
    via, weight = scan_path(live, station)
    out = PhoneScanOut(id=body.id, station=station, via=via, stored=True)
    # A resend of a stored scan is answered from InfluxDB: a bridge that took the id
    # already would not answer it again.
    row = await _find(influx, site, station, body)
    if row is not None:
        metrics.phone_scans.labels(via, "known").inc()
        return _answer(out, row)
    if via == "bridge":
        topic = live.topics.station_command(station)
        payload = encode(
            StationScanCommandV1(
                id=body.id,
                ts=body.ts,
                barcode=body.barcode,
                symbology=body.symbology,
                sent_at=datetime.now(UTC),
            )
        )
    else:
        topic = live.topics.scan(station)
        payload = encode(_direct_scan(site, station, body, weight))
    try:
        stored = await live.publish_and_wait_receipt(
            station, topic, payload, body.id, settings.api.scan_receipt_timeout_s
        )
    except CommandFailed as exc:
        metrics.phone_scans.labels(via, "refused").inc()
        raise HTTPException(exc.code, str(exc)) from exc
    if not stored:
        metrics.phone_scans.labels(via, "pending").inc()
        log.info("phone scan %s at %s: no receipt in time (%s)", body.id, station, via)
        response.status_code = status.HTTP_202_ACCEPTED
        out.stored = False
        return out
    metrics.phone_scans.labels(via, "stored").inc()
    # Receipted: stored, or refused for good (then it is not found and has no result).
    return _answer(out, await _find(influx, site, station, body) or {})
