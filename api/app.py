"""The API's app factory."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from api.auth import RedactTokens, TokenBook
from api.guard import BodyGuard
from api.live import LiveState
from api.metrics import Metrics, MetricsMiddleware
from api.routes import (
    alerts,
    audit,
    catalogue,
    containers,
    corrections,
    health,
    papers,
    phone_tokens,
    scans,
    site,
    station_scans,
    stations,
    stock,
    stocktakes,
    stream,
)
from api.transport import PlainHttpGuard
from gudang import __version__
from gudang.influx import AsyncInfluxReader
from gudang.settings import Settings

API_PREFIX = "/api/v1"
STATIC_DIR = Path(__file__).parent / "static"

DESCRIPTION = """Live stock and container fill of a drum-packing warehouse.

**Auth**: every endpoint under `/api/v1` except `health` and `ready` needs
`Authorization: Bearer <token>`. Roles: *worker* reads everything and points a station at a
container; *supervisor* also opens, seals, ships and corrects containers, sets station modes
and acknowledges alerts; *admin* also reads the configuration. No token or an unknown one:
401; a role too low: 403. The stream and packing-list links also take `?access_token=`.

**Times** are UTC (ISO 8601); the dashboard shows them in the site's time zone.
**Errors** come as `{"detail": "..."}`.
"""

log = logging.getLogger(__name__)
_redact = RedactTokens()


def create_app(settings: Settings) -> FastAPI:
    """Build the API for these settings; MQTT and InfluxDB connect at start-up."""
    live = LiveState(settings)
    metrics = Metrics()
    metrics.watch(live)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        influx = AsyncInfluxReader(settings.influx)
        app.state.influx = influx
        await live.start()
        try:
            yield
        finally:
            await live.stop()
            await influx.aclose()

    app = FastAPI(
        title="Gudang",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        openapi_tags=[
            {"name": "containers", "description": "fill, lifecycle and packing lists"},
            {"name": "stock", "description": "drums by SKU and location"},
            {"name": "stations", "description": "packing stations and their devices"},
            {"name": "alerts", "description": "raised, acknowledged, cleared"},
            {"name": "scans", "description": "stored scans from InfluxDB"},
            {"name": "stream", "description": "live changes (Server-Sent Events)"},
            {
                "name": "papers",
                "description": "export papers: shipment record, invoice, PEB, Form E",
            },
            {"name": "site", "description": "the site and its configuration"},
            {"name": "health", "description": "open: health, readiness, metrics"},
        ],
    )
    app.state.settings = settings
    app.state.live = live
    app.state.metrics = metrics
    app.state.tokens = TokenBook(settings.api, phones=live.phone_principal)
    if not settings.api.tokens and not settings.api.allow_demo_tokens:
        log.warning("no api.tokens configured: every request but health will get 401")
    for module in (
        containers,
        papers,
        stock,
        stations,
        station_scans,
        phone_tokens,
        alerts,
        scans,
        stream,
        site,
        health,
    ):
        app.include_router(module.router, prefix=API_PREFIX)
    for router in (
        corrections.containers,
        corrections.stock,
        audit.router,
        catalogue.router,
        stocktakes.router,
    ):
        app.include_router(router, prefix=API_PREFIX)
    app.include_router(health.metrics_router)

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse("/dashboard/")

    app.mount("/dashboard", StaticFiles(directory=STATIC_DIR, html=True), name="dashboard")
    # Inside the metrics: a refused body is counted as a request with its 401 or 413.
    app.add_middleware(BodyGuard, tokens=app.state.tokens, metrics=metrics, prefix=API_PREFIX)
    app.add_middleware(MetricsMiddleware, metrics=metrics, prefix=API_PREFIX)
    # Outermost: plain HTTP from another machine is turned away before anything else.
    app.add_middleware(PlainHttpGuard, settings=settings, metrics=metrics)
    # Tokens given as ?access_token= must not reach the access log.
    access_log = logging.getLogger("uvicorn.access")
    if _redact not in access_log.filters:
        access_log.addFilter(_redact)
    return app
