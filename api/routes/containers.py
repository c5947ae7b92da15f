"""Containers: list, get, open."""

from __future__ import annotations

import msgspec
from fastapi import APIRouter, HTTPException, status

from api.deps import LiveDep
from api.live import CommandFailed
from api.schemas import ContainerOpen, ContainerOut, ErrorOut
from gudang.barcodes import BarcodeError, ContainerNo
from gudang.wire import ContainerStateV1

router = APIRouter(prefix="/containers", tags=["containers"])


@router.get("", response_model=list[ContainerOut])
async def list_containers(live: LiveDep) -> list[ContainerOut]:
    """Every known container with its live fill, newest first."""
    items = sorted(
        live.containers.values(), key=lambda c: (c.opened_at is None, c.opened_at), reverse=True
    )
    return [ContainerOut.from_state(c) for c in items]


@router.get(
    "/{container_no}",
    response_model=ContainerOut,
    responses={404: {"model": ErrorOut}, 422: {"model": ErrorOut}},
)
async def get_container(container_no: str, live: LiveDep) -> ContainerOut:
    """One container's live fill: drums, capacity, weight."""
    try:
        number = ContainerNo.parse(container_no).value
    except BarcodeError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    c = live.containers.get(number)
    if c is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"container {number} is not known")
    return ContainerOut.from_state(c)


@router.post(
    "",
    response_model=ContainerOut,
    status_code=status.HTTP_201_CREATED,
    responses={409: {"model": ErrorOut}, 503: {"model": ErrorOut}, 504: {"model": ErrorOut}},
)
async def open_container(body: ContainerOpen, live: LiveDep) -> ContainerOut:
    """Open a container for loading; stations load it once pointed at it."""
    try:
        result = await live.command(
            "container/open", body.model_dump(exclude_none=True), actor="api"
        )
    except CommandFailed as exc:
        raise HTTPException(exc.code, str(exc)) from exc
    return ContainerOut.from_state(msgspec.convert(result, ContainerStateV1))
