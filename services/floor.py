"""The floor's live state and what each scan means (PRODUCT.md, "What a scan means").

Pure code: no I/O. ``decide_*`` looks at the state and returns an outcome; ``apply``
changes the state by an outcome. Live scans go decide -> apply; a rebuild from InfluxDB
applies the outcomes recorded there, so a restart agrees with the run before it.
"""

from __future__ import annotations

import re
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import ClassVar

from gudang.barcodes import BarcodeError, ContainerNo, parse_drum_label
from gudang.settings import ApiRole, FloorSettings, SkuSettings
from gudang.wire import (
    AlertRoutingV1,
    CatalogueV1,
    ContainerStateV1,
    ContainerStatus,
    LastScanV1,
    PhoneTokensV1,
    PhoneTokenV1,
    QcResult,
    ScanKind,
    ScanResult,
    ScanV1,
    ShipmentV1,
    StationViewV1,
    StocktakeV1,
    StockV1,
)
from services.shipped import ShippedDrum, ShippedFilter

WAREHOUSE = "warehouse"  # the stock location of drums not in a container
STATION_MODES = ("loading", "receiving", "counting")
# Stock locations of drums held by QC: in stock, but never loaded.
QC_LOCATIONS = {QcResult.REJECT: "qc-reject", QcResult.REWORK: "qc-rework"}
QC_HELD = frozenset(QC_LOCATIONS.values())
# Where a drum goes when it leaves the books without being shipped: no longer stock
# anywhere. Scanned again, it is refused for loading; a receiving station takes it back.
WRITTEN_OFF = "written-off"
RETURNED = "returned-to-supplier"
SCRAPPED = "scrapped"
GONE = frozenset({WRITTEN_OFF, RETURNED, SCRAPPED})
WRITE_OFF_REASONS = ("damaged", "lost", "sample")
# A QC-held drum's disposal -> (where it may be, where it goes)
QC_ACTIONS: dict[str, tuple[frozenset[str], str]] = {
    "pass": (frozenset({QC_LOCATIONS[QcResult.REWORK]}), WAREHOUSE),  # reworked: loadable
    "return": (QC_HELD, RETURNED),  # back to the supplier
    "scrap": (QC_HELD, SCRAPPED),
}
# A warehouse location's name: lower-case like "warehouse", "rak-a1", "gudang-2".
LOCATION_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,31}$")
# Containers that can take drums / that are done with and can be opened again.
LOADABLE = frozenset({ContainerStatus.OPEN, ContainerStatus.LOADING})
REOPENABLE = frozenset({ContainerStatus.SHIPPED, ContainerStatus.CANCELLED})
_SECONDS_PER_HOUR = 3600.0
# The loading rate needs loads spread over this long at least (else it is null): two
# drums scanned together at two stations would otherwise "forecast" full in seconds.
MIN_RATE_SPAN_S = 60.0


COUNTING = frozenset({ScanResult.LOADED, ScanResult.RECEIVED})


@dataclass(frozen=True, slots=True)
class ScanOutcome:
    """The decision on one scan, as stored in InfluxDB."""

    result: ScanResult
    reason: str = ""
    drum: str | None = None  # the drum's identity key
    sku: str | None = None
    container_no: str | None = None
    weight_kg: float | None = None
    out_of_range: bool = False
    from_stock: bool = True  # LOADED: taken from stock (False: unknown drum received and loaded)
    supplier: str | None = None  # RECEIVED / SUPPLIER_SET: the drum's supplier
    qc: str | None = None  # RECEIVED: the QC result scanned with it
    location: str | None = None  # RECEIVED: the stock location it goes to (default warehouse)
    from_location: str | None = None  # RECEIVED again after QC: the location it leaves
    unknown_label: bool = False  # REJECTED because the label or its SKU is unknown
    stocktake: str | None = None  # COUNTED: the count it was found in


@dataclass(slots=True)
class Container:
    """One container being loaded."""

    container_no: str
    container_type: str
    capacity_drums: int
    max_payload_kg: float
    status: ContainerStatus = ContainerStatus.OPEN
    opened_at: datetime | None = None
    seal_no: str | None = None
    drums: dict[str, float] = field(default_factory=dict)  # drum key -> weight kg
    sku_counts: Counter[str] = field(default_factory=Counter)
    last_scan_at: datetime | None = None
    net_weight_kg: float = 0.0
    # Scan times of the drums loaded within the rate window, in time order.
    recent_loads: deque[datetime] = field(default_factory=deque)
    shipment: ShipmentV1 | None = None  # a supervisor's record of this trip (export papers)
    # Drums that left memory when it shipped (``drums`` is then empty): still counted.
    shipped_drums: int = 0

    @property
    def drum_count(self) -> int:
        """Drums in the container, shipped ones included."""
        return len(self.drums) + self.shipped_drums

    def note_load(self, at: datetime, newest: datetime, window_s: float) -> None:
        """Remember a load for the rate; forget loads older than the window."""
        loads = self.recent_loads
        if not loads or at >= loads[-1]:
            loads.append(at)
        else:
            # Older than the newest (two stations' clocks, a spool replayed): kept in order,
            # so the oldest and newest are the ends; such a load lands near the end.
            i = len(loads) - 1
            while i > 0 and loads[i - 1] > at:
                i -= 1
            loads.insert(i, at)
        window = timedelta(seconds=window_s)
        while loads and newest - loads[0] > window:
            loads.popleft()

    def rate_per_h(self) -> float | None:
        """Drums per hour over the recent window; None until it can be measured."""
        loads = self.recent_loads
        if len(loads) < 2:
            return None
        # Published with every change of the container: the ends, not a scan of thousands.
        span = (loads[-1] - loads[0]).total_seconds()
        if span < MIN_RATE_SPAN_S:
            return None  # two drums a second apart say nothing of the hour
        # n loads span n-1 intervals
        return (len(self.recent_loads) - 1) / span * _SECONDS_PER_HOUR

    def forecast_full_at(self, rate: float | None) -> datetime | None:
        """When the container is full at ``rate`` drums per hour, from its last load."""
        if rate is None or self.last_scan_at is None:
            return None
        if self.status not in (ContainerStatus.OPEN, ContainerStatus.LOADING):
            return None
        remaining = self.capacity_drums - len(self.drums)
        return self.last_scan_at + timedelta(hours=max(remaining, 0) / rate)

    def view(self, now: datetime) -> ContainerStateV1:
        """The retained state payload."""
        n = self.drum_count
        rate = self.rate_per_h()
        return ContainerStateV1(
            container_no=self.container_no,
            container_type=self.container_type,
            status=self.status,
            drums=n,
            capacity_drums=self.capacity_drums,
            fill_ratio=n / self.capacity_drums,
            net_weight_kg=round(self.net_weight_kg, 3),
            max_payload_kg=self.max_payload_kg,
            weight_ratio=self.net_weight_kg / self.max_payload_kg,
            seal_no=self.seal_no,
            opened_at=self.opened_at,
            last_scan_at=self.last_scan_at,
            updated_at=now,
            drums_by_sku={k: v for k, v in self.sku_counts.items() if v},
            rate_drums_per_h=round(rate, 3) if rate is not None else None,
            forecast_full_at=self.forecast_full_at(rate),
            shipment=self.shipment,
        )


