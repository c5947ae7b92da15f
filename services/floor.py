"""The floor's live state and what each scan means (PRODUCT.md, "What a scan means").

Pure code: no I/O. ``decide_*`` looks at the state and returns an outcome; ``apply``
changes the state by an outcome. Live scans go decide -> apply; a rebuild from InfluxDB
applies the outcomes recorded there, so a restart agrees with the run before it.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum

from gudang.barcodes import BarcodeError, ContainerNo, parse_drum_label
from gudang.settings import FloorSettings
from gudang.wire import (
    ContainerStateV1,
    ContainerStatus,
    ScanKind,
    ScanV1,
    StationViewV1,
    StockV1,
)

WAREHOUSE = "warehouse"  # the stock location of drums not in a container


class Result(StrEnum):
    """What became of a scan; stored with every scan."""

    LOADED = "loaded"  # stock -1, container +1
    RECEIVED = "received"  # stock +1 (receiving station)
    DUPLICATE = "duplicate"  # already in this container: no change
    WRONG_CONTAINER = "wrong_container"  # in another container: no change
    REJECTED = "rejected"  # refused, reason says why
    CONTAINER_SET = "container_set"  # a container label set the station's container
    SUPPLIER_SET = "supplier_set"


COUNTING = frozenset({Result.LOADED, Result.RECEIVED})


@dataclass(frozen=True, slots=True)
class ScanOutcome:
    """The decision on one scan, as stored in InfluxDB."""

    result: Result
    reason: str = ""
    drum: str | None = None  # the drum's identity key
    sku: str | None = None
    container_no: str | None = None
    weight_kg: float | None = None
    out_of_range: bool = False
    from_stock: bool = True  # LOADED: taken from stock (False: unknown drum received and loaded)


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

    def view(self, now: datetime) -> ContainerStateV1:
        """The retained state payload."""
        n = len(self.drums)
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
            drums_by_sku=dict(self.sku_counts),
        )


@dataclass(slots=True)
class Station:
    """A packing station as the services see it."""

    name: str
    mode: str = "loading"
    active_container: str | None = None
    online: bool = False
    last_scan_at: datetime | None = None
    scans: int = 0

    def view(self) -> StationViewV1:
        """The retained state payload."""
        return StationViewV1(
            station=self.name,
            mode=self.mode,
            active_container=self.active_container,
            online=self.online,
            last_scan_at=self.last_scan_at,
            scans=self.scans,
        )


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

    def clear(self) -> None:
        """Forget everything published."""
        self.containers.clear()
        self.stations.clear()
        self.stock = False


class Floor:
    """Stock, containers and stations of one site."""

    def __init__(self, settings: FloorSettings) -> None:
        self.settings = settings
        self._drum_re = re.compile(settings.drum_pattern)
        self._sku_by_gtin = {s.gtin: k for k, s in settings.skus.items() if s.gtin}
        self.containers: dict[str, Container] = {}
        self.stations: dict[str, Station] = {}
        self.drum_location: dict[str, str] = {}  # drum key -> WAREHOUSE or container number
        self.drum_sku: dict[str, str] = {}
        self.stock: Counter[tuple[str, str]] = Counter()  # (sku, location) -> drums
        self.changes = Changes()

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

    def set_active_container(self, station: str, container_no: str | None) -> None:
        """Point a station at a container (or at none)."""
        if container_no is not None:
            self._loadable(container_no)
        st = self.station(station)
        st.active_container = container_no
        self.changes.stations.add(station)

    # -- containers ------------------------------------------------------------------------
    def open_container(
        self,
        container_no: str,
        container_type: str = "40HC",
        capacity_drums: int | None = None,
        max_payload_kg: float | None = None,
        at: datetime | None = None,
    ) -> Container:
        """Open a container for loading."""
        number = ContainerNo.parse(container_no).value
        if number in self.containers:
            existing = self.containers[number]
            if existing.status is not ContainerStatus.SHIPPED:
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

    def _loadable(self, container_no: str) -> Container:
        c = self.containers.get(container_no)
        if c is None:
            raise FloorError(f"container {container_no} is not open", code=404)
        if c.status not in (ContainerStatus.OPEN, ContainerStatus.LOADING):
            raise FloorError(f"container {container_no} is {c.status.value}")
        return c

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
                return ScanOutcome(Result.REJECTED, reason=str(exc))
            return ScanOutcome(Result.CONTAINER_SET, container_no=number)
        if scan.kind is ScanKind.SUPPLIER:
            return ScanOutcome(Result.SUPPLIER_SET)
        try:
            label = parse_drum_label(scan.barcode, scan.symbology, self.settings.drum_pattern)
        except BarcodeError as exc:
            return ScanOutcome(Result.REJECTED, reason=f"unknown barcode: {exc}")
        sku = self._sku_of(label.sku, label.gtin)
        if sku is None or sku not in self.settings.skus:
            return ScanOutcome(
                Result.REJECTED, reason=f"unknown SKU for {label.key}", drum=label.key
            )
        weight = scan.weight_kg
        spec = self.settings.skus[sku]
        out_of_range = weight is not None and not (spec.min_kg <= weight <= spec.max_kg)
        base = ScanOutcome(
            Result.REJECTED, drum=label.key, sku=sku, weight_kg=weight, out_of_range=out_of_range
        )
        location = self.drum_location.get(label.key)
        if mode == "receiving":
            if location is not None:
                return replace(
                    base, result=Result.DUPLICATE, reason=f"already received ({location})"
                )
            return replace(base, result=Result.RECEIVED, container_no=None)
        # loading station
        if st is None or st.active_container is None:
            return replace(
                base, result=Result.REJECTED, reason="no active container: scan the container label"
            )
        target = st.active_container
        container = self.containers.get(target)
        if container is None or container.status not in (
            ContainerStatus.OPEN,
            ContainerStatus.LOADING,
        ):
            state = container.status.value if container else "not open"
            return replace(
                base,
                result=Result.REJECTED,
                reason=f"container {target} is {state}",
                container_no=target,
            )
        if location == target:
            return replace(
                base, result=Result.DUPLICATE, reason=f"already in {target}", container_no=target
            )
        if location is not None and location != WAREHOUSE:
            return replace(
                base,
                result=Result.WRONG_CONTAINER,
                reason=f"drum is in {location}, station loads {target}",
                container_no=target,
            )
        if location is None and self.settings.unknown_drum == "reject":
            return replace(
                base, result=Result.REJECTED, reason="drum was never received", container_no=target
            )
        return replace(
            base, result=Result.LOADED, container_no=target, from_stock=location is not None
        )

    def apply(self, station: str, at: datetime, outcome: ScanOutcome) -> None:
        """Change the state by an outcome (live, or replayed from InfluxDB)."""
        st = self.station(station)
        st.scans += 1
        st.last_scan_at = at
        self.changes.stations.add(station)
        r = outcome.result
        if r is Result.CONTAINER_SET:
            st.active_container = outcome.container_no
        elif r is Result.RECEIVED and outcome.drum and outcome.sku:
            self.drum_location[outcome.drum] = WAREHOUSE
            self.drum_sku[outcome.drum] = outcome.sku
            self.stock[(outcome.sku, WAREHOUSE)] += 1
            self.changes.stock = True
        elif r is Result.LOADED and outcome.drum and outcome.sku and outcome.container_no:
            c = self.containers.get(outcome.container_no)
            if c is None:  # a replay whose open event is older than the retention
                c = self.open_container(outcome.container_no)
            if outcome.from_stock and self.drum_location.get(outcome.drum) == WAREHOUSE:
                self.stock[(outcome.sku, WAREHOUSE)] -= 1
                self.changes.stock = True
            self.drum_location[outcome.drum] = c.container_no
            self.drum_sku[outcome.drum] = outcome.sku
            c.drums[outcome.drum] = outcome.weight_kg or 0.0
            c.sku_counts[outcome.sku] += 1
            c.net_weight_kg += outcome.weight_kg or 0.0
            c.last_scan_at = at
            if c.status is ContainerStatus.OPEN:
                c.status = ContainerStatus.LOADING
            if len(c.drums) >= c.capacity_drums:
                c.status = ContainerStatus.FULL
            self.changes.containers.add(c.container_no)

    # -- views -----------------------------------------------------------------------------
    def stock_view(self, now: datetime | None = None) -> StockV1:
        """Stock by SKU and location."""
        items = [
            {"sku": sku, "location": loc, "drums": n}
            for (sku, loc), n in sorted(self.stock.items())
            if n
        ]
        return StockV1(updated_at=now or datetime.now(UTC), items=items)
