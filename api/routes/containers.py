"""Containers: list, get, open, seal, ship, unload a drum, fill timeline, packing list."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, PlainTextResponse
from pydantic import TypeAdapter

from api import packing
from api.auth import Supervisor, Worker, WorkerByQuery
from api.deps import CommandsDep, ContainerNoPath, InfluxDep, Lang, LiveDep, QueryToken, SettingsDep
from api.live import LiveState
from api.packing_pdf import to_pdf
from api.queries import fill_timeline
from api.schemas import (
    AUTH_ERRORS,
    COMMAND_ERRORS,
    INFLUX_ERRORS,
    INVALID,
    NOT_FOUND,
    ContainerOpen,
    ContainerOut,
    ContainerSeal,
    ContainerUnload,
    FillPointOut,
    FillTimelineOut,
    PackingListOut,
    file_responses,
)
from api.views import container_body, container_command, known_container
from gudang.wire import Command

router = APIRouter(prefix="/containers", tags=["containers"], responses=AUTH_ERRORS)

JSON = "application/json"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # sorts containers never opened last
# The packing list's files; errors stay JSON: only 200 is the file.
PACKING_LIST_ERRORS = {**NOT_FOUND, **INFLUX_ERRORS}


_container_list = TypeAdapter(list[ContainerOut])


def _containers(live: LiveState, statuses: list[str] | None) -> bytes:
    items = sorted(live.containers.values(), key=lambda c: c.opened_at or EPOCH, reverse=True)
    if statuses:
        items = [c for c in items if c.status.value in statuses]
    return _container_list.dump_json([ContainerOut.from_wire(c) for c in items])


# The GETs of live state answer with bodies rendered once per change of that state
# (LiveState.body): dashboards poll them, and most polls find nothing changed. The
# response_model stays for the OpenAPI schema; returning a Response skips FastAPI's
# validation and serialisation of the same model.
@router.get("", response_model=list[ContainerOut])
async def list_containers(
    live: LiveDep,
    who: Worker,
    status_: Annotated[
        list[str] | None,
        Query(alias="status", description="only these statuses (repeat the parameter)"),
    ] = None,
) -> Response:
    """Every known container with its live fill, newest first."""
    if status_:
        return Response(_containers(live, status_), media_type=JSON)
    return Response(live.body("containers", lambda: _containers(live, None)), media_type=JSON)


@router.get("/{container_no}", response_model=ContainerOut, responses={**NOT_FOUND, **INVALID})
async def get_container(
    who: Worker,
    number: ContainerNoPath,
    live: LiveDep,
) -> Response:
    """One container's live fill: drums, capacity, weight, loading rate and forecast."""
    c = known_container(live, number)
    return Response(live.body(f"container/{number}", lambda: container_body(c)), media_type=JSON)


@router.post(
    "",
    response_model=ContainerOut,
    status_code=status.HTTP_201_CREATED,
    responses=COMMAND_ERRORS,
)
async def open_container(
    who: Supervisor, body: ContainerOpen, commands: CommandsDep
) -> ContainerOut:
    """Open a container for loading; stations load it once pointed at it."""
    args = body.model_dump(exclude_none=True)
    return await container_command(commands, Command.CONTAINER_OPEN, args, who)


@router.post("/{container_no}/seal", response_model=ContainerOut, responses=COMMAND_ERRORS)
async def seal_container(
    who: Supervisor, number: ContainerNoPath, body: ContainerSeal, commands: CommandsDep
) -> ContainerOut:
    """Seal a container with its seal number; no drum goes in or out after this."""
    args = {"container_no": number, "seal_no": body.seal_no}
    return await container_command(commands, Command.CONTAINER_SEAL, args, who)


@router.post("/{container_no}/ship", response_model=ContainerOut, responses=COMMAND_ERRORS)
async def ship_container(
    who: Supervisor, number: ContainerNoPath, commands: CommandsDep
) -> ContainerOut:
    """Mark a sealed container as shipped."""
    return await container_command(commands, Command.CONTAINER_SHIP, {"container_no": number}, who)


