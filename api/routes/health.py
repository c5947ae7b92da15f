"""Health and readiness (open, for load balancers) and Prometheus metrics (a token)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response, status
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.auth import metrics_access
from api.deps import InfluxDep, LiveDep
from api.schemas import AUTH_ERRORS, HealthOut, Responses
from gudang.influx import InfluxError

router = APIRouter(tags=["health"])
metrics_router = APIRouter(tags=["health"])

_UNAVAILABLE: Responses = {
    503: {"model": HealthOut, "description": "the broker or InfluxDB is unreachable"}
}


async def _check(live: LiveDep, influx: InfluxDep, response: Response) -> HealthOut:
    detail: dict[str, str] = {}
    influx_ok = True
    try:
        detail["influxdb_version"] = await influx.ping()
    except InfluxError as exc:
        influx_ok = False
        detail["influxdb"] = str(exc)
    broker_ok = live.link.ready
    if not broker_ok:
        detail["broker"] = live.link.last_error or "not connected"
    ok = influx_ok and broker_ok
    if not ok:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return HealthOut(
        status="ok" if ok else "degraded", broker=broker_ok, influxdb=influx_ok, detail=detail
    )


@router.get("/health", response_model=HealthOut, responses=_UNAVAILABLE)
async def health(live: LiveDep, influx: InfluxDep, response: Response) -> HealthOut:
    """Whether the broker and InfluxDB are reachable (503 when either is not)."""
    return await _check(live, influx, response)


@router.get("/ready", response_model=HealthOut, responses=_UNAVAILABLE)
async def ready(live: LiveDep, influx: InfluxDep, response: Response) -> HealthOut:
    """Readiness for traffic: following the broker's topics and InfluxDB answering."""
    return await _check(live, influx, response)


@metrics_router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text"},
        **AUTH_ERRORS,
    },
    dependencies=[Depends(metrics_access)],
)
async def metrics(request: Request) -> Response:
    """Prometheus metrics: requests, fill per container, stations online, alerts.

    Needs a bearer token (any role) unless the caller's address is in
    ``api.metrics_open_from``: the series name every container and station."""
    body = generate_latest(request.app.state.metrics.registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
