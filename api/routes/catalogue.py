"""The SKU catalogue: read by everyone, changed live by the admin (no restart)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from api.auth import Admin, Worker
from api.deps import CommandsDep, SettingsDep
from api.schemas import AUTH_ERRORS, COMMAND_ERRORS, CatalogueSkuOut
from gudang.settings import SkuSettings
from gudang.wire import Command

router = APIRouter(prefix="/catalogue", tags=["catalogue"], responses=AUTH_ERRORS)

SkuPath = Annotated[
    str, Path(pattern=r"^[A-Z0-9][A-Z0-9._-]{0,31}$", description="the SKU key, e.g. JMB-L")
]


@router.get("", response_model=list[CatalogueSkuOut])
async def list_skus(who: Worker, settings: SettingsDep) -> list[CatalogueSkuOut]:
    """Every SKU in force, retired ones too: the configured catalogue with the admin's changes."""
    return [
        CatalogueSkuOut(sku=k, **s.model_dump()) for k, s in sorted(settings.floor.skus.items())
    ]


@router.put("/{sku}", response_model=CatalogueSkuOut, responses=COMMAND_ERRORS)
async def set_sku(
    who: Admin, sku: SkuPath, body: SkuSettings, commands: CommandsDep
) -> CatalogueSkuOut:
    """Add a SKU, or replace its definition whole; the next scan uses it, no restart."""
    args = {"sku": sku, "spec": body.model_dump(mode="json")}
    result = await commands.send(Command.CATALOGUE_SET_SKU, args, who)
    return CatalogueSkuOut.model_validate(result)


@router.post("/{sku}/retire", response_model=CatalogueSkuOut, responses=COMMAND_ERRORS)
async def retire_sku(who: Admin, sku: SkuPath, commands: CommandsDep) -> CatalogueSkuOut:
    """Retire a SKU: drums already counted stay; a new drum of it is refused at scanning."""
    result = await commands.send(Command.CATALOGUE_RETIRE_SKU, {"sku": sku}, who)
    return CatalogueSkuOut.model_validate(result)
