"""Request and response models of the API, apart from the routes."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from gudang.barcodes import BarcodeError, ContainerNo
from gudang.wire import ContainerStateV1, ContainerStatus

ContainerType = Literal["20GP", "40GP", "40HC"]


class ErrorOut(BaseModel):
    """An error: what went wrong, in words."""

    detail: str


class ContainerOpen(BaseModel):
    """Open a container for loading."""

    container_no: str = Field(
        description="ISO 6346 number, spaces or hyphens allowed", examples=["CSQU 305438 3"]
    )
    container_type: ContainerType = "40HC"
    capacity_drums: int | None = Field(None, gt=0, le=100_000)
    max_payload_kg: float | None = Field(None, gt=0, le=100_000)

    @field_validator("container_no")
    @classmethod
    def _iso6346(cls, value: str) -> str:
        try:
            return ContainerNo.parse(value).value
        except BarcodeError as exc:
            raise ValueError(str(exc)) from exc


class ContainerOut(BaseModel):
    """A container's live fill."""

    container_no: str
    container_no_formatted: str
    container_type: str
    status: ContainerStatus
    drums: int
    capacity_drums: int
    fill_ratio: float
    net_weight_kg: float
    max_payload_kg: float
    weight_ratio: float
    seal_no: str | None = None
    opened_at: datetime | None = None
    last_scan_at: datetime | None = None
    updated_at: datetime | None = None
    drums_by_sku: dict[str, int] = {}

    @classmethod
    def from_state(cls, c: ContainerStateV1) -> ContainerOut:
        """Build from the services' retained state."""
        return cls(
            container_no=c.container_no,
            container_no_formatted=ContainerNo(c.container_no).formatted,
            container_type=c.container_type,
            status=c.status,
            drums=c.drums,
            capacity_drums=c.capacity_drums,
            fill_ratio=c.fill_ratio,
            net_weight_kg=c.net_weight_kg,
            max_payload_kg=c.max_payload_kg,
            weight_ratio=c.weight_ratio,
            seal_no=c.seal_no,
            opened_at=c.opened_at,
            last_scan_at=c.last_scan_at,
            updated_at=c.updated_at,
            drums_by_sku=c.drums_by_sku,
        )


class StationOut(BaseModel):
    """A station as the services see it."""

    station: str
    mode: str
    active_container: str | None
    online: bool
    last_scan_at: datetime | None
    scans: int


class StationContainerSet(BaseModel):
    """Point a loading station at a container (null: at none)."""

    container_no: str | None

    @field_validator("container_no")
    @classmethod
    def _iso6346(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return ContainerNo.parse(value).value
        except BarcodeError as exc:
            raise ValueError(str(exc)) from exc


class HealthOut(BaseModel):
    """Liveness and the reachability of what the API needs."""

    status: Literal["ok", "degraded"]
    broker: bool
    influxdb: bool
    detail: dict[str, str] = {}
