"""Request and response models of the API, apart from the routes.

Pydantic models give the OpenAPI schema; msgspec structs stay the wire. A response model
that shows a wire struct is built from it by field name (``from_wire``), so the fields are
listed once each, here, with their descriptions; ``api/views.py`` builds them.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, Self

import msgspec
from pydantic import BaseModel, ConfigDict, Field, computed_field, field_validator

from gudang.barcodes import BarcodeError, ContainerNo
from gudang.settings import ApiRole, SkuSettings
from gudang.wire import (
    INCOTERMS,
    MAX_BARCODE_CHARS,
    AlertKind,
    AlertState,
    ContainerStatus,
    ScanResult,
    StationStatusV1,
    StationViewV1,
)

ContainerType = Literal["20GP", "40GP", "40HC"]
StationMode = Literal["loading", "receiving", "counting"]


# -- errors ----------------------------------------------------------------------------------
class ErrorOut(BaseModel):
    """An error: what went wrong, in words."""

    detail: str = Field(examples=["container CSQU3054383 is already loading"])


class ValidationIssue(BaseModel):
    """One invalid part of a request."""

    model_config = ConfigDict(extra="allow")

    loc: list[str | int]
    msg: str
    type: str


class InvalidOut(BaseModel):
    """The request is invalid: a sentence, or one issue per invalid part."""

    detail: str | list[ValidationIssue]


class WireModel(BaseModel):
    """A response model read from a wire struct's attributes of the same names."""

    @classmethod
    def from_wire(cls, struct: msgspec.Struct) -> Self:
        """The model of a wire struct (fields it does not show are left out)."""
        return cls.model_validate(struct, from_attributes=True)


def _error(description: str, model: type[BaseModel] = ErrorOut) -> dict[str, Any]:
    return {"model": model, "description": description}


AUTH_ERRORS: Responses = {
    401: _error("No bearer token, or an unknown one"),
    403: _error("The token's role is too low for this"),
}
Responses = dict[int | str, dict[str, Any]]
INVALID: Responses = {422: _error("Invalid request", InvalidOut)}
NOT_FOUND: Responses = {404: _error("Not known")}
COMMAND_ERRORS: Responses = {
    400: _error("The services refused the arguments"),
    404: _error("The thing (or the command) is not known to the services"),
    409: _error("Not allowed in the current state (e.g. sealing a shipped container)"),
    503: _error("The broker is unreachable: the command was not sent"),
    502: _error("The services failed on the command"),
    504: _error("The services did not answer in time; the command may still take effect"),
    **INVALID,
}
INFLUX_ERRORS: Responses = {503: _error("InfluxDB is unreachable"), **INVALID}


def file_responses(
    description: str, *media_types: str, errors: Responses, binary: bool = False
) -> Responses:
    """The responses of a route answering a file (CSV, HTML, PDF ...): errors stay JSON."""
    schema = {"type": "string", "format": "binary"} if binary else {"type": "string"}
    return {
        200: {"content": {m: {"schema": schema} for m in media_types}, "description": description},
        **errors,
    }


SEAL_NO_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9 /-]*$"


def _container_no(value: str) -> str:
    try:
        return ContainerNo.parse(value).value
    except BarcodeError as exc:
        raise ValueError(str(exc)) from exc


def _seal_no(example: str) -> Any:
    """The field of a seal's number, as printed on the seal."""
    return Field(min_length=1, max_length=32, pattern=SEAL_NO_PATTERN, examples=[example])


# -- containers ------------------------------------------------------------------------------
class ContainerOpen(BaseModel):
    """Open a container for loading."""

    container_no: str = Field(
        description="ISO 6346 number, spaces or hyphens allowed", examples=["CSQU 305438 3"]
    )
    container_type: ContainerType = "40HC"
    capacity_drums: int | None = Field(
        None, gt=0, le=100_000, description="none: the SKU's drums per container, or the default"
    )
    max_payload_kg: float | None = Field(None, gt=0, le=100_000)
    sku: str | None = Field(
        None,
        max_length=32,
        description="the SKU it is packed with: its capacity is that SKU's drums per container",
        examples=["JMB-L"],
    )

    @field_validator("container_no")
    @classmethod
    def _iso6346(cls, value: str) -> str:
        return _container_no(value)


class ContainerSeal(BaseModel):
    """Seal a container with the number on its seal."""

    seal_no: str = _seal_no("EMCS123456")


