"""Health and readiness."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from api.deps import InfluxDep, LiveDep
from api.schemas import HealthOut
from gudang.influx import InfluxError

router = APIRouter(tags=["health"])


@router.get("/health", response_model=HealthOut)
async def health(live: LiveDep, influx: InfluxDep, response: Response) -> HealthOut:
    """Whether the broker and InfluxDB are reachable (503 when either is not)."""
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
