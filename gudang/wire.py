"""The wire contract v1: every MQTT topic and payload Gudang speaks, defined once.

docs/protocol.md describes the same contract for people; this module is what the
bridge, the services and the API import. Payloads are JSON objects carrying ``"v": 1``.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal

import msgspec

WIRE_VERSION = 1
ROOT = "gudang"

# Site and station names become topic levels and InfluxDB tag values: keep them plain.
NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,31}$"
_NAME_RE = re.compile(NAME_PATTERN)

# A payload over this size is refused before decoding: a scan is a few hundred bytes.
MAX_PAYLOAD_BYTES = 16 * 1024
MAX_BARCODE_CHARS = 512

# Quality of service per topic kind (docs/protocol.md, "Topics").
QOS_SCAN = 1
QOS_STATUS = 1
QOS_WEIGHT = 0
QOS_STATE = 1
QOS_ALERT = 1
QOS_DEADLETTER = 1
QOS_COMMAND = 1
QOS_RECEIPT = 1

# Scan ids per receipt at most: a batch of the services' may hold thousands of one
# station's scans; they go out as several receipts of this size (about 20 KB each).
MAX_RECEIPT_IDS = 500


def check_name(kind: str, value: str) -> str:
    """Return ``value`` if it is a valid site or station name, else raise ValueError."""
    if not _NAME_RE.match(value):
        raise ValueError(
            f"invalid {kind} name {value!r}: use 1-32 characters a-z, 0-9, '-' or '_', "
            "starting with a letter or digit"
        )
    return value


class Topics:
    """Topic names for one site: ``gudang/<site>/...``."""

    def __init__(self, site: str) -> None:
        self.site = check_name("site", site)
        self.base = f"{ROOT}/{site}"

    # -- stations (published by the bridge or an MQTT-native device) --------------
    def scan(self, station: str) -> str:
        """Drum and label scans of one station (QoS 1)."""
        return f"{self.base}/station/{station}/scan"

    def status(self, station: str) -> str:
        """Station online/offline and heartbeat (retained, last will)."""
        return f"{self.base}/station/{station}/status"

    def weight(self, station: str) -> str:
        """Continuous scale readings (QoS 0, not retained)."""
        return f"{self.base}/station/{station}/weight"

    def station_command(self, station: str) -> str:
        """Commands to one station (from the services or the API)."""
        return f"{self.base}/station/{station}/command"

    def receipts(self, station: str) -> str:
        """Receipts for one station's scans: stored for good, delete them (QoS 1, services)."""
        return f"{self.base}/station/{station}/receipts"

    @property
    def all_scans(self) -> str:
        return f"{self.base}/station/+/scan"

    @property
    def all_status(self) -> str:
        return f"{self.base}/station/+/status"

    @property
    def all_weights(self) -> str:
        return f"{self.base}/station/+/weight"

    @property
    def all_receipts(self) -> str:
        return f"{self.base}/station/+/receipts"

    # -- the services -------------------------------------------------------------
    def state_container(self, container_no: str) -> str:
        """Live state of one container (retained)."""
        return f"{self.base}/state/container/{container_no}"

    def state_station(self, station: str) -> str:
        """Live state of one station as the services see it (retained)."""
        return f"{self.base}/state/station/{station}"

    @property
    def state_stock(self) -> str:
        """Stock by SKU and location (retained)."""
        return f"{self.base}/state/stock"

    def state_stocktake(self, stocktake_id: str) -> str:
        """One stocktake (retained)."""
        return f"{self.base}/state/stocktake/{stocktake_id}"

    @property
    def state_catalogue(self) -> str:
        """The SKU catalogue in force (retained)."""
        return f"{self.base}/state/catalogue"

    @property
    def state_alert_routing(self) -> str:
        """Which alert kinds reach the dashboard's list and the plain webhooks (retained)."""
        return f"{self.base}/state/alert-routing"

    @property
    def state_phone_tokens(self) -> str:
        """The phones signed in to scan at a station, by token hash (retained)."""
        return f"{self.base}/state/phone-tokens"

    @property
    def all_state(self) -> str:
        return f"{self.base}/state/#"

    def alert(self, alert_id: str) -> str:
        """One alert's lifecycle (retained; a cleared alert is sent once, then emptied)."""
        return f"{self.base}/alert/{alert_id}"

    @property
    def all_alerts(self) -> str:
        return f"{self.base}/alert/+"

    @property
    def deadletter(self) -> str:
        """Inputs refused for good, with the reason (QoS 1, not retained)."""
        return f"{self.base}/deadletter"

    # -- commands from the API to the services ---------------------------------------
    def command(self, name: str) -> str:
        """A command to the services, e.g. ``container/open``."""
        return f"{self.base}/command/{name}"

    @property
    def all_commands(self) -> str:
        return f"{self.base}/command/#"

    def reply(self, request_id: str) -> str:
        """Where the services answer one command."""
        return f"{self.base}/reply/{request_id}"

    @property
    def all_replies(self) -> str:
        return f"{self.base}/reply/+"