class ContainerUnload(BaseModel):
    """Take one drum out of a container (a correction, before sealing)."""

    drum: str = Field(
        min_length=1,
        max_length=MAX_BARCODE_CHARS,
        description="the drum's label, as scanned",
        examples=["CB-JMB-L-000123"],
    )
    reason: str | None = Field(None, max_length=200, examples=["scanned into the wrong container"])


class ContainerOut(WireModel):
    """A container's live fill, by count and by weight, with its loading forecast."""

    container_no: str = Field(examples=["CSQU3054383"])
    container_type: str
    status: ContainerStatus
    drums: int
    capacity_drums: int
    fill_ratio: float = Field(description="drums / capacity_drums")
    net_weight_kg: float
    max_payload_kg: float
    weight_ratio: float = Field(description="net_weight_kg / max_payload_kg")
    rate_drums_per_h: float | None = Field(
        None, description="recent loading rate; null until the services measure one"
    )
    forecast_full_at: datetime | None = Field(
        None, description="when the container is full at the current rate (UTC)"
    )
    seal_no: str | None = None
    opened_at: datetime | None = None
    last_scan_at: datetime | None = None
    updated_at: datetime | None = None
    drums_by_sku: dict[str, int] = {}

    @computed_field(examples=["CSQU 305438 3"])  # type: ignore[prop-decorator]
    @property
    def container_no_formatted(self) -> str:
        """The number as printed on the container, e.g. ``CSQU 305438 3``."""
        return ContainerNo.parse(self.container_no).formatted


class PackingLine(BaseModel):
    """One drum on a packing list."""

    no: int = Field(description="line number, from 1")
    drum: str
    sku: str
    description: str
    hs_code: str
    weight_kg: float
    loaded_at: datetime
    station: str


class PackingSkuTotal(BaseModel):
    """Drums and weight of one SKU in the container."""

    sku: str
    description: str
    hs_code: str
    drums: int
    net_weight_kg: float


class PackingListOut(BaseModel):
    """What is in a container, drum by drum, from the scans stored in InfluxDB."""

    container_no: str
    container_no_formatted: str
    container_type: str
    status: ContainerStatus
    seal_no: str | None
    site: str
    generated_at: datetime
    drums: int
    net_weight_kg: float
    gross_weight_kg: float = Field(
        description="net weight plus api.packaging_kg_per_drum for each drum"
    )
    hs_codes: list[str]
    by_sku: list[PackingSkuTotal]
    lines: list[PackingLine]


class FillPointOut(BaseModel):
    """The fill at the end of a bucket in which it changed; it held until the next point."""

    time: datetime
    drums: int
    net_weight_kg: float


class FillTimelineOut(BaseModel):
    """How a container filled since it was last opened, from the scans in InfluxDB."""

    container_no: str
    opened_at: datetime | None = Field(description="its last opening; null if never stored")
    bucket_minutes: int
    capacity_drums: int
    points: list[FillPointOut] = Field(
        description="the opening (0 drums), then one point per bucket in which drums went in "
        "or out, at the bucket's end (the current bucket: now)"
    )


# -- stock -----------------------------------------------------------------------------------
class StockItem(BaseModel):
    """Drums of one SKU at one location."""

    sku: str
    description: str
    location: str = Field(
        description="'warehouse' or a warehouse location drums were moved to ('rak-a1'), "
        "a QC hold ('qc-reject', 'qc-rework') or a container number"
    )
    location_kind: Literal["warehouse", "qc_hold", "container"] = Field(
        description="qc_hold: received, held by QC, not for loading"
    )
    drums: int


class StockTotal(BaseModel):
    """Drums of one SKU, all locations."""

    sku: str
    description: str
    drums: int
    in_warehouse: int
    held_qc: int = Field(description="received but held by QC (reject or rework)")
    in_containers: int


class StockOut(BaseModel):
    """Stock by SKU and location: the warehouse, and containers not yet shipped."""

    updated_at: datetime | None
    items: list[StockItem]
    totals: list[StockTotal]


# -- stations --------------------------------------------------------------------------------
class DeviceOut(WireModel):
    """A serial device of a station, as its bridge reports it."""

    name: str
    role: Literal["scanner", "scale"]
    state: Literal["connected", "disconnected", "error"]
    detail: str = ""


class LastScanOut(WireModel):
    """A station's newest scan and what it meant: what its worker is told."""

    at: datetime
    label: str = Field(description="the barcode as read")
    result: ScanResult
    reason: str = ""
    weight_kg: float | None = None
    out_of_range: bool = False
    container_no: str | None = None


class RefusedScanOut(WireModel):
    """A scan the station could not store: its worker must scan it again."""

    at: datetime
    label: str = Field(description="the barcode as read")
    reason: str


