"""Corrections: unseal, correct the seal number of, or cancel a container; write off,
move or dispose of (QC) a drum in stock. Supervisors only; each a command, stored."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from api.auth import Principal, Supervisor
from api.deps import Commands, CommandsDep, ContainerNoPath
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
from api.views import container_command
from gudang.wire import Command

containers = APIRouter(prefix="/containers", tags=["containers"], responses=AUTH_ERRORS)
stock = APIRouter(prefix="/stock", tags=["stock"], responses=AUTH_ERRORS)


@containers.post("/{container_no}/unseal", response_model=ContainerOut, responses=COMMAND_ERRORS)
async def unseal_container(
    who: Supervisor, number: ContainerNoPath, body: ContainerCorrection, commands: CommandsDep
) -> ContainerOut:
    """Break a sealed container's seal before it ships: it can be loaded and unloaded again."""
    args = {"container_no": number, "reason": body.reason}
    return await container_command(commands, Command.CONTAINER_UNSEAL, args, who)


@containers.post(
    "/{container_no}/correct-seal", response_model=ContainerOut, responses=COMMAND_ERRORS
)
async def correct_seal(
    who: Supervisor, number: ContainerNoPath, body: SealCorrection, commands: CommandsDep
) -> ContainerOut:
    """Correct a sealed container's seal number (the old one stays in the audit trail)."""
    args = {"container_no": number, "seal_no": body.seal_no, "reason": body.reason}
    return await container_command(commands, Command.CONTAINER_CORRECT_SEAL, args, who)


@containers.post("/{container_no}/cancel", response_model=ContainerOut, responses=COMMAND_ERRORS)
async def cancel_container(
    who: Supervisor, number: ContainerNoPath, body: ContainerCorrection, commands: CommandsDep
) -> ContainerOut:
    """Cancel a container opened by mistake (no drums in it); its number can be opened again."""
    args = {"container_no": number, "reason": body.reason}
    return await container_command(commands, Command.CONTAINER_CANCEL, args, who)


async def _stock_correction(
    commands: Commands, command: Command, body: BaseModel, who: Principal
) -> StockCorrectionOut:
    """A stock correction sent with its body's fields as they came; the services' answer."""
    result = await commands.send(command, body.model_dump(exclude_none=True), who)
    return StockCorrectionOut.model_validate(result)


@stock.post("/write-off", response_model=StockCorrectionOut, responses=COMMAND_ERRORS)
async def write_off(who: Supervisor, body: WriteOff, commands: CommandsDep) -> StockCorrectionOut:
    """Write off a drum in stock (damaged, lost, sample): it leaves the books."""
    return await _stock_correction(commands, Command.STOCK_WRITE_OFF, body, who)


@stock.post("/move", response_model=StockCorrectionOut, responses=COMMAND_ERRORS)
async def move_drum(who: Supervisor, body: StockMove, commands: CommandsDep) -> StockCorrectionOut:
    """Move a drum in stock to another warehouse location."""
    return await _stock_correction(commands, Command.STOCK_MOVE, body, who)


@stock.post("/qc-disposal", response_model=StockCorrectionOut, responses=COMMAND_ERRORS)
async def qc_disposal(
    who: Supervisor, body: QcDisposal, commands: CommandsDep
) -> StockCorrectionOut:
    """A QC-held drum: pass it after rework (it becomes loadable), return it or scrap it."""
    return await _stock_correction(commands, Command.STOCK_QC_DISPOSE, body, who)
