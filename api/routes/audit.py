"""Who did what: the audit trail of accepted commands, the alert history (cleared alerts
too), and CSV exports of scans, stock and the audit trail."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Annotated, Any

import msgspec
from fastapi import APIRouter, Query
from fastapi.responses import PlainTextResponse, Response
from pydantic import BaseModel

from api import csvsafe
from api.auth import Supervisor, SupervisorByQuery, Worker, WorkerByQuery
from api.deps import (
    ContainerQuery,
    InfluxDep,
    LiveDep,
    SettingsDep,
    container_filter,
    site_time,
)
from api.queries import run, where
from api.routes.scans import ScanQuery, stored_scans
from api.schemas import AUTH_ERRORS, INFLUX_ERRORS, AlertOut, AuditOut, ScanOut, file_responses
from api.views import build_stock
from gudang.settings import Settings
from gudang.storage import ALERT, AUDIT, ns_to_datetime
from gudang.wire import NAME_PATTERN, AlertKind, alert_decoder

router = APIRouter(tags=["audit"], responses=AUTH_ERRORS)

MAX_LIMIT = 10_000  # rows of one answer; older ones by ``until``
# An alert goes through a few transitions (raised, acknowledged, cleared, raised again ...):
# the history reads this many rows per alert asked for, to find each one's latest.
_ROWS_PER_ALERT = 4

Actor = Annotated[str | None, Query(max_length=100, description="only this actor (token name)")]
Since = Annotated[datetime | None, Query(description="at or after (ISO 8601; no zone: WIB)")]
Until = Annotated[datetime | None, Query(description="at or before (ISO 8601; no zone: WIB)")]
CommandKind = Annotated[
    list[str] | None,
    Query(
        alias="kind",
        max_length=64,
        description="only these commands, e.g. container/seal (repeat the parameter)",
    ),
]
AlertKinds = Annotated[
    list[AlertKind] | None, Query(description="only these kinds (repeat the parameter)")
]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]
CSV = "text/csv; charset=utf-8"
# The scans' CSV: GET /scans' fields in its order, the time first as time_utc, without
# weight_stable (weight_status says more).
SCAN_CSV_FIELDS = [f for f in ScanOut.model_fields if f not in ("time", "weight_stable")]


class AuditFilters(BaseModel):
    """What GET /audit and /audit.csv are filtered by."""

    actor: Actor = None
    kind: CommandKind = None
    container_no: ContainerQuery = None
    since: Since = None
    until: Until = None


AuditQuery = Annotated[AuditFilters, Query()]


def _where(
    settings: Settings,
    since: datetime | None,
    until: datetime | None,
    equal: dict[str, str | None],
    one_of: tuple[str, Sequence[str] | None],
) -> str:
    return where(
        settings.site.name,
        equal,
        one_of=one_of,
        since=site_time(since, settings, "since"),
        until=site_time(until, settings, "until"),
    )


def _json(text: Any) -> Any:
    try:
        return json.loads(str(text))
    except ValueError:
        return text  # cut past its limit: kept as the text it is


async def _audit(
    influx: InfluxDep, settings: Settings, f: AuditFilters, limit: int
) -> list[AuditOut]:
    equal = {"actor": f.actor, "container_no": container_filter(f.container_no)}
    match = _where(settings, f.since, f.until, equal, ("command", f.kind))
    rows = await run(
        influx, f"SELECT * FROM {AUDIT} WHERE {match} ORDER BY time DESC LIMIT {limit}"
    )
    return [
        AuditOut(
            time=ns_to_datetime(int(r["time"])),
            command=str(r.get("command") or ""),
            actor=str(r.get("actor") or ""),
            request_id=str(r.get("request_id") or ""),
            container_no=r.get("container_no") or None,
            args=_json(r.get("args") or "{}"),
            result=_json(r.get("result") or "null"),
        )
        for r in rows
    ]


@router.get("/audit", response_model=list[AuditOut], responses=INFLUX_ERRORS)
async def audit_trail(
    who: Supervisor, influx: InfluxDep, settings: SettingsDep, f: AuditQuery, limit: Limit = 200
) -> list[AuditOut]:
    """Every accepted command, newest first: who, when, the arguments and the result."""
    return await _audit(influx, settings, f, limit)


def _csv(header: Sequence[str], rows: Iterable[Sequence[Any]], filename: str) -> Response:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(header)
    # Barcodes and reasons are anyone's input: no cell may run as a formula.
    w.writerows(csvsafe.row("" if v is None else v for v in row) for row in rows)
    return PlainTextResponse(
        buf.getvalue(),
        media_type=CSV,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _csv_responses(what: str) -> dict[int | str, dict[str, Any]]:
    return file_responses(what, "text/csv", errors=INFLUX_ERRORS)


def _compact_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


@router.get("/audit.csv", response_class=Response, responses=_csv_responses("the audit as CSV"))
async def audit_csv(
    who: SupervisorByQuery,
    influx: InfluxDep,
    settings: SettingsDep,
    f: AuditQuery,
    limit: Limit = MAX_LIMIT,
) -> Response:
    """The audit trail as CSV (UTF-8), newest first, filtered like GET /audit."""
    items = await _audit(influx, settings, f, limit)
    return _csv(
        ["time_utc", "command", "actor", "container_no", "args", "result", "request_id"],
        (
            [
                a.time.isoformat(),
                a.command,
                a.actor,
                a.container_no,
                _compact_json(a.args),
                _compact_json(a.result),
                a.request_id,
            ]
            for a in items
        ),
        "audit.csv",
    )


@router.get("/audit/alerts", response_model=list[AlertOut], responses=INFLUX_ERRORS)
async def alert_history(
    who: Worker,
    influx: InfluxDep,
    settings: SettingsDep,
    actor: Annotated[
        str | None, Query(max_length=100, description="only alerts acknowledged by this actor")
    ] = None,
    kind: AlertKinds = None,
    container_no: ContainerQuery = None,
    station: Annotated[
        str | None, Query(pattern=NAME_PATTERN, description="only this station's alerts")
    ] = None,
    since: Since = None,
    until: Until = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT // _ROWS_PER_ALERT)] = 200,
) -> list[AlertOut]:
    """Alerts as stored, cleared ones too, newest first: each as its latest change left it."""
    match = _where(
        settings,
        since,
        until,
        {
            "acknowledged_by": actor,
            "container_no": container_filter(container_no),
            "station": station,
        },
        ("kind", [k.value for k in kind] if kind else None),
    )
    rows = await run(
        influx,
        f"SELECT * FROM {ALERT} WHERE {match} ORDER BY time DESC LIMIT {limit * _ROWS_PER_ALERT}",
    )
    latest: dict[str, AlertOut] = {}
    for row in rows:  # newest first: the first row of an id is its latest change
        alert_id = str(row.get("id") or "")
        if alert_id in latest or len(latest) >= limit:
            continue
        try:
            latest[alert_id] = AlertOut.from_wire(alert_decoder.decode(str(row["payload"])))
        except (msgspec.DecodeError, KeyError):
            continue  # an unreadable stored alert: the rebuild logs it
    return list(latest.values())


@router.get("/scans.csv", response_class=Response, responses=_csv_responses("scans as CSV"))
async def scans_csv(
    who: WorkerByQuery,
    influx: InfluxDep,
    settings: SettingsDep,
    f: ScanQuery,
    limit: Limit = MAX_LIMIT,
) -> Response:
    """Stored scans as CSV (UTF-8), newest first, filtered like GET /scans."""
    scans = await stored_scans(influx, settings, f, limit)
    return _csv(
        ["time_utc", *SCAN_CSV_FIELDS],
        ([s.time.isoformat(), *(getattr(s, f) for f in SCAN_CSV_FIELDS)] for s in scans),
        "scans.csv",
    )


@router.get("/stock.csv", response_class=Response, responses=_csv_responses("stock as CSV"))
async def stock_csv(who: WorkerByQuery, live: LiveDep, settings: SettingsDep) -> Response:
    """Stock as CSV (UTF-8): one row per SKU and location, as GET /stock."""
    stock = build_stock(live, settings)
    return _csv(
        ["sku", "description", "location", "location_kind", "drums"],
        ([i.sku, i.description, i.location, i.location_kind, i.drums] for i in stock.items),
        "stock.csv",
    )