class StationOut(BaseModel):
    """A station: the services' view and its bridge's own status."""

    station: str
    mode: str = Field(description="loading, receiving, or unknown before the services see it")
    active_container: str | None
    supplier: str | None = Field(
        None, description="receiving: the supplier of the drums scanned now (card or supervisor)"
    )
    stocktake: str | None = Field(None, description="counting: the stocktake its scans count for")
    online: bool
    last_scan_at: datetime | None
    scans: int
    status_at: datetime | None = Field(None, description="time of the bridge's last status")
    heartbeat_s: float | None = None
    devices: list[DeviceOut] = []
    spool_depth: int = 0
    spool_capacity: int = 0
    last_scan: LastScanOut | None = None
    error: str = Field("", description="what is wrong inside the bridge now; empty while it works")
    errors: int = Field(0, description="unexpected errors in the bridge since it started")
    scans_refused: int = Field(0, description="scans the bridge could not store since it started")
    refused: RefusedScanOut | None = Field(
        None, description="the newest scan the bridge could not store (scan it again)"
    )

    @classmethod
    def build(cls, view: StationViewV1, status: StationStatusV1 | None) -> StationOut:
        """Combine the services' view with the bridge's retained status (its own names)."""
        out = cls.model_validate(view, from_attributes=True)
        if status is not None:
            out.status_at = status.ts
            out.heartbeat_s = status.heartbeat_s
            out.devices = [DeviceOut.from_wire(d) for d in status.devices]
            out.spool_depth = status.spool_depth
            out.spool_capacity = status.spool_capacity
            out.error = status.error
            out.errors = status.errors
            out.scans_refused = status.scans_refused
            out.refused = RefusedScanOut.from_wire(status.refused) if status.refused else None
        return out


class StationContainerSet(BaseModel):
    """Point a loading station at a container (null: at none)."""

    container_no: str | None = Field(examples=["CSQU 305438 3"])

    @field_validator("container_no")
    @classmethod
    def _iso6346(cls, value: str | None) -> str | None:
        return None if value is None else _container_no(value)


class StationModeSet(BaseModel):
    """Switch a station between loading and receiving."""

    mode: StationMode
    supplier: str | None = Field(
        None, max_length=64, description="receiving: the supplier (pengrajin) drums come from"
    )
    stocktake: str | None = Field(
        None, max_length=64, description="counting: the open stocktake its scans count for"
    )


# -- alerts ----------------------------------------------------------------------------------
class AlertOut(WireModel):
    """One alert and where it is in its lifecycle."""

    id: str = Field(examples=["container_full-CSQU3054383"])
    kind: AlertKind
    severity: Literal["info", "warning", "critical"]
    state: AlertState
    subject: str
    station: str | None
    container_no: str | None
    message: str
    raised_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    cleared_at: datetime | None
    data: dict[str, Any] = {}


# -- scans -----------------------------------------------------------------------------------
class ScanOut(BaseModel):
    """One stored scan and what became of it."""

    time: datetime
    station: str
    id: str
    barcode: str
    kind: str
    result: ScanResult
    reason: str | None = None
    drum: str | None = None
    sku: str | None = None
    container_no: str | None = None
    weight_kg: float | None = None
    weight_stable: bool | None = None
    weight_status: str | None = None
    out_of_range: bool | None = None


class HourlyOut(BaseModel):
    """Scans of one station in one hour (InfluxQL GROUP BY time(1h))."""

    hour: datetime = Field(description="start of the hour, UTC")
    station: str
    scans: int = Field(description="every scan, whatever its result")
    loaded: int = Field(description="drums counted into containers")


# -- site, health ----------------------------------------------------------------------------
class SkuOut(BaseModel):
    """One SKU of the catalogue."""

    sku: str
    name: str
    size: str
    min_kg: float
    max_kg: float
    hs_code: str


class WhoAmI(BaseModel):
    """The caller's token name and role."""

    name: str
    role: ApiRole


class SiteOut(BaseModel):
    """What the dashboard needs to start: the site, its time zone, the catalogue, who calls."""

    site: str
    timezone: str = Field(examples=["Asia/Jakarta"])
    version: str
    skus: list[SkuOut]
    me: WhoAmI
    alert_list_kinds: list[str] = Field(
        default_factory=list,
        description="the kinds the dashboard's alert list shows (alerts.dashboard_kinds; "
        "empty: every kind); the others are in the API and the alert history",
    )


class HealthOut(BaseModel):
    """Liveness and the reachability of what the API needs."""

    status: Literal["ok", "degraded"]
    broker: bool
    influxdb: bool
    detail: dict[str, str] = {}