@router.post("/{container_no}/unload", response_model=ContainerOut, responses=COMMAND_ERRORS)
async def unload_drum(
    who: Supervisor, number: ContainerNoPath, body: ContainerUnload, commands: CommandsDep
) -> ContainerOut:
    """Take one drum out of a container (a correction); it goes back to stock."""
    args: dict[str, object] = {"container_no": number, "drum": body.drum}
    if body.reason:
        args["reason"] = body.reason
    return await container_command(commands, Command.CONTAINER_UNLOAD, args, who)


@router.get(
    "/{container_no}/timeline",
    response_model=FillTimelineOut,
    responses={**NOT_FOUND, **INFLUX_ERRORS},
)
async def container_timeline(
    who: Worker,
    number: ContainerNoPath,
    live: LiveDep,
    influx: InfluxDep,
    settings: SettingsDep,
    bucket_minutes: Annotated[
        int, Query(ge=1, le=1440, description="bucket length: 1 minute to a day")
    ] = 15,
) -> FillTimelineOut:
    """The fill timeline: drums and net weight over time since the container was opened."""
    c = known_container(live, number)
    opened_at, points = await fill_timeline(influx, settings.site.name, number, bucket_minutes * 60)
    return FillTimelineOut(
        container_no=number,
        opened_at=opened_at,
        bucket_minutes=bucket_minutes,
        capacity_drums=c.capacity_drums,
        points=[
            FillPointOut(time=p.at, drums=p.drums, net_weight_kg=p.net_weight_kg) for p in points
        ],
    )


async def _packing_list(
    who: WorkerByQuery,
    number: ContainerNoPath,
    live: LiveDep,
    influx: InfluxDep,
    settings: SettingsDep,
    access_token: QueryToken = None,
) -> PackingListOut:
    """The container's packing list, from its stored scans (a worker's token, header or query)."""
    return await packing.build(known_container(live, number), influx, settings)


PackingList = Annotated[PackingListOut, Depends(_packing_list)]


@router.get(
    "/{container_no}/packing-list", response_model=PackingListOut, responses=PACKING_LIST_ERRORS
)
async def packing_list(pl: PackingList) -> PackingListOut:
    """The container's packing list: every drum with SKU and weight, totals, HS codes."""
    return pl


@router.get(
    "/{container_no}/packing-list.csv",
    response_class=Response,
    responses=file_responses("the packing list as CSV", "text/csv", errors=PACKING_LIST_ERRORS),
)
async def packing_list_csv(pl: PackingList, number: ContainerNoPath) -> PlainTextResponse:
    """The packing list as CSV (UTF-8), one drum a line, totals at the end."""
    return PlainTextResponse(
        packing.to_csv(pl),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="packing-list-{number}.csv"'},
    )


@router.get(
    "/{container_no}/packing-list.pdf",
    response_class=Response,
    responses=file_responses(
        "the packing list as an A4 PDF", "application/pdf", errors=PACKING_LIST_ERRORS, binary=True
    ),
)
async def packing_list_pdf(
    pl: PackingList, number: ContainerNoPath, settings: SettingsDep, lang: Lang = "en"
) -> Response:
    """The packing list as an A4 PDF: every drum, totals per SKU, net and gross, HS codes."""
    # 2,600 rows take a moment to lay out: off the event loop, so streams keep flowing.
    body = await run_in_threadpool(to_pdf, pl, settings.site.timezone, lang)
    return Response(
        body,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="packing-list-{number}.pdf"'},
    )


@router.get(
    "/{container_no}/packing-list.html",
    response_class=Response,
    responses=file_responses("a print-ready page", "text/html", errors=PACKING_LIST_ERRORS),
)
async def packing_list_html(
    pl: PackingList, settings: SettingsDep, lang: Lang = "en"
) -> HTMLResponse:
    """The packing list as a print-ready page (A4, print it or save it as PDF)."""
    return HTMLResponse(packing.to_html(pl, settings.site.timezone, lang))
