"""Stock by SKU and location."""

from __future__ import annotations

from collections import Counter
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from api.auth import Worker
from api.deps import LiveDep, SettingsDep
from api.live import LiveState
from api.schemas import AUTH_ERRORS, INVALID, StockItem, StockOut, StockTotal
from gudang.settings import Settings
from gudang.wire import ContainerStatus

router = APIRouter(prefix="/stock", tags=["stock"], responses=AUTH_ERRORS)

JSON = "application/json"
WAREHOUSE = "warehouse"  # the services' location of drums not in a container
QC_HOLDS = frozenset({"qc-reject", "qc-rework"})  # received, held by QC: not for loading
# Shipped containers have left: their drums are no longer stock anywhere.
LocationKind = Literal["warehouse", "qc_hold", "container"]
IN_HOUSE = frozenset(
    s for s in ContainerStatus if s not in (ContainerStatus.SHIPPED, ContainerStatus.CANCELLED)
)


@router.get("", response_model=StockOut, responses=INVALID)
async def get_stock(
    who: Worker,
    live: LiveDep,
    settings: SettingsDep,
    sku: Annotated[str | None, Query(max_length=64, description="only this SKU")] = None,
    location: Annotated[
        str | None,
        Query(max_length=64, description="'warehouse', 'qc-reject', 'qc-rework' or a container"),
    ] = None,
) -> Response:
    """Drums by SKU and location: the warehouse, and every container not shipped yet."""
    if sku is not None or location is not None:
        return Response(stock_body(live, settings, sku, location), media_type=JSON)
    # Rendered once per change of the stock or of a container (LiveState.body).
    return Response(live.body("stock", lambda: stock_body(live, settings)), media_type=JSON)


def stock_body(
    live: LiveState, settings: Settings, sku: str | None = None, location: str | None = None
) -> bytes:
    """The stock's JSON as GET /stock sends it."""
    return StockOut.__pydantic_serializer__.to_json(build_stock(live, settings, sku, location))


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
