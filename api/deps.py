"""Typed dependencies of the routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from api.live import LiveState
from gudang.influx import AsyncInfluxReader
from gudang.settings import Settings


def get_settings(request: Request) -> Settings:
    """The settings the app was built with."""
    settings: Settings = request.app.state.settings
    return settings


def get_live(request: Request) -> LiveState:
    """The live state followed from MQTT."""
    live: LiveState = request.app.state.live
    return live


def get_influx(request: Request) -> AsyncInfluxReader:
    """The InfluxDB reader."""
    influx: AsyncInfluxReader = request.app.state.influx
    return influx


SettingsDep = Annotated[Settings, Depends(get_settings)]
LiveDep = Annotated[LiveState, Depends(get_live)]
InfluxDep = Annotated[AsyncInfluxReader, Depends(get_influx)]