# -- phone scans -------------------------------------------------------------------------------
class PhoneScanIn(BaseModel):
    """One scan made with a phone's camera (or typed) at a station."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(
        min_length=8,
        max_length=64,
        pattern=r"^[A-Za-z0-9_.:-]+$",
        description="made by the phone, the same in every resend: a scan counts once by it",
        examples=["3f9c1d2e-8b7a-4c1e-9f00-5a6b7c8d9e0f"],
    )
    ts: datetime = Field(description="the phone's time of the scan, with its offset")
    barcode: str = Field(min_length=1, max_length=MAX_BARCODE_CHARS, examples=["CB-JMB-L-000123"])
    symbology: str | None = Field(
        None, pattern=r"^\][A-Za-z][0-9A-Za-z]$", description="AIM identifier, if known (]d2)"
    )

    @field_validator("ts")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("ts needs its UTC offset (toISOString() gives Z)")
        return value


class PhoneScanOut(BaseModel):
    """What became of a phone's scan: stored (with its result) or still on its way."""

    id: str
    station: str
    via: Literal["bridge", "api"] = Field(
        description="bridge: the station's bridge weighed it; api: published without a scale"
    )
    stored: bool = Field(description="false: not receipted in time; send it again (same id)")
    result: str | None = Field(None, description="loaded, duplicate, received, ... once stored")
    reason: str | None = None
    container_no: str | None = None
    weight_kg: float | None = None
    weight_status: str | None = None


# -- export papers ---------------------------------------------------------------------------


class PartyIn(BaseModel):
    """A party of the shipment: name, address, country (ISO 3166 alpha-2)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field("", max_length=120, examples=["Guangzhou Music Instruments Co., Ltd."])
    address: str = Field("", max_length=400, examples=["88 Huangpu Road, Guangzhou"])
    country: str = Field("", pattern=r"^([A-Z]{2})?$", examples=["CN"])


Money = Annotated[Decimal, Field(ge=0, le=10**12, max_digits=16, decimal_places=2)]


class ShipmentIn(BaseModel):
    """A container's shipment record, whole (what is left out is not known yet)."""

    model_config = ConfigDict(extra="forbid")

    buyer: PartyIn = Field(default_factory=PartyIn)
    consignee: PartyIn | None = Field(None, description="null: the buyer")
    notify_party: PartyIn | None = Field(None, description="null: the consignee")
    port_of_loading: str = Field("", max_length=100, examples=["IDSUB Tanjung Perak, Surabaya"])
    port_of_discharge: str = Field("", max_length=100, examples=["CNHUA Huangpu"])
    vessel: str = Field("", max_length=80, examples=["KMTC JAKARTA"])
    voyage: str = Field("", max_length=40, examples=["2412N"])
    departure_date: date | None = None
    bl_no: str = Field("", max_length=40)
    incoterm: str = Field("", description=f"one of {', '.join(INCOTERMS)}", examples=["FOB"])
    currency: str = Field("", pattern=r"^([A-Z]{3})?$", examples=["USD"])
    freight: Money | None = Field(None, description="in the currency; CFR, CPT, CIF, CIP")
    insurance: Money | None = Field(None, description="in the currency; CIF, CIP")
    invoice_no: str = Field("", max_length=40, examples=["INV-2026-031"])
    invoice_date: date | None = None

    @field_validator("incoterm")
    @classmethod
    def _incoterm(cls, value: str) -> str:
        value = value.strip().upper()
        if value and value not in INCOTERMS:
            raise ValueError(f"{value!r} is not an Incoterm 2020 ({', '.join(INCOTERMS)})")
        return value


class ShipmentOut(ShipmentIn):
    """The shipment record as stored, who set it last, and whether it may still change."""

    model_config = ConfigDict(extra="ignore")

    container_no: str
    set_by: str = ""
    set_at: datetime | None = None
    editable: bool = Field(description="false once the container shipped: the record is frozen")


class PapersItemOut(BaseModel):
    """One goods item (a SKU) as every document prints it."""

    item_no: int
    sku: str
    description: str
    hs_code: str
    drums: int
    net_kg: float
    gross_kg: float
    volume_m3: float | None
    unit_price: str | None
    amount: str | None
    fob: str | None
    marks: list[str]


class PapersMissingOut(BaseModel):
    """Something a document needs before it prints as final."""

    where: str = Field(examples=["shipment.buyer.name"])
    en: str
    id: str


class PapersDocOut(BaseModel):
    """One document's readiness."""

    final: bool
    missing: list[PapersMissingOut]


