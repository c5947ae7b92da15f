"""Alerts: list by state and kind, acknowledge one, or every raised one of a kind; which
kinds reach the dashboard's list and the plain webhooks (the admin's, live)."""

from __future__ import annotations

from typing import Annotated

import msgspec
from fastapi import APIRouter, HTTPException, Path, Query, Response, status
from pydantic import AwareDatetime, BaseModel, Field, TypeAdapter

from api.auth import Admin, Supervisor, Worker
from api.deps import CommandsDep, LiveDep, SettingsDep
from api.live import LiveState
from api.schemas import AUTH_ERRORS, COMMAND_ERRORS, INVALID, AlertOut
from gudang.wire import AlertKind, AlertKindAckV1, AlertState, AlertV1, Command

router = APIRouter(prefix="/alerts", tags=["alerts"], responses=AUTH_ERRORS)

JSON = "application/json"
_alert_list = TypeAdapter(list[AlertOut])
_SEVERITY_RANK = {"critical": 0, "warning": 1, "info": 2}


class AlertRoutingIn(BaseModel):
    """Which alert kinds reach where (empty: every kind)."""

    dashboard_kinds: list[AlertKind] = Field(
        default_factory=list, max_length=64, description="the dashboard's alert list shows these"
    )
    webhook_kinds: list[AlertKind] = Field(
        default_factory=list, max_length=64, description="the plain webhooks get these"
    )


class AlertRoutingOut(AlertRoutingIn):
    """The alert routing in force; ``set_by`` is None while the configuration's."""

    set_by: str | None = None
    set_at: AwareDatetime | None = None


@router.get("/routing", response_model=AlertRoutingOut)
async def get_routing(who: Supervisor, live: LiveDep, settings: SettingsDep) -> AlertRoutingOut:
    """Which kinds reach the dashboard's list and the plain webhooks, as in force now."""
    r = live.alert_routing
    return AlertRoutingOut(
        dashboard_kinds=[AlertKind(k) for k in settings.alerts.dashboard_kinds],
        webhook_kinds=[AlertKind(k) for k in settings.alerts.webhook_kinds],
        set_by=r.set_by if r is not None else None,
        set_at=r.set_at if r is not None else None,
    )


@router.put("/routing", response_model=AlertRoutingOut, responses=COMMAND_ERRORS)
async def set_routing(who: Admin, body: AlertRoutingIn, commands: CommandsDep) -> AlertRoutingOut:
    """Change which kinds reach the dashboard's list and the plain webhooks, live (admin)."""
    args = body.model_dump(mode="json")
    result = await commands.send(Command.ALERT_ROUTING, args, who)
    return AlertRoutingOut.model_validate(result)


@router.get("", response_model=list[AlertOut], responses=INVALID)
async def list_alerts(
    who: Worker,
    live: LiveDep,
    state: Annotated[
        list[AlertState] | None, Query(description="only these states (repeat the parameter)")
    ] = None,
    kind: Annotated[
        list[AlertKind] | None, Query(description="only these kinds (repeat the parameter)")
    ] = None,
) -> Response:
    """Alerts not cleared, most severe and newest first."""
    if state or kind:
        return Response(_alerts(live, state, kind), media_type=JSON)
    # Rendered once per change of an alert (LiveState.body).
    return Response(live.body("alerts", lambda: _alerts(live, None, None)), media_type=JSON)


def _alerts(live: LiveState, state: list[AlertState] | None, kind: list[AlertKind] | None) -> bytes:
    alerts = [
        a
        for a in live.alerts.values()
        if (not state or a.state in state) and (not kind or a.kind in kind)
    ]
    alerts.sort(key=lambda a: (_SEVERITY_RANK.get(a.severity, 9), -a.raised_at.timestamp()))
    return _alert_list.dump_json([AlertOut.from_wire(a) for a in alerts])


@router.post("/{alert_id}/ack", response_model=AlertOut, responses=COMMAND_ERRORS)
async def acknowledge_alert(
    who: Supervisor,
    alert_id: Annotated[str, Path(min_length=1, max_length=200)],
    commands: CommandsDep,
) -> AlertOut:
    """Acknowledge an alert: who and when are recorded; it stays until its cause clears."""
    if alert_id not in commands.live.alerts:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"alert {alert_id} is not active")
    result = await commands.send(Command.ALERT_ACK, {"alert_id": alert_id}, who)
    try:
        return AlertOut.from_wire(msgspec.convert(result, AlertV1))
    except msgspec.ValidationError:
        # The services answered without the alert: report the acknowledgement we asked for.
        current = commands.live.alerts.get(alert_id)
        if current is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"alert {alert_id} cleared") from None
        return AlertOut.from_wire(current)


class AckedKind(BaseModel):
    """The alerts of one kind acknowledged at once: those raised when the services ran it."""

    kind: AlertKind
    acknowledged: list[str] = Field(
        description="every alert of the kind raised then (those acknowledged already are not)"
    )
    cleared: list[str] = Field(
        default_factory=list, description="of those, the ones it cleared (event kinds)"
    )
    acknowledged_by: str
    acknowledged_at: AwareDatetime


@router.post("/kinds/{kind}/ack", response_model=AckedKind, responses=COMMAND_ERRORS)
async def acknowledge_kind(who: Supervisor, kind: AlertKind, commands: CommandsDep) -> AckedKind:
    """Acknowledge every alert of one kind raised now (an event alert clears with it)."""
    result = await commands.send(Command.ALERT_ACK_KIND, {"kind": kind.value}, who)
    acked = msgspec.convert(result, AlertKindAckV1)
    return AckedKind(
        kind=acked.kind,
        acknowledged=acked.acknowledged,
        cleared=acked.cleared,
        acknowledged_by=acked.acknowledged_by,
        acknowledged_at=acked.acknowledged_at,
    )
