"""Stock by SKU and location."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from api.auth import Worker
from api.deps import LiveDep, SettingsDep
from api.schemas import AUTH_ERRORS, INVALID, StockOut
from api.views import stock_body

router = APIRouter(prefix="/stock", tags=["stock"], responses=AUTH_ERRORS)

JSON = "application/json"


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