@dataclass(slots=True)
class Station:
    """A packing station as the services see it."""

    # Not in a checkpoint (nor in a rebuild): they come back with the retained status.
    transient: ClassVar[frozenset[str]] = frozenset(
        {"online", "last_status_at", "heartbeat_s", "clock_offset_s"}
    )

    name: str
    mode: str = "loading"
    active_container: str | None = None
    online: bool = False
    last_scan_at: datetime | None = None
    scans: int = 0
    supplier: str | None = None
    stocktake: str | None = None  # counting: the count its scans go to
    last_scan: LastScanV1 | None = None  # the newest scan by time, with its outcome
    # From the station's status messages (not stored: the retained status comes back).
    last_status_at: datetime | None = None
    heartbeat_s: float | None = None
    clock_offset_s: float = 0.0  # the station's clock minus ours, at its last heartbeat

    def view(self) -> StationViewV1:
        """The retained state payload."""
        return StationViewV1(
            station=self.name,
            mode=self.mode,
            active_container=self.active_container,
            online=self.online,
            last_scan_at=self.last_scan_at,
            scans=self.scans,
            supplier=self.supplier,
            stocktake=self.stocktake,
            last_scan=self.last_scan,
        )


@dataclass(slots=True)
class Stocktake:
    """A count of one stock location: opened, counted by scans, closed, approved.

    Plain data (strings, lists, dicts) so that the live state can be checkpointed.
    """

    id: str
    location: str
    opened_by: str
    opened_at: datetime | None = None
    status: str = "open"  # open -> closed -> approved
    expected_at_open: int = 0  # drums the books had there when it opened
    found: dict[str, str] = field(default_factory=dict)  # drum -> its book location ("": none)
    found_sku: dict[str, str] = field(default_factory=dict)
    # At close: drum -> (sku, book location) for each of the three differences.
    unexpected: dict[str, list[str]] = field(default_factory=dict)  # the books did not have it
    missing: dict[str, list[str]] = field(default_factory=dict)  # expected here, not found
    wrong_place: dict[str, list[str]] = field(default_factory=dict)  # the books say elsewhere
    adjusted: list[str] = field(default_factory=list)
    closed_at: datetime | None = None

    def view(self) -> StocktakeV1:
        """The retained state payload."""

        def rows(diff: dict[str, list[str]]) -> list[dict[str, str]]:
            return [
                {"drum": d, "sku": s, "book_location": loc} for d, (s, loc) in sorted(diff.items())
            ]

        return StocktakeV1(
            id=self.id,
            location=self.location,
            status=self.status,
            opened_by=self.opened_by,
            opened_at=self.opened_at,
            closed_at=self.closed_at,
            expected_at_open=self.expected_at_open,
            found=len(self.found),
            unexpected=rows(self.unexpected),
            missing=rows(self.missing),
            wrong_place=rows(self.wrong_place),
            adjusted=list(self.adjusted),
        )


# Device times before this are a clock that was never set (RTC reset, no NTP: 1970).
EARLIEST_SCAN = datetime(2020, 1, 1, tzinfo=UTC)


def clock_problem(
    scan: ScanV1, now: datetime, settings: FloorSettings, station: Station | None
) -> str | None:
    """Why the scan's device time cannot be right (then it is quarantined), or None."""
    if scan.ts < EARLIEST_SCAN:
        return f"device time {scan.ts.isoformat()} is before 2020: the clock was never set"
    ahead = (scan.ts - now).total_seconds()
    if ahead > settings.max_clock_ahead_s:
        return f"device time is {ahead:.0f}s ahead of the services' clock"
    if -ahead > settings.max_scan_age_s:
        return f"device time is {-ahead:.0f}s old, more than max_scan_age_s"
    if station is not None and clock_skewed(station.clock_offset_s, settings):
        return f"station clock is {station.clock_offset_s:+.0f}s off (from its heartbeat)"
    return None


def clock_skewed(offset_s: float, settings: FloorSettings) -> bool:
    """A station clock this far off ours (from its heartbeat) makes its scans' times wrong."""
    return abs(offset_s) > settings.max_station_clock_offset_s


def heartbeat_stale(heartbeat_s: float | None, silent_s: float, misses: float) -> bool:
    """A station silent for ``misses`` heartbeats is gone, whatever its last status said."""
    return heartbeat_s is not None and silent_s > heartbeat_s * misses


class FloorError(ValueError):
    """A command that the floor's state does not allow; ``code`` is HTTP-like."""

    def __init__(self, message: str, code: int = 409) -> None:
        super().__init__(message)
        self.code = code


