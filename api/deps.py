"""Typed dependencies of the routes, and the one way routes send commands."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status

from api.auth import Principal
from api.live import CommandFailed, LiveState
from api.metrics import Metrics
from gudang.barcodes import BarcodeError, ContainerNo
from gudang.influx import AsyncInfluxReader
from gudang.settings import Settings
from gudang.wire import Command

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


async def send_command(
    live: LiveState,
    metrics: Metrics,
    command: Command,
    args: dict[str, Any],
    who: Principal,
) -> dict[str, Any]:
    """Send a command as ``who`` and return the services' result; their refusal as HTTP."""
    try:
        return await live.command(command.value, args, actor=who.name)
    except CommandFailed as exc:
        metrics.command_failures.labels(command.value, str(exc.code)).inc()
        # The services speak HTTP-like codes; an unexpected one is their fault, not the caller's.
        code = exc.code if exc.code in PASSED_ON_CODES else status.HTTP_502_BAD_GATEWAY
        raise HTTPException(code, str(exc)) from exc
