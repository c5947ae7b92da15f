"""The API's app factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api.live import LiveState
from api.routes import containers, health, stations
from gudang import __version__
from gudang.influx import AsyncInfluxReader
from gudang.settings import Settings

API_PREFIX = "/api/v1"


def create_app(settings: Settings) -> FastAPI:
    """Build the API for these settings; MQTT and InfluxDB connect at start-up."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        live = LiveState(settings)
        influx = AsyncInfluxReader(settings.influx)
        app.state.live = live
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
        description="Live stock and container fill of a drum-packing warehouse.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    for module in (containers, stations, health):
        app.include_router(module.router, prefix=API_PREFIX)
    return app
