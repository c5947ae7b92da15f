"""Settings: one pydantic model per concern, read from a TOML file and the environment.

Built once at start (``load_settings``) and passed down; nothing reads them globally.
Environment variables override the file: ``GUDANG_MQTT__HOST=broker``,
``GUDANG_INFLUX__DATABASE=gudang``. A bad or missing setting fails at start with its
name (``mqtt.port: Input should be a valid integer``).
"""

from __future__ import annotations

import logging
import os
import re
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from gudang.wire import AlertKind, check_name

log = logging.getLogger(__name__)

ENV_PREFIX = "GUDANG_"
CONFIG_ENV = "GUDANG_CONFIG"


# Secrets outside the local demo: generated ones are 32 characters (deploy/install.sh);
# 16 still leaves ~96 bits when random, and refuses words a person would type.
MIN_SECRET_CHARS = 16
# Values that show up in examples and defaults: refused outside local use whatever length.
WEAK_SECRETS = frozenset(
    {"changeme", "change-me", "password", "secret", "gudang", "admin", "mosquitto", "influxdb"}
)
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


class ConfigError(Exception):
    """A setting that is missing or wrong; the message names it."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# NPWP: 15 digits (the old format) or 16 (the NIK-based one from 2024); NIB: 13 digits.
# Printed as configured; dots and dashes are the usual way of writing them.
_NPWP_DIGITS = (15, 16)
_NIB_DIGITS = 13
_ID_SEPARATORS = re.compile(r"[.\-\s]")


class ExporterSettings(_Section):
    """The exporter printed on the export papers: who ships, with the numbers customs knows."""

    name: str = ""
    address: str = ""
    country: str = Field("ID", pattern=r"^[A-Z]{2}$")  # ISO 3166 alpha-2: the goods' origin
    npwp: str = ""  # tax number (Nomor Pokok Wajib Pajak)
    nib: str = ""  # business number (Nomor Induk Berusaha, from OSS)
    # The producer box of the Form E; empty: the exporter produced the goods.
    producer: str = ""

    @field_validator("npwp")
    @classmethod
    def _npwp(cls, value: str) -> str:
        digits = _ID_SEPARATORS.sub("", value)
        if value and (not digits.isdigit() or len(digits) not in _NPWP_DIGITS):
            raise ValueError(f"an NPWP has 15 or 16 digits, not {value!r}")
        return value.strip()

    @field_validator("nib")
    @classmethod
    def _nib(cls, value: str) -> str:
        digits = _ID_SEPARATORS.sub("", value)
        if value and (not digits.isdigit() or len(digits) != _NIB_DIGITS):
            raise ValueError(f"a NIB has {_NIB_DIGITS} digits, not {value!r}")
        return value.strip()


class SiteSettings(_Section):
    """Which warehouse this is."""

    name: str = "blitar"
    timezone: str = "Asia/Jakarta"  # shown to people; everything is stored in UTC
    # The language of what the services write for people (Telegram messages): id or en.
    language: Literal["id", "en"] = "id"
    # "local": the demo stack and tests (no auth needed). "production": secrets must be
    # set and strong, and MQTT to another machine must use TLS (docs/install.md).
    environment: Literal["local", "production"] = "local"
    exporter: ExporterSettings = Field(default_factory=ExporterSettings)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_name("site", value)


class MqttSettings(_Section):
    """The broker every part talks to."""

    host: str = "127.0.0.1"
    port: int = Field(1883, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    tls_ca: Path | None = None  # CA file: set to use TLS
    tls_cert: Path | None = None
    tls_key: Path | None = None
    keepalive_s: int = Field(30, ge=5, le=3600)
    # Persistent sessions survive a restart of the client for this long.
    session_expiry_s: int = Field(7 * 24 * 3600, ge=0)
    client_id: str | None = None  # default: derived from the role and the site


class InfluxSettings(_Section):
    """InfluxDB, spoken to through the v1 HTTP API (/write, /query, /ping)."""

    url: str = "http://127.0.0.1:8086"
    database: str = "gudang"
    retention_policy: str | None = None
    # Where the scales' live readings go (short-lived: deploy/influxdb/setup.toml, 30 days).
    weight_retention_policy: str = Field("weight_raw", min_length=1)
    username: str | None = None
    password: SecretStr | None = None
    token: SecretStr | None = None  # InfluxDB 2.x/3.x compatibility API
    timeout_s: float = Field(10.0, gt=0)
    create_database: bool = True  # CREATE DATABASE at start (needs admin on an auth'd server)


class IngestSettings(_Section):
    """How the services batch scans into InfluxDB."""

    batch_size: int = Field(2000, ge=1, le=10_000)
    linger_ms: int = Field(20, ge=0, le=5000)
    # Receive Maximum sent to the broker: unacknowledged messages it may push to us.
    # It bounds the ingest's memory while InfluxDB is down.
    max_inflight: int = Field(5000, ge=1, le=65535)
    retry_max_s: float = Field(5.0, gt=0)
    # The live state is checkpointed in InfluxDB when a container ships and at this
    # interval (when anything came in); a start reads the newest plus what followed.
    checkpoint_interval_s: float = Field(3600.0, gt=0)
    # A checkpoint older than this is not used: the start rebuilds from all history.
    checkpoint_max_age_s: float = Field(30 * 24 * 3600.0, gt=0)


class SkuSettings(_Section):
    """One SKU of the catalogue."""

    name: str
    size: str = ""
    min_kg: float = Field(0.0, ge=0)
    max_kg: float = Field(1000.0, gt=0)
    hs_code: str = Field("9206.00", pattern=r"^\d{4}(\.?\d{2}){1,3}$")
    gtin: str | None = None  # GS1 labels map to the SKU by GTIN
    # Drums of this SKU a container holds: a container opened for this SKU gets it as
    # its capacity (None: floor.default_capacity_drums).
    capacity_drums: int | None = Field(None, gt=0, le=100_000)
    # What the export papers need of the SKU (docs/papers.md). Prices by ISO 4217
    # currency: an invoice in a currency the SKU has no price in says so, never converts.
    unit_prices: dict[str, Decimal] = Field(default_factory=dict)
    packaging_kg: float | None = Field(None, ge=0, le=1000)  # None: api.packaging_kg_per_drum
    volume_m3: float | None = Field(None, gt=0, le=100)  # one packed drum
    package_kind: str = Field("carton", min_length=1)  # what the drum is packed in
    package_code: str = Field("CT", pattern=r"^[A-Z0-9]{2}$")  # UN/ECE Rec. 21 (CT carton)
    unit_code: str = Field("PCE", pattern=r"^[A-Z0-9]{2,3}$")  # quantity unit: pieces
    # ASEAN-China origin criterion (Form E box 8: WO, RVC 40%, CTH, PE ...): the
    # exporter's declaration; empty until configured, and the Form E says it is missing.
    origin_criterion: str = ""
    # Retired (by the admin, or here): kept for the drums already counted, but a new
    # scan of it is refused.
    retired: bool = False

    @field_validator("unit_prices")
    @classmethod
    def _prices(cls, prices: dict[str, Decimal]) -> dict[str, Decimal]:
        for currency, price in prices.items():
            if not re.fullmatch(r"[A-Z]{3}", currency):
                raise ValueError(f"{currency!r} is not an ISO 4217 currency code (USD, CNY ...)")
            if not price.is_finite() or price <= 0:
                raise ValueError(f"unit price in {currency} must be above zero, not {price}")
        return prices


def _default_catalogue() -> dict[str, SkuSettings]:
    return {
        "JMB-S": SkuSettings(name="Djembe small", size="S", min_kg=2.0, max_kg=4.5),
        "JMB-M": SkuSettings(name="Djembe medium", size="M", min_kg=4.0, max_kg=7.5),
        "JMB-L": SkuSettings(
            name="Djembe large", size="L", min_kg=7.0, max_kg=12.0, gtin="09501101530003"
        ),
    }


class FloorSettings(_Section):
    """What scans mean: the catalogue and the rules of PRODUCT.md."""

    drum_pattern: str = r"^CB-(?P<sku>[A-Z0-9]+-[A-Z0-9]+)-(?P<serial>\d{4,10})$"
    unknown_drum: Literal["receive_and_load", "reject"] = "receive_and_load"
    default_capacity_drums: int = Field(2600, gt=0)
    default_max_payload_kg: float = Field(26_000.0, gt=0)
    nearly_full_ratio: float = Field(0.95, gt=0, le=1)
    skus: dict[str, SkuSettings] = Field(default_factory=_default_catalogue)
    # The loading rate behind a container's time-to-full forecast: drums in this window.
    rate_window_s: float = Field(1800.0, gt=0)
    # Clock skew: a scan stamped further ahead of the services' clock than this, older
    # than max_scan_age_s (a bridge's spool replays scans hours old, legitimately), or
    # before 2020 is quarantined, never written at its wrong time.
    max_clock_ahead_s: float = Field(300.0, gt=0)
    max_scan_age_s: float = Field(7 * 24 * 3600.0, gt=0)
    # A station whose status heartbeat is this far off the services' clock has a wrong
    # clock: its scans are quarantined until it is right again.
    max_station_clock_offset_s: float = Field(300.0, gt=0)
    # Stations known before they are first seen on MQTT (a scan or a status makes a station
    # known too). A command for any other station is refused (404): a typo or a hostile
    # client would otherwise make a stored station, a retained topic and a metrics series.
    stations: list[str] = Field(default_factory=list)

    @field_validator("stations")
    @classmethod
    def _station_names(cls, value: list[str]) -> list[str]:
        return [check_name("station", name) for name in value]


AlertSeverity = Literal["info", "warning", "critical"]
GROUPABLE_KINDS = frozenset({"duplicate_scan", "weight_out_of_range", "unknown_barcode"})


class NotifySettings(_Section):
    """One notification target (``[[alerts.notify]]``), besides the plain ``webhooks``.

    ``format``: ``alert`` (the AlertV1 JSON, as ``webhooks``), ``telegram`` (the Bot API's
    sendMessage to ``chat_id``, the text in ``site.language``, times in the site's zone) or
    ``signed`` (a generic JSON body signed with HMAC-SHA256 of ``secret``, services/notify.py).
    ``kinds`` (empty: every kind) and ``min_severity`` choose the alerts it gets.
    """

    url: str = ""  # alert, signed: where to POST; telegram: made from bot_token
    format: Literal["alert", "telegram", "signed"] = "alert"
    kinds: list[str] = Field(default_factory=list)
    min_severity: AlertSeverity = "info"
    # Telegram: the bot's token (from @BotFather) and the chat's id (a group: negative).
    bot_token: str = ""
    chat_id: str = ""
    telegram_api: str = "https://api.telegram.org"
    secret: str = ""  # signed: the shared secret of the X-Gudang-Signature header

    @model_validator(mode="after")
    def _complete(self) -> NotifySettings:
        unknown = sorted(set(self.kinds) - {k.value for k in AlertKind})
        if unknown:
            raise ValueError(f"alerts.notify kinds: unknown {', '.join(unknown)}")
        if self.format == "telegram":
            if not self.bot_token or not self.chat_id:
                raise ValueError("alerts.notify: a telegram target needs bot_token and chat_id")
        elif not self.url:
            raise ValueError(f"alerts.notify: a {self.format} target needs url")
        if self.format == "signed" and len(self.secret) < 16:
            raise ValueError("alerts.notify: a signed target needs a secret of 16+ characters")
        return self

    @property
    def target(self) -> str:
        """Where the POST goes (a Telegram URL carries the bot's token: mask it in logs)."""
        if self.format == "telegram":
            return f"{self.telegram_api.rstrip('/')}/bot{self.bot_token}/sendMessage"
        return self.url

    @property
    def key(self) -> str:
        """The target's deliveries in the outbox: one queue per target, never shared."""
        if self.format == "telegram":
            return f"telegram:{self.target}#{self.chat_id}"
        return f"{self.format}:{self.url}"


class AlertSettings(_Section):
    """When alerts fire, and where they are delivered besides MQTT."""

    webhooks: list[str] = Field(default_factory=list)  # each gets a POST of AlertV1 JSON
    # Notification targets with a format and filters ([[alerts.notify]]).
    notify: list[NotifySettings] = Field(default_factory=list)
    # Alert noise (docs/floor.md, "Alert noise"). Informational event kinds grouped into one
    # alert per station and hour, with a count; the kinds the dashboard's alert list shows
    # and the kinds the plain webhooks get (empty: every kind).
    grouped_kinds: list[str] = Field(default_factory=lambda: ["duplicate_scan"])
    dashboard_kinds: list[str] = Field(default_factory=list)
    webhook_kinds: list[str] = Field(default_factory=list)

    @field_validator("grouped_kinds", "dashboard_kinds", "webhook_kinds")
    @classmethod
    def _known_kinds(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - {k.value for k in AlertKind})
        if unknown:
            raise ValueError(f"unknown alert kinds: {', '.join(unknown)}")
        return value

    @field_validator("grouped_kinds")
    @classmethod
    def _groupable(cls, value: list[str]) -> list[str]:
        # Events only: a condition (or wrong_container, cleared by its drum's unloading)
        # is cleared by its own subject, which a group has not.
        other = sorted(set(value) - GROUPABLE_KINDS)
        if other:
            raise ValueError(f"grouped_kinds: only {', '.join(sorted(GROUPABLE_KINDS))}")
        return value

    webhook_timeout_s: float = Field(5.0, gt=0)
    webhook_max_attempts: int = Field(6, ge=1)
    webhook_retry_max_s: float = Field(30.0, gt=0)
    # Deliveries waiting at most; past it the oldest wait, new ones are dropped (counted).
    webhook_queue: int = Field(1000, ge=1)
    # The deliveries waiting, on disk (they survive a restart). Default: systemd's
    # $STATE_DIRECTORY, else ~/.local/state/gudang/ (services.outbox.default_path).
    webhook_queue_path: Path | None = None
    # The scales between drums (services/scales.py). A stable reading under
    # scale_empty_below_kg is the empty platter; further than scale_zero_kg from zero for
    # scale_drift_s, it raises scale_drift. Readings, none of them stable, for
    # scale_unstable_s raise scale_unstable.
    scale_empty_below_kg: float = Field(1.0, gt=0)
    scale_zero_kg: float = Field(0.05, gt=0)
    scale_drift_s: float = Field(60.0, ge=0)
    scale_unstable_s: float = Field(120.0, gt=0)
    # A station_offline alert clears only once its station stayed online this long: a
    # station flapping online/offline raises one alert (counting the flaps), not one a flap.
    flap_settle_s: float = Field(60.0, ge=0)
    # A station is offline after this many missed heartbeats (StationStatusV1.heartbeat_s).
    heartbeat_misses: float = Field(3.0, gt=1)
    # Outages shorter than these raise nothing: a restart of a server is not an incident.
    storage_grace_s: float = Field(2.0, ge=0)
    broker_grace_s: float = Field(5.0, ge=0)


ApiRole = Literal["worker", "supervisor", "admin"]


class ApiToken(_Section):
    """One bearer token of the API, stored hashed (``gudang api hash-token``)."""

    name: str = Field(min_length=1, max_length=64)  # who: recorded as the actor of commands
    role: ApiRole
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")  # hex SHA-256 of the token, never the token


class ApiSettings(_Section):
    """The HTTP API and dashboard."""

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    command_timeout_s: float = Field(5.0, gt=0)
    # A phone's scan (POST /stations/{s}/scans) waits this long for the services' receipt
    # (a bridge first waits up to station.pairing_window_s for a stable weight); no receipt
    # by then: 202, and the phone sends it again later with the same id.
    scan_receipt_timeout_s: float = Field(10.0, gt=0, le=120)
    tokens: list[ApiToken] = Field(default_factory=list)
    # The well-known demo-admin / demo-supervisor / demo-worker tokens of `gudang stack`;
    # refused unless the API listens on loopback only.
    allow_demo_tokens: bool = False
    stream_heartbeat_s: float = Field(15.0, gt=0, le=300)
    # Live streams one token may hold open: a client opening streams in a loop (or never
    # reading them) uses up its own share, not every dashboard's (429 past it).
    stream_max_per_token: int = Field(50, ge=1, le=1000)
    # A stream whose reader has not taken an event for this long is closed: its events
    # pile up in the server otherwise, and it holds a slot.
    stream_send_timeout_s: float = Field(10.0, gt=0, le=300)
    # /metrics names every container and station: it needs a bearer token (any role),
    # except from these client addresses (a Prometheus on this machine: ["127.0.0.1"]).
    metrics_open_from: list[str] = Field(default_factory=list)
    # Carton and wrapping per drum, added to the net weight for the packing list's gross.
    packaging_kg_per_drum: float = Field(0.0, ge=0, le=1000)
    # One log line per HTTP request. Off by default: dashboards polling the fill send
    # hundreds of requests a second, and writing each line cost the API ~40 % of its CPU
    # (docs/performance.md); gudang_api_requests counts them by route and status anyway.
    access_log: bool = False
    # HTTPS (docs/install.md, "HTTPS for phones"): a phone's camera works only on a secure
    # page, and tokens must not cross the Wi-Fi in clear. With all three set, `gudang api`
    # also serves HTTPS on tls_port with this certificate (signed by the site's CA, naming
    # the server's LAN address). In production, plain HTTP on `port` then serves this
    # machine's own clients only: others are redirected there, and a token is refused.
    tls_port: int | None = Field(None, ge=1, le=65535)
    tls_certfile: Path | None = None
    tls_keyfile: Path | None = None

    @model_validator(mode="after")
    def _tls_complete(self) -> ApiSettings:
        given = [
            self.tls_port is not None,
            self.tls_certfile is not None,
            self.tls_keyfile is not None,
        ]
        if any(given) and not all(given):
            raise ValueError(
                "api.tls_port, api.tls_certfile and api.tls_keyfile: set all three or none"
            )
        if self.tls_port is not None and self.tls_port == self.port:
            raise ValueError("api.tls_port: must differ from api.port (the plain HTTP port)")
        return self

    @property
    def tls(self) -> bool:
        """Whether the API also serves HTTPS."""
        return self.tls_port is not None

    @model_validator(mode="after")
    def _demo_tokens_local_only(self) -> ApiSettings:
        if self.allow_demo_tokens and self.host not in LOOPBACK_HOSTS:
            raise ValueError(
                f"api.allow_demo_tokens is for local use only, but api.host is {self.host!r}: "
                "configure api.tokens instead"
            )
        return self


# The scale protocols the bridge speaks (firmware_bridge.protocols.SCALE_PROTOCOLS; a test
# keeps the two equal). Named here so a station file is checked without the bridge.
SCALE_PROTOCOL_NAMES = (
    "mt-sics",
    "mt-continuous",
    "and",
    "cas",
    "sma",
    "ohaus",
    "xk3190-a12",
    "xk3190-tf0",
)
# How a scanner is read: "scanner" on a serial port, "hid" as a USB keyboard (evdev).
SCANNER_PROTOCOL_NAMES = ("scanner", "hid")
# Keyboard layouts a "hid" scanner may be set to (firmware_bridge.protocols.hid.LAYOUTS;
# a test keeps the two equal).
HID_LAYOUT_NAMES = ("us", "de", "fr")
# Serial line speeds scanners and scales offer; anything else is a typo.
BAUDRATES = (300, 600, 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)
# pyserial URL schemes a port may use instead of a device path.
PORT_URL_SCHEMES = ("loop", "socket", "rfc2217", "spy", "alt", "hwgrep")


class DeviceSettings(_Section):
    """One device at a station: a serial port, or an input device for a "hid" scanner."""

    name: str = Field(min_length=1, max_length=32)
    role: Literal["scanner", "scale"]
    # A device path (/dev/serial/by-id/..., /dev/input/by-id/...-event-kbd) or a pyserial URL
    port: str = Field(min_length=1)
    baudrate: int = 9600
    bytesize: Literal[7, 8] = 8
    parity: Literal["N", "E", "O"] = "N"
    stopbits: Literal[1, 2] = 1
    # scanner: scanner (serial) or hid; scale: one of SCALE_PROTOCOL_NAMES
    protocol: str = "scanner"
    # A "hid" scanner: the keyboard layout ("keyboard country") the scanner is set to.
    layout: Literal["us", "de", "fr"] = "us"
    # Scales whose frames carry no stable flag (xk3190-*): stable after this many
    # consecutive frames within stable_tolerance_kg of each other.
    stable_frames: int = Field(5, ge=2, le=100)
    stable_tolerance_kg: float = Field(0.02, ge=0, le=10)

    @field_validator("baudrate")
    @classmethod
    def _baudrate(cls, value: int) -> int:
        if value not in BAUDRATES:
            raise ValueError(f"{value} is not a serial speed; use one of {BAUDRATES}")
        return value

    @field_validator("port")
    @classmethod
    def _port(cls, value: str) -> str:
        scheme, sep, _ = value.partition("://")
        if sep and scheme not in PORT_URL_SCHEMES:
            raise ValueError(f"URL scheme {scheme!r} is not one pyserial opens {PORT_URL_SCHEMES}")
        if not sep and not value.startswith("/"):
            raise ValueError(f"{value!r} is neither a device path (/dev/...) nor a pyserial URL")
        return value

    @model_validator(mode="after")
    def _protocol(self) -> DeviceSettings:
        if self.role == "scanner" and self.protocol not in SCANNER_PROTOCOL_NAMES:
            raise ValueError(
                f"protocol {self.protocol!r}: a scanner's protocol is 'scanner' (serial) "
                "or 'hid' (USB keyboard)"
            )
        if self.protocol == "hid" and "://" in self.port:
            raise ValueError(f"port {self.port!r}: a hid scanner is a device path /dev/input/...")
        if self.role == "scale" and self.protocol not in SCALE_PROTOCOL_NAMES:
            names = ", ".join(SCALE_PROTOCOL_NAMES)
            raise ValueError(f"protocol {self.protocol!r}: a scale speaks one of {names}")
        return self


class StationSettings(_Section):
    """One station as its bridge runs it."""

    name: str = "load-1"
    mode: Literal["loading", "receiving"] = "loading"
    devices: list[DeviceSettings] = Field(default_factory=list)
    spool_path: Path = Path("var/spool.sqlite3")
    spool_capacity: int = Field(200_000, gt=0)
    # The status says "nearly full" from this share of spool_capacity on; the services raise
    # spool_nearly_full from it too (the one setting; alerts.spool_nearly_full_ratio was its
    # old second name and is still read, with a warning).
    spool_nearly_full_ratio: float = Field(0.8, gt=0, le=1)
    pairing_window_s: float = Field(3.0, gt=0)
    # A stable reading below this is an empty platter, never a drum's weight.
    min_weight_kg: float = Field(0.1, ge=0)
    heartbeat_s: float = Field(15.0, gt=0)
    # A scan the broker acknowledged is sent again if the services' receipt has not come
    # this long after (then after 2, 4, 8, 16 times as long); docs/bridge.md, "The spool".
    receipt_timeout_s: float = Field(30.0, ge=0.1, le=3600)
    # Live readings on the weight topic (QoS 0), on change, at most this often; 0: none.
    weight_publish_hz: float = Field(2.0, ge=0, le=20)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_name("station", value)

    @field_validator("devices")
    @classmethod
    def _devices(cls, devices: list[DeviceSettings]) -> list[DeviceSettings]:
        # The bridge reads one scanner and pairs with one scale; a second would be ignored.
        for role in ("scanner", "scale"):
            if sum(d.role == role for d in devices) > 1:
                raise ValueError(f"more than one {role}: a station has at most one")
        names = [d.name for d in devices]
        if len(set(names)) != len(names):
            raise ValueError(f"device names repeat: {names}")
        ports = [d.port for d in devices]
        if len(set(ports)) != len(ports):
            raise ValueError(f"two devices on one port: {ports}")
        return devices


class Settings(BaseSettings):
    """All of Gudang's settings; each process uses the sections it needs."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid", frozen=True
    )

    site: SiteSettings = Field(default_factory=SiteSettings)
    mqtt: MqttSettings = Field(default_factory=MqttSettings)
    influx: InfluxSettings = Field(default_factory=InfluxSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    floor: FloorSettings = Field(default_factory=FloorSettings)
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    station: StationSettings = Field(default_factory=StationSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The file's values arrive through init_settings; the environment wins over them.
        return env_settings, init_settings

    @model_validator(mode="before")
    @classmethod
    def _old_spool_ratio_name(cls, data: Any) -> Any:
        # alerts.spool_nearly_full_ratio was a second setting for the one threshold: a site
        # file that still says it loads, its value standing for station.spool_nearly_full_ratio
        # unless that is given too.
        if not isinstance(data, dict) or not isinstance(data.get("alerts"), dict):
            return data
        alerts = dict(data["alerts"])
        if "spool_nearly_full_ratio" not in alerts:
            return data
        ratio = alerts.pop("spool_nearly_full_ratio")
        log.warning(
            "alerts.spool_nearly_full_ratio is deprecated: it is read as "
            "station.spool_nearly_full_ratio (the one threshold); rename it in the site file"
        )
        station = data.get("station", {})
        if isinstance(station, dict):
            station = {"spool_nearly_full_ratio": ratio, **station}
        return {**data, "alerts": alerts, "station": station}

    @model_validator(mode="after")
    def _no_demo_tokens_in_production(self) -> Settings:
        if self.site.environment == "production" and self.api.allow_demo_tokens:
            raise ValueError("api.allow_demo_tokens: refused in production (use api.tokens)")
        return self

    @model_validator(mode="after")
    def _production_secrets_strong(self) -> Settings:
        problems = self._secret_problems(())
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _secret_problems(self, required: tuple[str, ...]) -> list[str]:
        if self.site.environment != "production":
            return []
        problems: list[str] = []
        given = {
            "mqtt.password": self.mqtt.password,
            "influx.password": self.influx.password,
            "influx.token": self.influx.token,
        }
        for name, value in given.items():
            if value is not None:
                problems.extend(_weak(name, value.get_secret_value()))
        if self.mqtt.host not in LOOPBACK_HOSTS and self.mqtt.tls_ca is None:
            problems.append(
                f"mqtt.tls_ca: required in production when the broker ({self.mqtt.host}) "
                "is another machine: passwords must not cross the network in clear"
            )
        if "mqtt" in required and not (self.mqtt.username and self.mqtt.password):
            problems.append("mqtt.username and mqtt.password: required in production")
        if "influx" in required:
            if self.influx.token is None and not (self.influx.username and self.influx.password):
                problems.append(
                    "influx.username and influx.password (or influx.token): required in production"
                )
            if self.influx.create_database:
                problems.append(
                    "influx.create_database: must be false in production (the database is "
                    "created at install by the admin; the services' user may not create it)"
                )
        return problems

    def require_secrets(self, *sections: Literal["mqtt", "influx"]) -> None:
        """In production, raise ConfigError unless these sections carry credentials."""
        problems = self._secret_problems(sections)
        if problems:
            raise ConfigError("invalid settings for production:\n  " + "\n  ".join(problems))


def _weak(name: str, value: str) -> list[str]:
    # The message names the setting, never the value.
    if value.strip().lower() in WEAK_SECRETS:
        return [f"{name}: a default or example value is refused in production"]
    if len(value) < MIN_SECRET_CHARS:
        return [f"{name}: at least {MIN_SECRET_CHARS} characters in production"]
    return []


def _describe(exc: ValidationError, source: str) -> str:
    lines = [f"invalid settings ({source}):"]
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        lines.append(f"  {where}: {err['msg']}")
    return "\n".join(lines)


def load_settings(
    path: Path | str | None = None, overrides: dict[str, Any] | None = None
) -> Settings:
    """Read settings from a TOML file (or $GUDANG_CONFIG), the environment and overrides."""
    if path is None and os.environ.get(CONFIG_ENV):
        path = os.environ[CONFIG_ENV]
    data: dict[str, Any] = {}
    source = "defaults and environment"
    if path is not None:
        path = Path(path)
        source = str(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigError(f"settings file {path} does not exist") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"settings file {path} is not valid TOML: {exc}") from exc
    for section, values in (overrides or {}).items():
        merged = dict(data.get(section, {}))
        merged.update(values)
        data[section] = merged
    try:
        return Settings(**data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, source)) from exc


def secret(value: SecretStr | None) -> str | None:
    """Unwrap a secret at the point of use only."""
    return value.get_secret_value() if value is not None else None


def mask_url(url: str) -> str:
    """A URL fit for logs and screens: scheme and host only (a Telegram bot's token, or a
    gateway's key, is in the path or the query)."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    hidden = parts.path not in ("", "/") or parts.query or parts.username or parts.password
    return f"{parts.scheme}://{host}/***" if hidden else f"{parts.scheme}://{host}/"
