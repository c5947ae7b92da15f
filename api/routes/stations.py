"""Stations: list with devices, set the mode, point at a container."""

from __future__ import annotations

from typing import Any

import msgspec
from fastapi import APIRouter, HTTPException, Response, status
from pydantic import TypeAdapter

from api.auth import Principal, Supervisor, Worker
from api.deps import Commands, CommandsDep, LiveDep, StationName
from api.live import LiveState
from api.schemas import (
    AUTH_ERRORS,
    COMMAND_ERRORS,
    StationContainerSet,
    StationModeSet,
    StationOut,
)
from gudang.wire import Command, StationViewV1

router = APIRouter(prefix="/stations", tags=["stations"], responses=AUTH_ERRORS)


def _station_out(live: LiveState, name: str, result: dict[str, object] | None = None) -> StationOut:
    view = live.station_views().get(name)
    if result is not None:
        try:
            view = msgspec.convert(result, StationViewV1)
        except msgspec.ValidationError:
            pass  # an answer without the station's view: the live copy will do
    if view is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"station {name} is not known")
    return StationOut.build(view, live.station_status.get(name))


async def _station_command(
    commands: Commands, command: Command, args: dict[str, Any], who: Principal
) -> StationOut:
    """Send a command about the station ``args["station"]``; the station after it."""
    result = await commands.send(command, args, who)
    return _station_out(commands.live, str(args["station"]), result)


_station_list = TypeAdapter(list[StationOut])


def _stations(live: LiveState) -> bytes:
    return _station_list.dump_json(
        [
            StationOut.build(view, live.station_status.get(name))
            for name, view in live.station_views().items()
        ]
    )


@router.get("", response_model=list[StationOut])
async def list_stations(who: Worker, live: LiveDep) -> Response:
    """Every station the services or its own status have shown, with its devices."""
    # Rendered once per change of a station (LiveState.body).
    return Response(live.body("stations", lambda: _stations(live)), media_type="application/json")


@router.put("/{station}/container", response_model=StationOut, responses=COMMAND_ERRORS)
async def set_station_container(
    who: Worker, station: StationName, body: StationContainerSet, commands: CommandsDep
) -> StationOut:
    """Point a loading station at a container, as scanning its label does (workers may)."""
    args = {"station": station, "container_no": body.container_no}
    return await _station_command(commands, Command.STATION_SET_CONTAINER, args, who)


@router.put("/{station}/mode", response_model=StationOut, responses=COMMAND_ERRORS)
async def set_station_mode(
    who: Supervisor, station: StationName, body: StationModeSet, commands: CommandsDep
) -> StationOut:
    """Switch a station between loading and receiving (with the supplier it receives from)."""
    args: dict[str, object] = {"station": station, "mode": body.mode}
    if body.supplier:
        args["supplier"] = body.supplier
    if body.stocktake:
        args["stocktake"] = body.stocktake
    return await _station_command(commands, Command.STATION_SET_MODE, args, who)
