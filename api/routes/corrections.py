"""Corrections: unseal, correct the seal number of, or cancel a container; write off,
move or dispose of (QC) a drum in stock. Supervisors only; each a command, stored."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from api.auth import Principal, Supervisor
from api.deps import LiveDep, MetricsDep, container_no_param, send_command
from api.live import LiveState
from api.metrics import Metrics
from api.schemas import (
    AUTH_ERRORS,
    COMMAND_ERRORS,
    ContainerCorrection,
    ContainerOut,
    QcDisposal,
    SealCorrection,
    StockCorrectionOut,
    StockMove,
    WriteOff,
)
from api.views import container_answer
from gudang.wire import Command

containers = APIRouter(prefix="/containers", tags=["containers"], responses=AUTH_ERRORS)
stock = APIRouter(prefix="/stock", tags=["stock"], responses=AUTH_ERRORS)
ContainerNoPath = Annotated[str, Depends(container_no_param)]


@containers.post("/{container_no}/unseal", response_model=ContainerOut, responses=COMMAND_ERRORS)
async def unseal_container(
    who: Supervisor,
    number: ContainerNoPath,
    body: ContainerCorrection,
    live: LiveDep,
    metrics: MetricsDep,
) -> ContainerOut:
    """Break a sealed container's seal before it ships: it can be loaded and unloaded again."""
    result = await send_command(
        live,
        metrics,
        Command.CONTAINER_UNSEAL,
        {"container_no": number, "reason": body.reason},
        who,
    )
    return container_answer(result, live, number)


@containers.post(
    "/{container_no}/correct-seal", response_model=ContainerOut, responses=COMMAND_ERRORS
)
async def correct_seal(
    who: Supervisor,
    number: ContainerNoPath,
    body: SealCorrection,
    live: LiveDep,
    metrics: MetricsDep,
) -> ContainerOut:
    """Correct a sealed container's seal number (the old one stays in the audit trail)."""
    args = {"container_no": number, "seal_no": body.seal_no, "reason": body.reason}
    result = await send_command(live, metrics, Command.CONTAINER_CORRECT_SEAL, args, who)
    return container_answer(result, live, number)


@containers.post("/{container_no}/cancel", response_model=ContainerOut, responses=COMMAND_ERRORS)
async def cancel_container(
    who: Supervisor,
    number: ContainerNoPath,
    body: ContainerCorrection,
    live: LiveDep,
    metrics: MetricsDep,
) -> ContainerOut:
    """Cancel a container opened by mistake (no drums in it); its number can be opened again."""
    result = await send_command(
        live,
        metrics,
        Command.CONTAINER_CANCEL,
        {"container_no": number, "reason": body.reason},
        who,
    )
    return container_answer(result, live, number)


async def _stock_correction(
    command: Command, body: BaseModel, who: Principal, live: LiveState, metrics: Metrics
) -> StockCorrectionOut:
    """A stock correction sent with its body's fields as they came; the services' answer."""
    result = await send_command(live, metrics, command, body.model_dump(exclude_none=True), who)
    return StockCorrectionOut.model_validate(result)


@stock.post("/write-off", response_model=StockCorrectionOut, responses=COMMAND_ERRORS)
async def write_off(
    who: Supervisor, body: WriteOff, live: LiveDep, metrics: MetricsDep
) -> StockCorrectionOut:
    """Write off a drum in stock (damaged, lost, sample): it leaves the books."""
    return await _stock_correction(Command.STOCK_WRITE_OFF, body, who, live, metrics)


@stock.post("/move", response_model=StockCorrectionOut, responses=COMMAND_ERRORS)
async def move_drum(
    who: Supervisor, body: StockMove, live: LiveDep, metrics: MetricsDep
) -> StockCorrectionOut:
    """Move a drum in stock to another warehouse location."""
    return await _stock_correction(Command.STOCK_MOVE, body, who, live, metrics)


@stock.post("/qc-disposal", response_model=StockCorrectionOut, responses=COMMAND_ERRORS)
async def qc_disposal(
    who: Supervisor, body: QcDisposal, live: LiveDep, metrics: MetricsDep
) -> StockCorrectionOut:
    """A QC-held drum: pass it after rework (it becomes loadable), return it or scrap it."""
    return await _stock_correction(Command.STOCK_QC_DISPOSE, body, who, live, metrics)
