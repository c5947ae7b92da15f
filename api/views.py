"""Response bodies built from the live state: shared by the REST routes and the stream.

Routes stay routes: what more than one of them renders (a container, the stock, a
station, an alert) is built here, once, from the wire structs the live state holds.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Literal

import msgspec
from fastapi import HTTPException, status
from pydantic import BaseModel

from api.auth import Principal
from api.deps import Commands
from api.live import LiveState
from api.schemas import (
    AlertOut,
    ContainerOut,
    SkuOut,
    StationOut,
    StockItem,
    StockOut,
    StockTotal,
)
from gudang.settings import Settings
from gudang.wire import (
    AlertV1,
    Command,
    ContainerStateV1,
    ContainerStatus,
    StationStatusV1,
    StationViewV1,
    StocktakeV1,
    WeightReadingV1,
)

WAREHOUSE = "warehouse"  # the services' location of drums not in a container
QC_HOLDS = frozenset({"qc-reject", "qc-rework"})  # received, held by QC: not for loading
LocationKind = Literal["warehouse", "qc_hold", "container"]
# Shipped containers have left: their drums are no longer stock anywhere.
IN_HOUSE = frozenset(
    s for s in ContainerStatus if s not in (ContainerStatus.SHIPPED, ContainerStatus.CANCELLED)
)


def to_json(model: BaseModel) -> bytes:
    """A response model's JSON, as FastAPI would send it."""
    return model.__pydantic_serializer__.to_json(model)


def container_body(c: ContainerStateV1) -> bytes:
    """A container's JSON as GET /containers/{no} sends it."""
    return to_json(ContainerOut.from_wire(c))


def station_body(view: StationViewV1, status: StationStatusV1 | None) -> bytes:
    """A station's JSON as GET /stations sends each."""
    return to_json(StationOut.build(view, status))


def alert_body(a: AlertV1) -> bytes:
    """An alert's JSON as GET /alerts sends each."""
    return to_json(AlertOut.from_wire(a))


def list_kinds_body(live: LiveState) -> bytes:
    """The kinds the dashboard's alert list shows, as the stream's ``alert_list_kinds``."""
    return msgspec.json.encode({"alert_list_kinds": live.settings.alerts.dashboard_kinds})


def site_skus(settings: Settings) -> list[SkuOut]:
    """The catalogue as every worker sees it (GET /site's ``skus``): no prices or papers' data."""
    return [
        SkuOut(
            sku=k,
            name=s.name,
            size=s.size,
            min_kg=s.min_kg,
            max_kg=s.max_kg,
            hs_code=s.hs_code,
        )
        for k, s in sorted(settings.floor.skus.items())
    ]


def skus_body(live: LiveState) -> bytes:
    """The catalogue in force as the stream's ``skus`` event: ``{"skus": [Sku...]}``."""
    skus = [s.model_dump(mode="json") for s in site_skus(live.settings)]
    return msgspec.json.encode({"skus": skus})


def stocktake_body(count: StocktakeV1) -> bytes:
    """A stocktake's change as the stream's ``stocktake`` event: what a page needs to know
    it should ask again; not its differences (a closed count of a whole warehouse may list
    thousands, and the stream is every worker's and every phone's)."""
    return msgspec.json.encode({"id": count.id, "status": count.status, "found": count.found})


def weight_view(w: WeightReadingV1) -> dict[str, Any]:
    """A scale's live reading as the stream sends it."""
    return {
        "station": w.station,
        "ts": w.ts.isoformat(),
        "weight_kg": w.weight_kg,
        "stable": w.stable,
        "status": w.status.value,
    }


def stock_body(
    live: LiveState, settings: Settings, sku: str | None = None, location: str | None = None
) -> bytes:
    """The stock's JSON as GET /stock sends it."""
    return to_json(build_stock(live, settings, sku, location))


def build_stock(
    live: LiveState, settings: Settings, sku: str | None = None, location: str | None = None
) -> StockOut:
    """Stock from the services' warehouse stock and the live containers."""
    catalogue = settings.floor.skus
    counts: Counter[tuple[str, str]] = Counter()
    kinds: dict[str, LocationKind] = {}
    for item in live.stock.items:
        # The services' stock: the warehouse, and QC holds of drums received but not passed.
        loc = str(item.get("location", WAREHOUSE))
        counts[(str(item.get("sku", "")), loc)] += int(item.get("drums", 0))
        # Any other location is a warehouse location drums were moved to (rak-a1 ...).
        kinds[loc] = "qc_hold" if loc in QC_HOLDS else "warehouse"
    for c in live.containers.values():
        if c.status in IN_HOUSE:
            kinds[c.container_no] = "container"
            for s, n in c.drums_by_sku.items():
                counts[(s, c.container_no)] += n
    items = [
        StockItem(
            sku=s,
            description=catalogue[s].name if s in catalogue else s,
            location=loc,
            location_kind=kinds[loc],
            drums=n,
        )
        for (s, loc), n in sorted(counts.items())
        if n and (sku is None or s == sku) and (location is None or loc == location)
    ]
    totals: dict[str, StockTotal] = {}
    for it in items:
        t = totals.setdefault(
            it.sku,
            StockTotal(
                sku=it.sku,
                description=it.description,
                drums=0,
                in_warehouse=0,
                held_qc=0,
                in_containers=0,
            ),
        )
        t.drums += it.drums
        if it.location_kind == "warehouse":
            t.in_warehouse += it.drums
        elif it.location_kind == "qc_hold":
            t.held_qc += it.drums
        else:
            t.in_containers += it.drums
    return StockOut(updated_at=live.stock.updated_at, items=items, totals=list(totals.values()))


def known_container(live: LiveState, number: str) -> ContainerStateV1:
    """The live container `number`, else 404."""
    c = live.containers.get(number)
    if c is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"container {number} is not known")
    return c


async def container_command(
    commands: Commands, command: Command, args: dict[str, Any], who: Principal
) -> ContainerOut:
    """Send a command about the container ``args["container_no"]``; the container after it:
    the services' new state, else the live copy."""
    result = await commands.send(command, args, who)
    try:
        return ContainerOut.from_wire(msgspec.convert(result, ContainerStateV1))
    except msgspec.ValidationError:
        return ContainerOut.from_wire(known_container(commands.live, args["container_no"]))