def parse_topic(topic: str) -> tuple[str, list[str]] | None:
    """Split ``gudang/<site>/<level>/...`` into (site, the levels after the site)."""
    parts = topic.split("/")
    if len(parts) < 3 or parts[0] != ROOT:
        return None
    return parts[1], parts[2:]


def parse_station_topic(topic: str) -> tuple[str, str, str] | None:
    """Split ``gudang/<site>/station/<station>/<kind>`` into (site, station, kind)."""
    parts = topic.split("/")
    if len(parts) != 5 or parts[0] != ROOT or parts[2] != "station":
        return None
    return parts[1], parts[3], parts[4]


def parse_command_topic(topic: str) -> tuple[str, str] | None:
    """Split ``gudang/<site>/command/<name>`` into (site, name); a name may have slashes."""
    parts = topic.split("/", 3)
    if len(parts) != 4 or parts[0] != ROOT or parts[2] != "command":
        return None
    return parts[1], parts[3]


# ---------------------------------------------------------------------------------
# Payloads. msgspec Structs: decoding validates types, and is fast (about 1 µs).
# ---------------------------------------------------------------------------------

AwareDatetime = Annotated[datetime, msgspec.Meta(tz=True)]
Name = Annotated[str, msgspec.Meta(pattern=NAME_PATTERN)]
Barcode = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_BARCODE_CHARS)]
# A scan's unique id (the bridge makes a UUID hex): the same in a resend, and in receipts.
ScanId = Annotated[str, msgspec.Meta(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
Kg = Annotated[float, msgspec.Meta(ge=-100_000, le=100_000)]
# The AIM symbology identifier the scanner prefixed (``]C1``: GS1-128), when it sends one.
Symbology = Annotated[str, msgspec.Meta(pattern=r"^\][A-Za-z][0-9A-Za-z]$")]


class ScanKind(StrEnum):
    """What the bridge recognised in the scanned label."""

    DRUM = "drum"  # an item label: GS1 or the internal drum code
    CONTAINER = "container"  # an ISO 6346 container number label: sets the active container
    SUPPLIER = "supplier"  # a supplier card at a receiving station


class ScaleStatus(StrEnum):
    """What a scale says about the weight it reports (``WeightReadingV1.status``)."""

    STABLE = "stable"
    MOTION = "motion"
    OVERLOAD = "overload"
    UNDERLOAD = "underload"
    ERROR = "error"
    BUSY = "busy"  # the scale answered "no stable weight in time" (MT-SICS "S I", SMA dashes)


class ScanResult(StrEnum):
    """What became of a scan: stored with every scan, shown to the worker at the station."""

    LOADED = "loaded"  # stock -1, container +1
    RECEIVED = "received"  # stock +1 (receiving station)
    DUPLICATE = "duplicate"  # already in this container: no change
    WRONG_CONTAINER = "wrong_container"  # in another container: no change
    REJECTED = "rejected"  # refused, reason says why
    CONTAINER_SET = "container_set"  # a container label set the station's container
    SUPPLIER_SET = "supplier_set"
    COUNTED = "counted"  # counting station: found in the stocktake; no change to the books


class WeightStatus(StrEnum):
    """How the scan's weight came about."""

    STABLE = "stable"  # a stable weight taken after the scan
    NO_STABLE = "no_stable"  # the scale did not settle within the pairing window
    OVERLOAD = "overload"
    UNDERLOAD = "underload"
    ERROR = "error"  # the scale answered with an error, or is disconnected
    NO_SCALE = "no_scale"  # the station has no scale, or the scan is a label (no weighing)


class QcResult(StrEnum):
    """A receiving inspector's verdict on a drum (PRODUCT.md, "Stations")."""

    PASS = "pass"
    REJECT = "reject"  # not for the buyer: held apart, never loaded
    REWORK = "rework"  # back to the craftsman; received again after rework


class ScanV1(msgspec.Struct, kw_only=True, forbid_unknown_fields=False):
    """One scan at a station, paired with the scale's weight.

    ``id`` is unique per scan (the bridge makes a UUID); ``ts`` is the device time with
    its time zone. A replay of the same scan carries the same ``id`` and ``ts``.
    """

    v: Literal[1] = 1
    id: ScanId
    ts: AwareDatetime
    site: Name
    station: Name
    barcode: Barcode
    symbology: Symbology | None = None
    kind: ScanKind = ScanKind.DRUM
    weight_kg: Kg | None = None
    weight_stable: bool = False
    weight_status: WeightStatus = WeightStatus.NO_SCALE
    qc: QcResult | None = None  # receiving stations: the QC result, when the station has one


class StationState(StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"


class DeviceStateV1(msgspec.Struct, kw_only=True):
    """One serial device of a station."""

    name: str
    role: Literal["scanner", "scale"]
    state: Literal["connected", "disconnected", "error"]
    detail: str = ""


class RefusedScanV1(msgspec.Struct, kw_only=True):
    """A scan the bridge could not spool: never stored, so its worker must scan it again."""

    at: AwareDatetime
    label: str
    reason: str


class StationStatusV1(msgspec.Struct, kw_only=True):
    """Retained station status; the bridge's last will publishes ``state: offline``."""

    v: Literal[1] = 1
    site: Name
    station: Name
    state: StationState
    ts: AwareDatetime | None = None
    heartbeat_s: float | None = None
    devices: list[DeviceStateV1] = msgspec.field(default_factory=list)
    spool_depth: int = 0
    spool_capacity: int = 0
    # The spool holds its nearly-full share (station.spool_nearly_full_ratio) or more.
    spool_nearly_full: bool = False
    # Of spool_depth: scans the broker acknowledged, waiting for the services' receipt.
    spool_unconfirmed: int = 0
    # The bridge's own fault now (a thread's unexpected error, a spool it cannot write);
    # empty while it works. Unexpected errors since it started, and scans it refused.
    error: str = ""
    errors: int = 0
    scans_refused: int = 0
    # The newest scan that could not be spooled: what the station's screen tells its worker.
    refused: RefusedScanV1 | None = None


class WeightReadingV1(msgspec.Struct, kw_only=True):
    """A continuous scale reading, for live display only (QoS 0)."""

    v: Literal[1] = 1
    ts: AwareDatetime
    station: Name
    weight_kg: Kg | None
    stable: bool
    status: ScaleStatus = ScaleStatus.STABLE


class DeadLetterV1(msgspec.Struct, kw_only=True):
    """An input refused for good: what it was, where it came from, why."""

    v: Literal[1] = 1
    ts: AwareDatetime
    topic: str
    reason: str
    payload: str  # the payload as text (undecodable bytes escaped), cut at 1 KiB


class ReceiptV1(msgspec.Struct, kw_only=True):
    """The services are done with these scans of one station: it deletes them from its spool.

    Done with: stored in InfluxDB (or found stored already), or refused for good
    (quarantined, dead-lettered). Sent after the write, at most ``MAX_RECEIPT_IDS`` ids
    each; a receipt may name scans the station no longer holds: those ids are ignored.
    """

    v: Literal[1] = 1
    station: Name
    ids: list[ScanId]


class ScanRefV1(msgspec.Struct, kw_only=True):
    """Just a scan's id: read from a scan payload that does not decode as ``ScanV1``."""

    id: ScanId


class CommandV1(msgspec.Struct, kw_only=True):
    """A command to the services; the answer goes to ``Topics.reply(request_id)``."""

    v: Literal[1] = 1
    request_id: Annotated[str, msgspec.Meta(min_length=8, max_length=64)]
    actor: str = "system"
    args: dict[str, Any] = msgspec.field(default_factory=dict)


class StationScanCommandV1(msgspec.Struct, kw_only=True, tag_field="command", tag="scan"):
    """A scan made for a station elsewhere (a phone's camera), sent on its command topic.

    The station's bridge takes it as a scanner's read: pairs it with its scale's next
    stable weight, spools it and publishes a ``ScanV1`` with this ``id`` and ``ts``. A
    command redelivered or resent with the same ``id`` is not scanned twice.
    """

    v: Literal[1] = 1
    id: ScanId
    ts: AwareDatetime  # the phone's time of the scan
    barcode: Barcode
    symbology: Symbology | None = None
    source: str = "phone"
    sent_at: AwareDatetime | None = None  # the API's time when it sent the command


class ReplyV1(msgspec.Struct, kw_only=True):
    """The services' answer to one command."""

    v: Literal[1] = 1
    request_id: str
    ok: bool
    error: str | None = None
    code: int = 200  # HTTP-like: 200 ok, 400 invalid, 404 unknown, 409 conflict
    result: dict[str, Any] | None = None


class ContainerStatus(StrEnum):
    """A container's lifecycle: open -> loading -> full -> sealed -> shipped.

    A sealed container can be unsealed (back to loading or full) before it ships; an
    opened container with no drums can be cancelled (a mistake: never loaded).
    """

    OPEN = "open"
    LOADING = "loading"
    FULL = "full"
    SEALED = "sealed"
    SHIPPED = "shipped"
    CANCELLED = "cancelled"


# Incoterms 2020. The PEB declares the FOB value: FOB, FCA and FAS prices are it; a C-term's
# price includes the freight (CFR, CPT) and the insurance (CIF, CIP) to take off; EXW and
# the D-terms do not give it (docs/papers.md).
INCOTERMS = ("EXW", "FCA", "FAS", "FOB", "CFR", "CIF", "CPT", "CIP", "DAP", "DPU", "DDP")
FOB_AS_PRICED = frozenset({"FOB", "FCA", "FAS"})
PRICE_INCLUDES_FREIGHT = frozenset({"CFR", "CPT", "CIF", "CIP"})
PRICE_INCLUDES_INSURANCE = frozenset({"CIF", "CIP"})


class PartyV1(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A party on the export papers: buyer, consignee, notify party."""

    name: str = ""
    address: str = ""
    country: str = ""  # ISO 3166 alpha-2 (CN)


class ShipmentV1(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """What only a person knows of a container's shipment: set by a supervisor.

    Empty fields are not known yet; the export papers name them as missing.
    """

    v: Literal[1] = 1
    buyer: PartyV1 = msgspec.field(default_factory=PartyV1)
    consignee: PartyV1 | None = None  # None: the buyer is the consignee
    notify_party: PartyV1 | None = None  # None: the consignee is notified
    port_of_loading: str = ""  # e.g. "IDSUB Tanjung Perak, Surabaya"
    port_of_discharge: str = ""
    vessel: str = ""
    voyage: str = ""
    departure_date: date | None = None
    bl_no: str = ""  # bill of lading: known once the carrier issues it
    incoterm: str = ""  # one of INCOTERMS
    currency: str = ""  # ISO 4217 (USD, CNY)
    freight: Decimal | None = None  # in the currency; C-terms need it for the FOB value
    insurance: Decimal | None = None  # CIF and CIP
    invoice_no: str = ""
    invoice_date: date | None = None
    set_by: str = ""  # the supervisor who set it last
    set_at: AwareDatetime | None = None


class ContainerStateV1(msgspec.Struct, kw_only=True):
    """Live state of one container, retained on ``state/container/<no>``."""

    v: Literal[1] = 1
    container_no: str
    container_type: str
    status: ContainerStatus
    drums: int
    capacity_drums: int
    fill_ratio: float
    net_weight_kg: float
    max_payload_kg: float
    weight_ratio: float
    seal_no: str | None = None
    opened_at: AwareDatetime | None = None
    last_scan_at: AwareDatetime | None = None
    updated_at: AwareDatetime | None = None
    drums_by_sku: dict[str, int] = msgspec.field(default_factory=dict)
    # Loading rate over the recent window (FloorSettings.rate_window_s) and the time the
    # container is full at that rate; null until two drums are loaded in the window.
    rate_drums_per_h: float | None = None
    forecast_full_at: AwareDatetime | None = None
    # The shipment record of the container's current trip (reset when it is opened again).
    shipment: ShipmentV1 | None = None


class LastScanV1(msgspec.Struct, kw_only=True):
    """A station's newest scan and what it meant: what the worker at the station is told."""

    at: AwareDatetime
    label: str  # the barcode as read
    result: ScanResult
    reason: str = ""
    weight_kg: float | None = None
    out_of_range: bool = False
    container_no: str | None = None


class StationViewV1(msgspec.Struct, kw_only=True):
    """A station as the services see it, retained on ``state/station/<station>``."""

    v: Literal[1] = 1
    station: str
    mode: str
    active_container: str | None = None
    online: bool = False
    last_scan_at: AwareDatetime | None = None
    scans: int = 0
    supplier: str | None = None  # receiving: the supplier of the drums scanned now
    stocktake: str | None = None  # counting: the stocktake its scans count for
    last_scan: LastScanV1 | None = None


class PhoneTokenV1(msgspec.Struct, kw_only=True):
    """A token made in the dashboard (``sha256`` of it): a person's, or a phone's.

    With ``station`` it scans at that station and nothing else (a phone's sign-in);
    without, it has its ``role`` everywhere, like a token of the configuration file.
    """

    name: str
    sha256: Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{64}$")]
    issued_at: AwareDatetime
    issued_by: str
    station: Name | None = None
    role: Literal["worker", "supervisor", "admin"] = "worker"


class PhoneTokensV1(msgspec.Struct, kw_only=True):
    """Every dashboard-made token not revoked, retained on ``state/phone-tokens``."""

    v: Literal[1] = 1
    tokens: list[PhoneTokenV1] = msgspec.field(default_factory=list)


class StockV1(msgspec.Struct, kw_only=True):
    """Stock by SKU and location, retained on ``state/stock``."""

    v: Literal[1] = 1
    updated_at: AwareDatetime | None = None
    items: list[dict[str, Any]] = msgspec.field(default_factory=list)


class StocktakeV1(msgspec.Struct, kw_only=True):
    """A count of one stock location, retained on ``state/stocktake/<id>``.

    ``status``: open (counting stations scan into it), closed (the differences are known),
    approved (the books were adjusted, ``adjusted`` lists the drums). The differences are
    ``{"drum", "sku", "book_location"}`` rows: ``unexpected`` (found, not in the books or
    off them), ``missing`` (the books have it here, not found), ``wrong_place`` (found here,
    the books say elsewhere).
    """

    v: Literal[1] = 1
    id: str
    location: str
    status: str
    opened_by: str = ""
    opened_at: AwareDatetime | None = None
    closed_at: AwareDatetime | None = None
    expected_at_open: int = 0
    found: int = 0
    unexpected: list[dict[str, str]] = msgspec.field(default_factory=list)
    missing: list[dict[str, str]] = msgspec.field(default_factory=list)
    wrong_place: list[dict[str, str]] = msgspec.field(default_factory=list)
    adjusted: list[str] = msgspec.field(default_factory=list)


class CatalogueV1(msgspec.Struct, kw_only=True):
    """The SKU catalogue in force, retained on ``state/catalogue``: retired SKUs too.

    Each SKU as ``gudang.settings.SkuSettings`` in JSON (prices as decimal strings): the
    configuration seeds it, the admin's ``catalogue/*`` commands change it live.
    """

    v: Literal[1] = 1
    updated_at: AwareDatetime | None = None
    skus: dict[str, dict[str, Any]] = msgspec.field(default_factory=dict)


class AlertRoutingV1(msgspec.Struct, kw_only=True):
    """Which alert kinds reach where, retained on ``state/alert-routing`` (empty: every kind).

    The configuration (``alerts.dashboard_kinds`` / ``alerts.webhook_kinds``) seeds it, the
    admin's ``alerts/routing`` command changes it live; ``set_by`` is None while seeded.
    """

    v: Literal[1] = 1
    updated_at: AwareDatetime | None = None
    dashboard_kinds: list[str] = msgspec.field(default_factory=list)
    webhook_kinds: list[str] = msgspec.field(default_factory=list)
    set_by: str | None = None
    set_at: AwareDatetime | None = None


class Command(StrEnum):
    """Names of the commands the services take on ``command/<name>``."""

    # container_no, container_type, capacity_drums, max_payload_kg
    CONTAINER_OPEN = "container/open"
    CONTAINER_SEAL = "container/seal"  # container_no, seal_no
    CONTAINER_SHIP = "container/ship"  # container_no
    CONTAINER_UNLOAD = "container/unload"  # container_no, drum (label), reason?: a correction
    CONTAINER_UNSEAL = "container/unseal"  # container_no, reason: sealed -> loading/full
    CONTAINER_CORRECT_SEAL = "container/correct-seal"  # container_no, seal_no, reason
    CONTAINER_CANCEL = "container/cancel"  # container_no, reason: opened, never loaded
    # drum, reason (damaged/lost/sample), note?: the drum leaves the books
    STOCK_WRITE_OFF = "stock/write-off"
    STOCK_MOVE = "stock/move"  # drum, location, reason: between warehouse locations
    # drum, action (pass/return/scrap), reason?: a QC-held drum's disposal
    STOCK_QC_DISPOSE = "stock/qc-dispose"
    # sku, spec (SkuSettings' fields, whole): add a SKU or replace its definition (admin)
    CATALOGUE_SET_SKU = "catalogue/set-sku"
    CATALOGUE_RETIRE_SKU = "catalogue/retire-sku"  # sku: new scans of it are refused
    STOCKTAKE_OPEN = "stocktake/open"  # location: a count of it (stocktake_id in the result)
    STOCKTAKE_CLOSE = "stocktake/close"  # stocktake_id: the differences
    STOCKTAKE_APPROVE = "stocktake/approve"  # stocktake_id, drums? (default all): adjust
    # container_no, shipment (ShipmentV1's fields): refused once the container shipped
    CONTAINER_SHIPMENT = "container/shipment"
    STATION_SET_CONTAINER = "station/set-container"  # station, container_no | null
    STATION_SET_MODE = "station/set-mode"  # station, mode ("loading"/"receiving"), supplier
    ALERT_ACK = "alert/ack"  # alert_id (who: the command's actor)
    ALERT_ACK_KIND = "alert/ack-kind"  # kind: every raised alert of it now (AlertKindAckV1)
    # dashboard_kinds, webhook_kinds (lists of kinds; empty: every kind): admin, live
    ALERT_ROUTING = "alerts/routing"
    # station, name, sha256: a phone signed in (by a supervisor's QR code) to scan there
    PHONE_TOKEN_ISSUE = "phone-token/issue"  # name, sha256, role, station (optional)
    PHONE_TOKEN_REVOKE = "phone-token/revoke"  # name


class AlertKind(StrEnum):
    """Every kind of alert (PRODUCT.md, "Alerts")."""

    CONTAINER_NEARLY_FULL = "container_nearly_full"
    CONTAINER_FULL = "container_full"
    CONTAINER_OVERWEIGHT = "container_overweight"
    WEIGHT_OUT_OF_RANGE = "weight_out_of_range"
    DUPLICATE_SCAN = "duplicate_scan"
    WRONG_CONTAINER = "wrong_container"
    UNKNOWN_BARCODE = "unknown_barcode"
    SCALE_ERROR = "scale_error"
    SCALE_DRIFT = "scale_drift"
    SCALE_UNSTABLE = "scale_unstable"
    STATION_OFFLINE = "station_offline"
    SPOOL_NEARLY_FULL = "spool_nearly_full"
    STATION_ERROR = "station_error"
    STORAGE_UNREACHABLE = "storage_unreachable"
    BROKER_UNREACHABLE = "broker_unreachable"
    CLOCK_SKEW = "clock_skew"


class AlertState(StrEnum):
    """An alert's lifecycle: raised -> acknowledged -> cleared."""

    RAISED = "raised"
    ACKNOWLEDGED = "acknowledged"
    CLEARED = "cleared"


class AlertV1(msgspec.Struct, kw_only=True):
    """One alert, retained on ``alert/<id>`` while not cleared.

    ``id`` is the same for the same condition (``container_full-CSQU3054383``), so a
    condition raises one alert, however many scans see it.
    """

    v: Literal[1] = 1
    id: str
    kind: AlertKind
    severity: Literal["info", "warning", "critical"] = "warning"
    state: AlertState = AlertState.RAISED
    subject: str = ""  # the container number, station or drum it is about
    station: str | None = None
    container_no: str | None = None
    message: str = ""
    raised_at: AwareDatetime
    acknowledged_at: AwareDatetime | None = None
    acknowledged_by: str | None = None
    cleared_at: AwareDatetime | None = None
    data: dict[str, Any] = msgspec.field(default_factory=dict)


class AlertKindAckV1(msgspec.Struct, kw_only=True):
    """The result of ``alert/ack-kind``: every alert of one kind raised when it ran.

    Those acknowledged already are left as they were (not listed); ``cleared`` are those
    their acknowledgement ended (the event kinds, docs/floor.md), each of ``acknowledged``.
    """

    kind: AlertKind
    acknowledged: list[str] = msgspec.field(default_factory=list)
    cleared: list[str] = msgspec.field(default_factory=list)
    acknowledged_by: str
    acknowledged_at: AwareDatetime


_json_encoder = msgspec.json.Encoder()


def encode(payload: msgspec.Struct) -> bytes:
    """Encode a payload to JSON bytes."""
    return _json_encoder.encode(payload)


scan_decoder = msgspec.json.Decoder(ScanV1)
scan_ref_decoder = msgspec.json.Decoder(ScanRefV1)
receipt_decoder = msgspec.json.Decoder(ReceiptV1)
status_decoder = msgspec.json.Decoder(StationStatusV1)
command_decoder = msgspec.json.Decoder(CommandV1)
reply_decoder = msgspec.json.Decoder(ReplyV1)
container_state_decoder = msgspec.json.Decoder(ContainerStateV1)
shipment_decoder = msgspec.json.Decoder(ShipmentV1)
station_view_decoder = msgspec.json.Decoder(StationViewV1)
stock_decoder = msgspec.json.Decoder(StockV1)
catalogue_decoder = msgspec.json.Decoder(CatalogueV1)
alert_routing_decoder = msgspec.json.Decoder(AlertRoutingV1)
phone_tokens_decoder = msgspec.json.Decoder(PhoneTokensV1)
stocktake_decoder = msgspec.json.Decoder(StocktakeV1)
alert_decoder = msgspec.json.Decoder(AlertV1)
weight_decoder = msgspec.json.Decoder(WeightReadingV1)
# Every command a station takes on Topics.station_command (tagged by "command").
station_command_decoder = msgspec.json.Decoder(StationScanCommandV1)