@dataclass(slots=True)
class Changes:
    """What a batch changed, to publish once the batch is durable."""

    containers: set[str] = field(default_factory=set)
    stations: set[str] = field(default_factory=set)
    stock: bool = False
    catalogue: bool = False
    phone_tokens: bool = False
    alert_routing: bool = False
    stocktakes: set[str] = field(default_factory=set)

    def clear(self) -> None:
        """Forget everything published."""
        self.containers.clear()
        self.stations.clear()
        self.stock = False
        self.catalogue = False
        self.phone_tokens = False
        self.alert_routing = False
        self.stocktakes.clear()


class Floor:
    """Stock, containers and stations of one site."""

    # Attributes that are configuration or wiring, not state: never in a checkpoint.
    not_state: ClassVar[frozenset[str]] = frozenset(
        {"settings", "_drum_re", "_sku_by_gtin", "changes", "shipped_lookup"}
    )

    def __init__(self, settings: FloorSettings) -> None:
        self.settings = settings
        self._drum_re = re.compile(settings.drum_pattern)
        self._sku_by_gtin = self._gtins(settings.skus)
        self.containers: dict[str, Container] = {}
        self.stations: dict[str, Station] = {}
        self.drum_location: dict[str, str] = {}  # drum key -> WAREHOUSE or container number
        self.drum_sku: dict[str, str] = {}
        self.stock: Counter[tuple[str, str]] = Counter()  # (sku, location) -> drums
        self.phone_tokens: dict[str, PhoneTokenV1] = {}  # by name: phones signed in to scan
        # The SKUs set live (catalogue events) over the configured catalogue: state, while
        # ``settings`` is the configuration (a checkpoint keeps these, applied over it).
        self.sku_overrides: dict[str, SkuSettings] = {}
        self.shipped = ShippedFilter()  # every drum shipped (they are not in drum_location)
        # Where a drum not in memory shipped (the services query InfluxDB); None: never asked.
        self.shipped_lookup: Callable[[str], ShippedDrum | None] | None = None
        self.stocktakes: dict[str, Stocktake] = {}
        # The admin's alert routing (alerts/routing), over alerts.dashboard_kinds and
        # alerts.webhook_kinds; None while the configuration's is in force.
        self.alert_routing: AlertRoutingV1 | None = None
        self.changes = Changes()

    # -- the SKU catalogue ------------------------------------------------------------------
    @staticmethod
    def _gtins(skus: dict[str, SkuSettings]) -> dict[str, str]:
        return {s.gtin: k for k, s in skus.items() if s.gtin}

    def set_sku(self, sku: str, spec: SkuSettings, check: bool = True) -> SkuSettings:
        """Add a SKU to the catalogue or replace its definition, live (no restart).

        The floor's settings are replaced by a copy with the new catalogue: whatever reads
        ``floor.settings.skus`` (scans, alerts) sees it from the next scan on.
        """
        skus = dict(self.settings.skus)
        if check and spec.gtin:
            other = self._sku_by_gtin.get(spec.gtin)
            if other is not None and other != sku:
                raise FloorError(
                    f"GTIN {spec.gtin} is SKU {other}'s (GTIN {spec.gtin} sudah milik SKU {other})"
                )
        skus[sku] = spec
        self.sku_overrides[sku] = spec
        self.settings = self.settings.model_copy(update={"skus": skus})
        self._sku_by_gtin = self._gtins(skus)
        self.changes.catalogue = True
        self.changes.stock = True  # the stock's descriptions come from the catalogue
        return spec

    def after_checkpoint(self) -> None:
        """Restored from a checkpoint: the live catalogue again, over the configured one."""
        for sku, spec in list(self.sku_overrides.items()):
            self.set_sku(sku, spec, check=False)

    def retire_sku(self, sku: str, check: bool = True) -> SkuSettings:
        """Retire a SKU: its drums stay counted, a new scan of it is refused."""
        spec = self.settings.skus.get(sku)
        if spec is None:
            raise FloorError(f"SKU {sku} is not in the catalogue (SKU tidak ada)", code=404)
        if check and spec.retired:
            raise FloorError(f"SKU {sku} is already retired (SKU sudah tidak dipakai)")
        return self.set_sku(sku, spec.model_copy(update={"retired": True}), check=False)

    def catalogue_view(self, now: datetime | None = None) -> CatalogueV1:
        """The catalogue in force, retired SKUs too."""
        return CatalogueV1(
            updated_at=now or datetime.now(UTC),
            skus={k: s.model_dump(mode="json") for k, s in sorted(self.settings.skus.items())},
        )

    # -- alert routing ---------------------------------------------------------------------
    def set_alert_routing(
        self, dashboard_kinds: list[str], webhook_kinds: list[str], who: str, at: datetime
    ) -> AlertRoutingV1:
        """Which alert kinds reach the dashboard's list and the plain webhooks, live."""
        self.alert_routing = AlertRoutingV1(
            updated_at=at,
            dashboard_kinds=sorted(set(dashboard_kinds)),
            webhook_kinds=sorted(set(webhook_kinds)),
            set_by=who,
            set_at=at,
        )
        self.changes.alert_routing = True
        return self.alert_routing

    # -- stations --------------------------------------------------------------------------
    def station(self, name: str) -> Station:
        """The station, created on first sight."""
        st = self.stations.get(name)
        if st is None:
            st = self.stations[name] = Station(name=name)
            self.changes.stations.add(name)
        return st

    def set_online(self, name: str, online: bool) -> None:
        """Record a station's online state from its retained status."""
        st = self.station(name)
        if st.online != online:
            st.online = online
            self.changes.stations.add(name)

    def set_active_container(
        self, station: str, container_no: str | None, check: bool = True
    ) -> str | None:
        """Point a station at a container (or at none); returns the compact number."""
        if container_no is not None:
            container_no = ContainerNo.parse(container_no).value
            if check:
                self._loadable(container_no)
        st = self.station(station)
        st.active_container = container_no
        self.changes.stations.add(station)
        return container_no

    def set_mode(
        self,
        station: str,
        mode: str,
        supplier: str | None = None,
        stocktake: str | None = None,
        check: bool = True,
    ) -> Station:
        """Make a station a loading, a receiving (with its supplier) or a counting station
        (with the open stocktake its scans count for)."""
        if mode not in STATION_MODES:
            raise FloorError(f"mode {mode!r}: use one of {', '.join(STATION_MODES)}", code=400)
        if mode == "counting":
            if not stocktake:
                raise FloorError("counting needs the stocktake (stok opname) to count", code=400)
            if check:
                self._open_stocktake(stocktake)
        st = self.station(station)
        st.mode = mode
        st.stocktake = stocktake if mode == "counting" else None
        if supplier is not None:
            st.supplier = supplier or None
        self.changes.stations.add(station)
        return st

    # -- phones (a token that scans at one station) ---------------------------------------
    def issue_phone_token(
        self,
        station: str | None,
        name: str,
        sha256: str,
        at: datetime,
        by: str,
        role: ApiRole = "worker",
    ) -> PhoneTokenV1:
        """Admit a token: at ``station`` only (a phone's), or with ``role`` everywhere."""
        if name in self.phone_tokens:
            raise FloorError(f"token {name!r} exists already", code=409)
        if any(t.sha256 == sha256 for t in self.phone_tokens.values()):
            raise FloorError("that token is issued already", code=409)
        if station is not None:
            self.station(station)  # a phone may be a station's only scanner: it exists
        token = PhoneTokenV1(
            name=name, station=station, sha256=sha256, issued_at=at, issued_by=by, role=role
        )
        self.phone_tokens[name] = token
        self.changes.phone_tokens = True
        return token

    def revoke_phone_token(self, name: str) -> PhoneTokenV1:
        """Stop a phone's token: its next request is refused."""
        token = self.phone_tokens.pop(name, None)
        if token is None:
            raise FloorError(f"token {name!r} is not known (or revoked already)", code=404)
        self.changes.phone_tokens = True
        return token

    def phone_tokens_view(self) -> PhoneTokensV1:
        """Every phone token not revoked, oldest first."""
        return PhoneTokensV1(tokens=sorted(self.phone_tokens.values(), key=lambda t: t.issued_at))

    # -- containers ------------------------------------------------------------------------
    def open_container(
        self,
        container_no: str,
        container_type: str = "40HC",
        capacity_drums: int | None = None,
        max_payload_kg: float | None = None,
        at: datetime | None = None,
        sku: str | None = None,
    ) -> Container:
        """Open a container for loading.

        Its capacity: ``capacity_drums`` if given, else the drums per container of the SKU
        it is opened for (``sku``) if the catalogue gives it, else the floor's default.
        """
        number = ContainerNo.parse(container_no).value
        if sku is not None:
            spec = self.settings.skus.get(sku)
            if spec is None:
                raise FloorError(f"SKU {sku} is not in the catalogue (SKU tidak ada)", code=404)
            if spec.retired:
                raise FloorError(f"SKU {sku} is retired (SKU sudah tidak dipakai)")
            capacity_drums = capacity_drums or spec.capacity_drums
        if number in self.containers:
            existing = self.containers[number]
            if existing.status not in REOPENABLE:
                raise FloorError(f"container {number} is already {existing.status.value}")
        c = Container(
            container_no=number,
            container_type=container_type,
            capacity_drums=capacity_drums or self.settings.default_capacity_drums,
            max_payload_kg=max_payload_kg or self.settings.default_max_payload_kg,
            opened_at=at,
        )
        self.containers[number] = c
        self.changes.containers.add(number)
        return c

    def container(self, container_no: str) -> Container:
        """An existing container by its number, in any printed form."""
        number = ContainerNo.parse(container_no).value
        c = self.containers.get(number)
        if c is None:
            raise FloorError(f"container {number} is not open", code=404)
        return c

    def seal(self, container_no: str, seal_no: str, check: bool = True) -> Container:
        """Seal a loading or full container with its seal number."""
        c = self.container(container_no)
        if not seal_no.strip():
            raise FloorError("seal_no is required", code=400)
        if check and c.status not in (ContainerStatus.LOADING, ContainerStatus.FULL):
            raise FloorError(
                f"container {c.container_no} is {c.status.value}: only a loading or full "
                "container can be sealed"
            )
        c.status = ContainerStatus.SEALED
        c.seal_no = seal_no.strip()
        self.changes.containers.add(c.container_no)
        self._release_stations(c.container_no)
        return c

    def _release_stations(self, container_no: str) -> None:
        # A sealed or cancelled container takes no more drums: stations at it point nowhere.
        for st in self.stations.values():
            if st.active_container == container_no:
                st.active_container = None
                self.changes.stations.add(st.name)

    def unseal(self, container_no: str, check: bool = True) -> Container:
        """Break a sealed container's seal before it ships: it can be loaded again."""
        c = self.container(container_no)
        if check and c.status is not ContainerStatus.SEALED:
            raise FloorError(
                f"container {c.container_no} is {c.status.value}: only a sealed container "
                "can be unsealed (hanya kontainer tersegel yang dapat dibuka segelnya)"
            )
        c.seal_no = None
        if len(c.drums) >= c.capacity_drums:
            c.status = ContainerStatus.FULL
        elif c.drums:
            c.status = ContainerStatus.LOADING
        else:
            c.status = ContainerStatus.OPEN
        self.changes.containers.add(c.container_no)
        return c

    def correct_seal(self, container_no: str, seal_no: str, check: bool = True) -> Container:
        """Correct a sealed container's seal number (mistyped at sealing)."""
        c = self.container(container_no)
        seal_no = seal_no.strip()
        if not seal_no:
            raise FloorError("seal_no is required", code=400)
        if check and c.status is not ContainerStatus.SEALED:
            raise FloorError(
                f"container {c.container_no} is {c.status.value}: only a sealed container's "
                "seal number can be corrected (hanya nomor segel kontainer tersegel yang "
                "dapat dikoreksi)"
            )
        if check and seal_no == c.seal_no:
            raise FloorError(
                f"container {c.container_no} already has seal {seal_no} "
                f"(kontainer sudah bersegel {seal_no})"
            )
        c.seal_no = seal_no
        self.changes.containers.add(c.container_no)
        return c

    def cancel(self, container_no: str, check: bool = True) -> Container:
        """Cancel a container opened by mistake: only while it holds no drums."""
        c = self.container(container_no)
        if check:
            if c.status not in LOADABLE:
                raise FloorError(
                    f"container {c.container_no} is {c.status.value}: only an open container "
                    "can be cancelled (hanya kontainer terbuka yang dapat dibatalkan)"
                )
            if c.drums:
                raise FloorError(
                    f"container {c.container_no} holds {len(c.drums)} drums: unload them first "
                    f"(kontainer berisi {len(c.drums)} drum: bongkar dulu)"
                )
        c.status = ContainerStatus.CANCELLED
        self.changes.containers.add(c.container_no)
        self._release_stations(c.container_no)
        return c

    def ship(self, container_no: str, check: bool = True) -> Container:
        """Mark a sealed container shipped."""
        c = self.container(container_no)
        if check and c.status is not ContainerStatus.SEALED:
            raise FloorError(
                f"container {c.container_no} is {c.status.value}: only a sealed container ships"
            )
        c.status = ContainerStatus.SHIPPED
        # Its drums leave memory (the store keeps them: shipped_drum points, looked up when
        # one is scanned again); the container stays, as a summary of counts and weights.
        for drum in c.drums:
            if self.drum_location.get(drum) == c.container_no:
                del self.drum_location[drum]
                self.drum_sku.pop(drum, None)
            self.shipped.add(drum)
        c.shipped_drums += len(c.drums)
        c.drums = {}
        c.recent_loads.clear()
        self.changes.containers.add(c.container_no)
        return c

    def set_shipment(
        self, container_no: str, shipment: ShipmentV1, check: bool = True
    ) -> Container:
        """Set the shipment record of a container's trip; frozen once it shipped."""
        c = self.container(container_no)
        if check and c.status is ContainerStatus.SHIPPED:
            raise FloorError(
                f"container {c.container_no} has shipped: its shipment record is frozen "
                f"(kontainer sudah dikirim: data pengapalannya tidak dapat diubah)"
            )
        c.shipment = shipment
        self.changes.containers.add(c.container_no)
        return c

    def shipped_before(self, drum: str) -> ShippedDrum | None:
        """Where and when a drum not in memory shipped, if it did (asks the store)."""
        shipped = self.shipped
        if self.shipped_lookup is None or not shipped.count or not shipped.may_contain(drum):
            return None
        return self.shipped_lookup(drum)

    def drum_key(self, label: str) -> str:
        """The identity key of a drum label (or of a key given as it is)."""
        if label in self.drum_location:
            return label
        try:
            return parse_drum_label(label, None, self.settings.drum_pattern).key
        except BarcodeError as exc:
            raise FloorError(str(exc), code=400) from exc

    def unload(self, container_no: str, drum: str, check: bool = True) -> tuple[str, str, float]:
        """Take a drum out of a container back into stock; (key, sku, weight kg)."""
        c = self.container(container_no)
        if check and c.status not in (
            ContainerStatus.OPEN,
            ContainerStatus.LOADING,
            ContainerStatus.FULL,
        ):
            raise FloorError(f"container {c.container_no} is {c.status.value}: no more unloading")
        key = self.drum_key(drum)
        if key not in c.drums:
            where = self.drum_location.get(key)
            raise FloorError(
                f"drum {key} is not in {c.container_no}"
                + (f" (it is in {where})" if where else ""),
                code=404 if where is None else 409,
            )
        weight = c.drums.pop(key)
        sku = self.drum_sku.get(key, "")
        c.sku_counts[sku] -= 1
        c.net_weight_kg -= weight
        if c.status is ContainerStatus.FULL and len(c.drums) < c.capacity_drums:
            c.status = ContainerStatus.LOADING
        self.drum_location[key] = WAREHOUSE
        self.stock[(sku, WAREHOUSE)] += 1
        self.changes.containers.add(c.container_no)
        self.changes.stock = True
        return key, sku, weight

    def _loadable(self, container_no: str) -> Container:
        c = self.containers.get(container_no)
        if c is None:
            raise FloorError(f"container {container_no} is not open", code=404)
        if c.status not in LOADABLE:
            raise FloorError(f"container {container_no} is {c.status.value}")
        return c

    # -- stocktakes ---------------------------------------------------------------------------
    def _open_stocktake(self, stocktake_id: str) -> Stocktake:
        count = self.stocktakes.get(stocktake_id)
        if count is None:
            raise FloorError(f"stocktake {stocktake_id} is not known (stok opname tidak ada)", 404)
        if count.status != "open":
            raise FloorError(
                f"stocktake {stocktake_id} is {count.status} (stok opname sudah {count.status})"
            )
        return count

    def _books_at(self, location: str) -> list[str]:
        return sorted(d for d, loc in self.drum_location.items() if loc == location)

    def open_stocktake(
        self, stocktake_id: str, location: str, by: str, at: datetime, check: bool = True
    ) -> Stocktake:
        """Open a count of a stock location (a warehouse location or a QC hold)."""
        if check:
            if location not in QC_HELD and (not LOCATION_RE.match(location) or location in GONE):
                raise FloorError(f"location {location!r} is not a stock location", code=400)
            if stocktake_id in self.stocktakes:
                raise FloorError(f"stocktake {stocktake_id} exists already")
            for other in self.stocktakes.values():
                if other.location == location and other.status == "open":
                    raise FloorError(
                        f"stocktake {other.id} of {location} is open: close it first "
                        f"(stok opname {other.id} masih terbuka)"
                    )
        count = Stocktake(
            id=stocktake_id,
            location=location,
            opened_by=by,
            opened_at=at,
            expected_at_open=len(self._books_at(location)),
        )
        self.stocktakes[stocktake_id] = count
        self.changes.stocktakes.add(stocktake_id)
        return count

    def close_stocktake(
        self,
        stocktake_id: str,
        at: datetime,
        check: bool = True,
        stored: dict[str, list[dict[str, str]]] | None = None,
    ) -> Stocktake:
        """Close a count: what was found against what the books have there now.

        ``stored``: the differences as the close found them (a rebuild takes them as
        stored rather than work them out again).
        """
        count = self._open_stocktake(stocktake_id) if check else self.stocktakes[stocktake_id]
        here = count.location
        if stored is not None:
            for name in ("unexpected", "missing", "wrong_place"):
                getattr(count, name).update(
                    {r["drum"]: [r["sku"], r["book_location"]] for r in stored.get(name, [])}
                )
        for drum in count.found if stored is None else ():
            sku = count.found_sku.get(drum, "")
            now_at = self.drum_location.get(drum)
            if now_at == here:
                continue
            if now_at is None or now_at in GONE:
                count.unexpected[drum] = [sku, now_at or ""]
            else:
                count.wrong_place[drum] = [sku, now_at]
        for drum in self._books_at(here) if stored is None else ():
            if drum not in count.found:
                count.missing[drum] = [self.drum_sku.get(drum, ""), here]
        count.status = "closed"
        count.closed_at = at
        self.changes.stocktakes.add(stocktake_id)
        # Its counting stations go back to loading: their scans would count for nothing.
        for st in self.stations.values():
            if st.stocktake == stocktake_id:
                st.mode, st.stocktake = "loading", None
                self.changes.stations.add(st.name)
        return count

    def stocktake_adjustments(
        self, stocktake_id: str, drums: list[str] | None
    ) -> list[tuple[str, str, str]]:
        """The books' changes approving a closed count makes: (drum, sku, to location).

        ``drums``: only these (None: every difference). A drum found in a container is not
        adjusted here: unload it (a correction of that container).
        """
        count = self.stocktakes.get(stocktake_id)
        if count is None:
            raise FloorError(f"stocktake {stocktake_id} is not known (stok opname tidak ada)", 404)
        if count.status != "closed":
            raise FloorError(
                f"stocktake {stocktake_id} is {count.status}: only a closed count is approved "
                "(hanya stok opname yang sudah ditutup yang disetujui)"
            )
        wanted = set(drums) if drums is not None else None
        known = set(count.unexpected) | set(count.missing) | set(count.wrong_place)
        if wanted is not None and (extra := sorted(wanted - known)):
            raise FloorError(
                f"not differences of stocktake {stocktake_id}: {', '.join(extra[:5])}", code=400
            )
        out: list[tuple[str, str, str]] = []
        for drum in sorted(known):
            if wanted is not None and drum not in wanted:
                continue
            if drum in count.missing:
                out.append((drum, count.missing[drum][0], WRITTEN_OFF))
            elif self.drum_location.get(drum) not in self.containers:
                sku = (count.unexpected.get(drum) or count.wrong_place[drum])[0]
                out.append((drum, sku, count.location))
        return out

    def approve_stocktake(
        self, stocktake_id: str, adjustments: list[tuple[str, str, str]]
    ) -> Stocktake:
        """Apply a closed count's approved adjustments to the books; the count is approved."""
        count = self.stocktakes[stocktake_id]
        for drum, sku, to in adjustments:
            self.adjust(drum, sku, to)
        count.adjusted = sorted(d for d, _sku, _to in adjustments)
        count.status = "approved"
        self.changes.stocktakes.add(stocktake_id)
        return count

    def adjust(self, drum: str, sku: str, to: str) -> None:
        """Put a drum where a count found it (or off the books), known to the books or not."""
        if drum not in self.drum_sku and sku:
            self.drum_sku[drum] = sku
        self.relocate(drum, to)

    # -- stock corrections -------------------------------------------------------------------
    def in_storage(self, location: str | None) -> bool:
        """Whether a drum at ``location`` is counted as stock (a warehouse location or QC)."""
        return location is not None and location not in GONE and location not in self.containers

    def _stocked_drum(self, drum: str) -> tuple[str, str, str]:
        """(key, sku, location) of a drum in stock; refused when it is not."""
        key = self.drum_key(drum)
        location = self.drum_location.get(key)
        if location is None:
            raise FloorError(
                f"drum {key} is not known: never received (drum tidak dikenal: belum pernah "
                "diterima)",
                code=404,
            )
        if location in self.containers:
            raise FloorError(
                f"drum {key} is in container {location}: unload it first "
                f"(drum ada di kontainer {location}: bongkar dulu)"
            )
        if location in GONE:
            raise FloorError(f"drum {key} is already {location} (drum sudah {location})")
        return key, self.drum_sku.get(key, ""), location

    def relocate(self, key: str, to: str) -> tuple[str, str | None]:
        """Move a known drum to ``to`` (a location or GONE); (sku, where it was)."""
        sku = self.drum_sku.get(key, "")
        was = self.drum_location.get(key)
        if self.in_storage(was):
            self.stock[(sku, str(was))] -= 1
        self.drum_location[key] = to
        if to not in GONE:
            self.stock[(sku, to)] += 1
        self.changes.stock = True
        return sku, was

    def write_off(self, drum: str, reason: str) -> tuple[str, str, str]:
        """Write a drum in stock off (damaged, lost, sample); (key, sku, where it was)."""
        if reason not in WRITE_OFF_REASONS:
            raise FloorError(
                f"reason {reason!r}: use one of {', '.join(WRITE_OFF_REASONS)} "
                f"(alasan: salah satu dari {', '.join(WRITE_OFF_REASONS)})",
                code=400,
            )
        key, sku, location = self._stocked_drum(drum)
        self.relocate(key, WRITTEN_OFF)
        return key, sku, location

    def move(self, drum: str, to: str) -> tuple[str, str, str]:
        """Move a drum between warehouse locations; (key, sku, where it was)."""
        to = to.strip()
        if not LOCATION_RE.match(to) or to in GONE or to in QC_HELD:
            raise FloorError(
                f"location {to!r}: a warehouse location is lower-case letters, digits, "
                "'-', '.' or '_'; QC holds change by QC disposal (lokasi gudang: huruf "
                "kecil, angka, '-', '.' atau '_'; drum QC lewat disposisi QC)",
                code=400,
            )
        key, sku, location = self._stocked_drum(drum)
        if location in QC_HELD:
            raise FloorError(
                f"drum {key} is held by QC ({location}): dispose of it by QC "
                f"(drum ditahan QC ({location}): lewat disposisi QC)"
            )
        if location == to:
            raise FloorError(f"drum {key} is already in {to} (drum sudah di {to})")
        self.relocate(key, to)
        return key, sku, location

    def qc_dispose(self, drum: str, action: str) -> tuple[str, str, str, str]:
        """Pass a reworked drum, or return or scrap a QC-held one; (key, sku, from, to)."""
        rule = QC_ACTIONS.get(action)
        if rule is None:
            raise FloorError(
                f"action {action!r}: use one of {', '.join(QC_ACTIONS)} "
                f"(tindakan: salah satu dari {', '.join(QC_ACTIONS)})",
                code=400,
            )
        allowed, to = rule
        key, sku, location = self._stocked_drum(drum)
        if location not in allowed:
            raise FloorError(
                f"drum {key} is in {location}: {action} is for drums in "
                + " or ".join(sorted(allowed))
                + f" ({action} hanya untuk drum di "
                + " atau ".join(sorted(allowed))
                + ")"
            )
        self.relocate(key, to)
        return key, sku, location, to

    # -- scans -----------------------------------------------------------------------------
    def _sku_of(self, drum_sku: str | None, gtin: str | None) -> str | None:
        if drum_sku is not None:
            return drum_sku
        if gtin is not None:
            return self._sku_by_gtin.get(gtin)
        return None

    def decide(self, scan: ScanV1) -> ScanOutcome:
        """What this scan means now; changes nothing."""
        st = self.stations.get(scan.station)
        mode = st.mode if st else "loading"
        if scan.kind is ScanKind.CONTAINER:
            try:
                number = ContainerNo.parse(scan.barcode).value
                self._loadable(number)
            except (BarcodeError, FloorError) as exc:
                return ScanOutcome(ScanResult.REJECTED, reason=str(exc))
            return ScanOutcome(ScanResult.CONTAINER_SET, container_no=number)
        if scan.kind is ScanKind.SUPPLIER:
            return ScanOutcome(ScanResult.SUPPLIER_SET, supplier=scan.barcode.strip())
        try:
            label = parse_drum_label(scan.barcode, scan.symbology, self.settings.drum_pattern)
        except BarcodeError as exc:
            return ScanOutcome(
                ScanResult.REJECTED, reason=f"unknown barcode: {exc}", unknown_label=True
            )
        sku = self._sku_of(label.sku, label.gtin)
        if sku is None or sku not in self.settings.skus:
            return ScanOutcome(
                ScanResult.REJECTED,
                reason=f"unknown SKU for {label.key}",
                drum=label.key,
                unknown_label=True,
            )
        weight = scan.weight_kg
        spec = self.settings.skus[sku]
        if spec.retired and label.key not in self.drum_location:
            # Drums already counted stay loadable; a new one of a retired SKU is refused.
            return ScanOutcome(
                ScanResult.REJECTED, reason=f"SKU {sku} is retired", drum=label.key, sku=sku
            )
        out_of_range = weight is not None and not (spec.min_kg <= weight <= spec.max_kg)

        def outcome(
            result: ScanResult,
            reason: str = "",
            container_no: str | None = None,
            from_stock: bool = True,
            supplier: str | None = None,
            qc: str | None = None,
            location: str | None = None,
            unknown_label: bool = False,
        ) -> ScanOutcome:
            # This drum's outcome, built directly (dataclasses.replace() of a base outcome
            # cost ~4 µs a scan).
            return ScanOutcome(
                result,
                reason=reason,
                drum=label.key,
                sku=sku,
                container_no=container_no,
                weight_kg=weight,
                out_of_range=out_of_range,
                from_stock=from_stock,
                supplier=supplier,
                qc=qc,
                location=location,
                unknown_label=unknown_label,
            )

        location = self.drum_location.get(label.key)
        if mode == "counting":
            count = self.stocktakes.get(st.stocktake or "") if st else None
            if count is None or count.status != "open":
                return outcome(ScanResult.REJECTED, reason="no open stocktake at this station")
            if label.key in count.found:
                return outcome(ScanResult.DUPLICATE, reason=f"already counted in {count.id}")
            return replace(
                outcome(ScanResult.COUNTED, location=count.location),
                from_location=location or "",
                stocktake=count.id,
            )
        gone = self.shipped_before(label.key) if location is None else None
        if gone is not None:
            day = gone.shipped_at.date().isoformat()
            where = f"already shipped in {gone.container_no} on {day}"
            if mode == "receiving":
                return outcome(ScanResult.DUPLICATE, reason=where)
            return outcome(
                ScanResult.WRONG_CONTAINER,
                reason=f"drum {where}",
                container_no=st.active_container if st else None,
            )
        if mode == "receiving":
            goes_to = QC_LOCATIONS.get(scan.qc, WAREHOUSE) if scan.qc else WAREHOUSE
            received = outcome(
                ScanResult.RECEIVED,
                container_no=None,
                supplier=st.supplier if st else None,
                qc=scan.qc.value if scan.qc else None,
                location=goes_to,
            )
            if location in QC_HELD and scan.qc is not None and goes_to != location:
                return replace(received, from_location=location)  # inspected again
            if location in GONE:
                return replace(received, from_location=location)  # found, or taken back
            if location is not None:
                return outcome(ScanResult.DUPLICATE, reason=f"already received ({location})")
            return received
        # loading station
        if st is None or st.active_container is None:
            return outcome(
                ScanResult.REJECTED, reason="no active container: scan the container label"
            )
        target = st.active_container
        container = self.containers.get(target)
        if container is None or container.status not in LOADABLE:
            state = container.status.value if container else "not open"
            return outcome(
                ScanResult.REJECTED,
                reason=f"container {target} is {state}",
                container_no=target,
            )
        if location == target:
            return outcome(ScanResult.DUPLICATE, reason=f"already in {target}", container_no=target)
        if location in QC_HELD:
            return outcome(
                ScanResult.REJECTED,
                reason=f"drum is held by QC ({location}): not for loading",
                container_no=target,
            )
        if location in GONE:
            return outcome(
                ScanResult.REJECTED,
                reason=f"drum is {location}: receive it again before loading",
                container_no=target,
            )
        if location is not None and location in self.containers:
            return outcome(
                ScanResult.WRONG_CONTAINER,
                reason=f"drum is in {location}, station loads {target}",
                container_no=target,
            )
        if location is None and self.settings.unknown_drum == "reject":
            return outcome(
                ScanResult.REJECTED,
                reason="unknown drum: never received",
                container_no=target,
                unknown_label=True,
            )
        return outcome(ScanResult.LOADED, container_no=target, from_stock=location is not None)

    def apply(
        self, station: str, at: datetime, outcome: ScanOutcome, scan: ScanV1 | None = None
    ) -> None:
        """Change the state by an outcome (live, or replayed from InfluxDB).

        ``scan``: the scan itself when live, for the station's last-scan display.
        """
        st = self.station(station)
        if scan is not None:
            self.note_last_scan(station, at, outcome, scan.barcode, scan.weight_kg)
        st.scans += 1
        # The latest scan time, not the last applied: redeliveries come out of order.
        st.last_scan_at = at if st.last_scan_at is None else max(st.last_scan_at, at)
        self.changes.stations.add(station)
        r = outcome.result
        if r is ScanResult.CONTAINER_SET:
            st.active_container = outcome.container_no
        elif r is ScanResult.SUPPLIER_SET:
            st.supplier = outcome.supplier
        elif r is ScanResult.COUNTED and outcome.drum and outcome.stocktake:
            count = self.stocktakes.get(outcome.stocktake)
            if count is not None and count.status == "open":
                count.found[outcome.drum] = outcome.from_location or ""
                count.found_sku[outcome.drum] = outcome.sku or ""
                self.changes.stocktakes.add(count.id)
        elif r is ScanResult.RECEIVED and outcome.drum and outcome.sku:
            goes_to = outcome.location or WAREHOUSE
            left = outcome.from_location
            if left and self.drum_location.get(outcome.drum) == left and self.in_storage(left):
                self.stock[(outcome.sku, left)] -= 1
            self.drum_location[outcome.drum] = goes_to
            self.drum_sku[outcome.drum] = outcome.sku
            self.stock[(outcome.sku, goes_to)] += 1
            self.changes.stock = True
        elif r is ScanResult.LOADED and outcome.drum and outcome.sku and outcome.container_no:
            c = self.containers.get(outcome.container_no)
            if c is None:  # a replay whose open event is older than the retention
                c = self.open_container(outcome.container_no)
            was = self.drum_location.get(outcome.drum)
            if outcome.from_stock and self.in_storage(was) and was not in QC_HELD:
                # from whichever warehouse location it was moved to
                self.stock[(outcome.sku, str(was))] -= 1
                self.changes.stock = True
            self.drum_location[outcome.drum] = c.container_no
            self.drum_sku[outcome.drum] = outcome.sku
            c.drums[outcome.drum] = outcome.weight_kg or 0.0
            c.sku_counts[outcome.sku] += 1
            c.net_weight_kg += outcome.weight_kg or 0.0
            c.last_scan_at = at if c.last_scan_at is None else max(c.last_scan_at, at)
            c.note_load(at, c.last_scan_at, self.settings.rate_window_s)
            if c.status is ContainerStatus.OPEN:
                c.status = ContainerStatus.LOADING
            if len(c.drums) >= c.capacity_drums:
                c.status = ContainerStatus.FULL
            self.changes.containers.add(c.container_no)

    def note_last_scan(
        self,
        station: str,
        at: datetime,
        outcome: ScanOutcome,
        label: str,
        weight_kg: float | None,
    ) -> None:
        """Remember a scan as the station's newest, unless a newer one is known.

        ``weight_kg``: the scan's weight (stored with every scan, refused ones too).
        """
        st = self.station(station)
        if st.last_scan is not None and at < st.last_scan.at:
            return
        st.last_scan = LastScanV1(
            at=at,
            label=label,
            result=outcome.result,
            reason=outcome.reason,
            weight_kg=weight_kg,
            out_of_range=outcome.out_of_range,
            container_no=outcome.container_no,
        )
        self.changes.stations.add(station)

    def mark_all_changed(self) -> None:
        """Have every container, station and the stock published again."""
        self.changes.containers.update(self.containers)
        self.changes.stations.update(self.stations)
        self.changes.stock = True
        self.changes.catalogue = True
        self.changes.phone_tokens = True
        self.changes.alert_routing = True
        self.changes.stocktakes.update(self.stocktakes)

    # -- views -----------------------------------------------------------------------------
    def stock_view(self, now: datetime | None = None) -> StockV1:
        """Stock by SKU and location."""
        items = [
            {"sku": sku, "location": loc, "drums": n}
            for (sku, loc), n in sorted(self.stock.items())
            if n
        ]
        return StockV1(updated_at=now or datetime.now(UTC), items=items)
