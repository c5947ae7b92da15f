"""Stocktakes: a supervisor opens a count of a location, counting stations scan it, the
close shows the differences, the supervisor approves the adjustments (all or some)."""

from __future__ import annotations

from typing import Annotated

import msgspec
from fastapi import APIRouter, HTTPException, Path, status

from api.auth import Supervisor, Worker
from api.deps import CommandsDep, LiveDep
from api.schemas import (
    AUTH_ERRORS,
    COMMAND_ERRORS,
    NOT_FOUND,
    StocktakeApprove,
    StocktakeOpen,
    StocktakeOut,
)
from gudang.wire import Command, StocktakeV1

router = APIRouter(prefix="/stocktakes", tags=["stocktakes"], responses=AUTH_ERRORS)
CountId = Annotated[str, Path(pattern=r"^[A-Za-z0-9._-]{1,64}$")]


def _out(count: StocktakeV1) -> StocktakeOut:
    return StocktakeOut.model_validate(msgspec.to_builtins(count))


def _answer(result: dict[str, object]) -> StocktakeOut:
    return _out(msgspec.convert(result, StocktakeV1))


@router.get("", response_model=list[StocktakeOut])
async def list_stocktakes(who: Worker, live: LiveDep) -> list[StocktakeOut]:
    """Every stocktake, open ones first, then the newest."""
    counts = sorted(
        live.stocktakes.values(),
        key=lambda c: (c.status != "open", -(c.opened_at.timestamp() if c.opened_at else 0)),
    )
    return [_out(c) for c in counts]


@router.get("/{stocktake_id}", response_model=StocktakeOut, responses=NOT_FOUND)
async def get_stocktake(who: Worker, stocktake_id: CountId, live: LiveDep) -> StocktakeOut:
    """One stocktake with its differences once closed."""
    count = live.stocktakes.get(stocktake_id)
    if count is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"stocktake {stocktake_id} is not known")
    return _out(count)


@router.post(
    "", response_model=StocktakeOut, status_code=status.HTTP_201_CREATED, responses=COMMAND_ERRORS
)
async def open_stocktake(
    who: Supervisor, body: StocktakeOpen, commands: CommandsDep
) -> StocktakeOut:
    """Open a count of a location; set stations to counting mode with its id to scan it."""
    result = await commands.send(Command.STOCKTAKE_OPEN, {"location": body.location}, who)
    return _answer(result)


@router.post("/{stocktake_id}/close", response_model=StocktakeOut, responses=COMMAND_ERRORS)
async def close_stocktake(
    who: Supervisor, stocktake_id: CountId, commands: CommandsDep
) -> StocktakeOut:
    """Close a count: drums found unexpected, expected and not found, found in the wrong place."""
    result = await commands.send(Command.STOCKTAKE_CLOSE, {"stocktake_id": stocktake_id}, who)
    return _answer(result)


@router.post("/{stocktake_id}/approve", response_model=StocktakeOut, responses=COMMAND_ERRORS)
async def approve_stocktake(
    who: Supervisor,
    stocktake_id: CountId,
    body: StocktakeApprove,
    commands: CommandsDep,
) -> StocktakeOut:
    """Adjust the books by a closed count in one step: every difference, or only ``drums``."""
    args: dict[str, object] = {"stocktake_id": stocktake_id}
    if body.drums is not None:
        args["drums"] = body.drums
    result = await commands.send(Command.STOCKTAKE_APPROVE, args, who)
    return _answer(result)
