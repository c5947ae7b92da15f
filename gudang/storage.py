"""The storage schema: how facts sit in InfluxDB, shared by the writer and every reader.

The services write these points (``services/records.py``); the API and the rebuild read
them. Measurement, tag and event names and the ns <-> datetime conversion are defined here
only, so the two sides cannot drift apart (they once rounded and truncated the same ns to
different microseconds).

Point identity (measurement + tags + timestamp) decides whether a write is new or a
retry: a redelivered scan must land on its own point, two scans never on one.

Measurements (all tagged ``site``):
- ``scan`` (tag ``station``): every scan with its outcome; time = device time + id offset.
- ``container_event`` (tag ``container_no``): open, seal, ship, unload, shipment, unseal,
  correct_seal, cancel.
- ``stock_event`` (no tag but ``site``: one series, never one per drum): a drum's stock
  correction (write_off, move, qc_dispose) with ``drum``, ``sku``, ``from_location``,
  ``to_location``, ``reason``, ``note``.
- ``catalogue_event`` (tag ``sku``): a SKU set or retired by the admin, the whole
  definition in ``spec`` (SkuSettings as JSON); applied over the configured catalogue.
- ``stocktake_event`` (tag ``stocktake``): a count opened (``location``), closed (the
  differences as JSON) or approved (the drums adjusted, each also a ``stock_event``
  ``stocktake``); counted scans are ``scan`` rows with result ``counted``.
- ``audit`` (tag ``command``): every accepted command with its actor, arguments and
  result as JSON, and ``container_no`` when it concerns one; read by GET /audit.
- ``station_event`` (tag ``station``): active container or mode set by a command; a phone's
  token issued or revoked (``phone_token_issue``/``phone_token_revoke``: name, sha256).
- ``token_event`` (tag ``token``, the token's name): a token without a station made or
  revoked by the admin (the same two events, with ``role``); only the SHA-256 is stored.
- ``setting_event`` (tag ``setting``): a setting the admin changed live; ``alert_routing``:
  which alert kinds reach the dashboard's list and the plain webhooks (JSON lists).
- ``alert`` (tag ``kind``): every lifecycle transition of an alert, the whole AlertV1.
- ``quarantine`` (tag ``station``): scans whose device time cannot be right.
- ``dead_letter``: refused inputs with the reason.
- ``shipped_drum`` (tag ``bucket``): one point per drum of a container when it ships (drum,
  container, ship time), so a drum long gone from memory is still found by one small query:
  the bucket (``drum_bucket``) keeps each series a thousandth of the history.
- ``checkpoint`` (tag ``part``): the services' live state at one instant, in parts
  (``services/checkpoint.py``); a start reads the newest valid one plus what came after.
- ``weight`` (tag ``station``; retention policy ``weight_raw``, 30 days): the scales' live
  readings as the bridges publish them (``services/scales.py``); ``weight_1m`` (in the
  default policy) is its per-minute summary, made by a continuous query.
"""

from __future__ import annotations

import zlib
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from gudang.wire import ScanV1

# -- measurements -----------------------------------------------------------------------------
SCAN = "scan"
CONTAINER_EVENT = "container_event"
STATION_EVENT = "station_event"
DEAD_LETTER = "dead_letter"
ALERT = "alert"
QUARANTINE = "quarantine"
STOCK_EVENT = "stock_event"
AUDIT = "audit"
CATALOGUE_EVENT = "catalogue_event"
SHIPPED_DRUM = "shipped_drum"
CHECKPOINT = "checkpoint"
WEIGHT = "weight"
STOCKTAKE_EVENT = "stocktake_event"
TOKEN_EVENT = "token_event"
SETTING_EVENT = "setting_event"

# -- tags -------------------------------------------------------------------------------------
TAG_SITE = "site"
TAG_STATION = "station"
TAG_CONTAINER_NO = "container_no"
TAG_KIND = "kind"
TAG_COMMAND = "command"
TAG_SKU = "sku"
TAG_BUCKET = "bucket"
TAG_PART = "part"
TAG_TOKEN = "token"
TAG_SETTING = "setting"