class PapersOut(BaseModel):
    """A container's export papers: the figures, and what each document still needs."""

    container_no: str
    status: ContainerStatus
    seal_no: str | None
    currency: str | None
    incoterm: str | None
    items: list[PapersItemOut]
    totals: dict[str, Any]
    documents: dict[str, PapersDocOut]


# -- corrections (issue 14): containers and stock --------------------------------------------
Reason = Field(min_length=1, max_length=200, examples=["seal broken at customs check"])


class ContainerCorrection(BaseModel):
    """Unseal or cancel a container: why, for the record."""

    reason: str = Reason


class SealCorrection(BaseModel):
    """Correct a sealed container's seal number."""

    seal_no: str = _seal_no("EMCS123457")
    reason: str = Reason


DrumLabel = Field(
    min_length=1,
    max_length=MAX_BARCODE_CHARS,
    description="the drum's label, as scanned (or its key)",
    examples=["CB-JMB-L-000123"],
)
Note = Field(None, max_length=200, description="free text, for the record")


class WriteOff(BaseModel):
    """Write a drum in stock off: it leaves the books."""

    drum: str = DrumLabel
    reason: Literal["damaged", "lost", "sample"]
    note: str | None = Note


class StockMove(BaseModel):
    """Move a drum between warehouse locations."""

    drum: str = DrumLabel
    location: str = Field(
        pattern=r"^[a-z0-9][a-z0-9._-]{0,31}$",
        description="the warehouse location it goes to: 'warehouse' or a named one",
        examples=["rak-a1"],
    )
    reason: str = Field(min_length=1, max_length=200, examples=["rak penuh / shelf full"])
    note: str | None = Note


class QcDisposal(BaseModel):
    """A QC-held drum's disposal: pass after rework, return to the supplier, or scrap."""

    drum: str = DrumLabel
    action: Literal["pass", "return", "scrap"] = Field(
        description="pass: a qc-rework drum, reworked, becomes loadable; return / scrap: "
        "a qc-reject or qc-rework drum leaves the books"
    )
    reason: str | None = Field(None, max_length=200, examples=["kulit sobek / torn skin"])


class StockCorrectionOut(BaseModel):
    """What a stock correction did to the drum."""

    drum: str
    sku: str
    from_location: str
    to_location: str = Field(
        description="a warehouse location, or 'written-off', 'returned-to-supplier', 'scrapped'"
    )
    reason: str | None = None
    note: str | None = None
    action: str | None = None


# -- audit -----------------------------------------------------------------------------------
class AuditOut(BaseModel):
    """One accepted command: who, when, what was asked and what came of it."""

    time: datetime
    command: str = Field(examples=["container/seal"])
    actor: str
    request_id: str
    container_no: str | None = None
    args: Any = Field(description="the command's arguments")
    result: Any = Field(description="the services' result (cut past 8,000 characters)")


# -- the SKU catalogue -----------------------------------------------------------------------
class CatalogueSkuOut(SkuSettings):
    """One SKU of the catalogue in force, retired ones too."""

    sku: str = Field(examples=["JMB-L"])


# -- stocktakes ------------------------------------------------------------------------------
class StocktakeOpen(BaseModel):
    """Open a count of one stock location."""

    location: str = Field(
        pattern=r"^[a-z0-9][a-z0-9._-]{0,31}$",
        description="a warehouse location ('warehouse', 'rak-a1') or a QC hold",
        examples=["warehouse"],
    )


class StocktakeApprove(BaseModel):
    """Approve a closed count's adjustments: all of them, or only these drums."""

    drums: list[str] | None = Field(
        None, max_length=100_000, description="drum keys; null: every difference"
    )


class StocktakeDiff(BaseModel):
    """One difference between the count and the books."""

    drum: str
    sku: str
    book_location: str = Field(description="where the books had it ('' : nowhere)")


class StocktakeOut(BaseModel):
    """A stocktake and, once closed, its differences."""

    id: str
    location: str
    status: Literal["open", "closed", "approved"]
    opened_by: str
    opened_at: datetime | None
    closed_at: datetime | None
    expected_at_open: int = Field(description="drums the books had there when it opened")
    found: int = Field(description="drums counted")
    unexpected: list[StocktakeDiff] = Field(description="found, not in the books (or off them)")
    missing: list[StocktakeDiff] = Field(description="the books have it there, not found")
    wrong_place: list[StocktakeDiff] = Field(description="found there, the books say elsewhere")
    adjusted: list[str] = Field(description="approved: the drums whose books were adjusted")
