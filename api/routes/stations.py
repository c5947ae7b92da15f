"""Stations: list, point at a container."""

from __future__ import annotations

import msgspec
from fastapi import APIRouter, HTTPException

from api.deps import LiveDep
from api.live import CommandFailed
from api.schemas import ErrorOut, StationContainerSet, StationOut

router = APIRouter(prefix="/stations", tags=["stations"])


@router.get("", response_model=list[StationOut])
async def list_stations(live: LiveDep) -> list[StationOut]:
    """Every station the services have seen."""
    return [
        StationOut.model_validate(msgspec.to_builtins(s)) for _, s in sorted(live.stations.items())
    ]


@router.put(
    "/{station}/container",
    response_model=StationOut,
    responses={404: {"model": ErrorOut}, 409: {"model": ErrorOut}, 503: {"model": ErrorOut}},
)
async def set_station_container(
    station: str, body: StationContainerSet, live: LiveDep
) -> StationOut:
    """Point a loading station at a container, as scanning its label does."""
    try:
        result = await live.command(
            "station/set-container",
            {"station": station, "container_no": body.container_no},
            actor="api",
        )
    except CommandFailed as exc:
        raise HTTPException(exc.code, str(exc)) from exc
    return StationOut.model_validate(result)