# ``shipped_drum`` series per site: a drum's lookup reads one of them (a few thousand rows
# after ten years), while the tag's cardinality stays small for InfluxDB's index.
SHIPPED_BUCKETS = 1024
TAG_STOCKTAKE = "stocktake"

# -- fields shared by writer and readers ------------------------------------------------------
EVENT = "event"  # the field naming what a container_event / station_event point records


class Event(StrEnum):
    """The ``event`` field of a ``container_event``, ``station_event`` or ``stock_event``."""

    OPEN = "open"
    SEAL = "seal"
    SHIP = "ship"
    UNLOAD = "unload"
    SET_CONTAINER = "set_container"
    SET_MODE = "set_mode"
    SHIPMENT = "shipment"  # the shipment record of the container's trip (export papers)
    UNSEAL = "unseal"
    CORRECT_SEAL = "correct_seal"
    CANCEL = "cancel"
    WRITE_OFF = "write_off"  # stock_event
    MOVE = "move"  # stock_event
    QC_DISPOSE = "qc_dispose"  # stock_event
    SET_SKU = "set_sku"  # catalogue_event
    RETIRE_SKU = "retire_sku"  # catalogue_event
    PHONE_TOKEN_ISSUE = "phone_token_issue"  # station_event / token_event: name, sha256, role
    PHONE_TOKEN_REVOKE = "phone_token_revoke"  # station_event / token_event: name
    STOCKTAKE = "stocktake"  # stock_event: a count's approved adjustment
    OPEN_COUNT = "open_count"  # stocktake_event
    CLOSE_COUNT = "close_count"  # stocktake_event
    APPROVE_COUNT = "approve_count"  # stocktake_event
    ALERT_ROUTING = "alert_routing"  # setting_event: dashboard_kinds, webhook_kinds (JSON)


# The field of a ``shipment`` event: the whole record, ShipmentV1 as JSON.
SHIPMENT = "shipment"
# The field of a ``catalogue_event``: the SKU's whole definition, SkuSettings as JSON.
SKU_SPEC = "spec"


def drum_bucket(drum: str) -> str:
    """The ``bucket`` tag of a drum's ``shipped_drum`` point."""
    return f"{zlib.crc32(drum.encode()) % SHIPPED_BUCKETS:03x}"


# -- time -------------------------------------------------------------------------------------
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)
_ID_OFFSET_NS = 1000  # below the µs: never moves a scan past another's device time

# InfluxDB stores int64 ns since 1970: times outside this range cannot be asked for.
MIN_TIME = datetime(1677, 9, 22, tzinfo=UTC)
MAX_TIME = datetime(2262, 4, 11, tzinfo=UTC)


def ns_to_datetime(ns: int) -> datetime:
    """UTC datetime of an InfluxDB ns timestamp (exact: the ns below the µs are dropped)."""
    return _EPOCH + timedelta(microseconds=ns // 1000)


def datetime_to_ns(at: datetime) -> int:
    """ns since the epoch of an aware datetime (exact)."""
    return ((at - _EPOCH) // _ONE_US) * 1000


def rfc3339(at: datetime) -> str:
    """An InfluxQL time literal of an aware datetime, to the µs."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def scan_time_ns(scan: ScanV1) -> int:
    """The scan's point time: its device time to the µs, plus an offset from its id.

    Two scans at one station can share a device time (clocks give ms at best); the
    offset (0..999 ns, from a CRC of the id) keeps them apart while a replay of the same
    scan lands on the same point, and scans keep their device-time order. Two ids with
    the same offset at the same µs (one in a thousand of such rare pairs) are kept apart by
    the ingest, which moves the later one on by 1 ns.
    """
    return datetime_to_ns(scan.ts) + zlib.crc32(scan.id.encode()) % _ID_OFFSET_NS
