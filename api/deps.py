"""Typed dependencies of the routes (and their shared parameters), and the one way routes
send commands."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import Depends, HTTPException, Path, Query, Request, status

from api.auth import TOKEN_QUERY_PARAM, Principal
from api.live import CommandFailed, LiveState
from api.metrics import Metrics
from gudang.barcodes import BarcodeError, ContainerNo
from gudang.influx import AsyncInfluxReader
from gudang.settings import Settings
from gudang.storage import MAX_TIME, MIN_TIME
from gudang.wire import NAME_PATTERN, Command

# Codes of the services' replies (and of the command itself) that reach the caller as they are.
PASSED_ON_CODES = frozenset({400, 404, 409, 503, 504})


# The dependencies are ``async def`` although they never wait: FastAPI runs a plain ``def``
# dependency in a worker thread, a thread hop per dependency per request (docs/performance.md).
async def get_settings(request: Request) -> Settings:
    """The settings in force: as the app was built, with the services' live catalogue."""
    settings: Settings = request.app.state.live.settings
    return settings


async def get_live(request: Request) -> LiveState:
    """The live state followed from MQTT."""
    live: LiveState = request.app.state.live
    return live


async def get_influx(request: Request) -> AsyncInfluxReader:
    """The InfluxDB reader."""
    influx: AsyncInfluxReader = request.app.state.influx
    return influx


async def get_metrics(request: Request) -> Metrics:
    """The app's Prometheus instruments."""
    metrics: Metrics = request.app.state.metrics
    return metrics


SettingsDep = Annotated[Settings, Depends(get_settings)]
LiveDep = Annotated[LiveState, Depends(get_live)]
InfluxDep = Annotated[AsyncInfluxReader, Depends(get_influx)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]


async def container_no_param(container_no: str) -> str:
    """The compact ISO 6346 number of a path parameter; 422 when it is not one."""
    try:
        return ContainerNo.parse(container_no).value
    except BarcodeError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc


ContainerNoPath = Annotated[str, Depends(container_no_param)]
# A token in the query: for links opened in a new tab (a document, an export).
QueryToken = Annotated[
    str | None,
    Query(
        alias=TOKEN_QUERY_PARAM,
        description="the bearer token, for links opened in a new tab (a header wins)",
    ),
]
Lang = Annotated[str, Query(pattern="^(id|en)$", description="id or en")]
StationName = Annotated[
    str, Path(pattern=NAME_PATTERN, description="station name", examples=["load-1"])
]

# The filters of the reads from InfluxDB (scans, the audit trail, alerts, their CSV).
StationQuery = Annotated[str | None, Query(pattern=NAME_PATTERN, description="only this station")]
ContainerQuery = Annotated[
    str | None, Query(max_length=20, description="only scans for this container (ISO 6346)")
]
ResultQuery = Annotated[
    str | None, Query(pattern="^[a-z_]{1,32}$", description="only this result, e.g. loaded")
]
# Nothing is ever stored under this container number: a filter by one matches nothing.
NO_MATCH = "-"


def container_filter(container_no: str | None) -> str | None:
    """A container filter's compact number; ``NO_MATCH`` for text no container can carry."""
    if not container_no:
        return None
    try:
        return ContainerNo.parse(container_no).value
    except BarcodeError:
        return NO_MATCH


def site_time(at: datetime | None, settings: Settings, name: str) -> datetime | None:
    """A time filter, aware (no zone: the site's, people's time); 422 past InfluxDB's range."""
    if at is None:
        return None
    if at.tzinfo is None:
        at = at.replace(tzinfo=ZoneInfo(settings.site.timezone))
    if not MIN_TIME <= at <= MAX_TIME:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"{name} must be between {MIN_TIME.date()} and {MAX_TIME.date()}",
        )
    return at


class Commands:
    """Sends a route's commands to the services as its caller; their refusal as HTTP."""

    def __init__(self, live: LiveState, metrics: Metrics) -> None:
        self.live = live
        self._metrics = metrics

    async def send(self, command: Command, args: dict[str, Any], who: Principal) -> dict[str, Any]:
        """Send ``command`` as ``who`` and return the services' result."""
        try:
            return await self.live.command(command.value, args, actor=who.name)
        except CommandFailed as exc:
            self._metrics.command_failures.labels(command.value, str(exc.code)).inc()
            # The services speak HTTP-like codes; an unexpected one is their fault, not the
            # caller's.
            code = exc.code if exc.code in PASSED_ON_CODES else status.HTTP_502_BAD_GATEWAY
            raise HTTPException(code, str(exc)) from exc


async def get_commands(live: LiveDep, metrics: MetricsDep) -> Commands:
    """The commands of one request, sent over the live state's MQTT link."""
    return Commands(live, metrics)


CommandsDep = Annotated[Commands, Depends(get_commands)]
