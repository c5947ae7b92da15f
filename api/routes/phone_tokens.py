"""Tokens made in the dashboard: a phone's (scans at one station) and a person's (a role).

One mechanism for both: the token is made here and shown once (a phone's inside its QR
code's link); the services store its SHA-256 as an event (``phone_token_issue``,
``phone_token_revoke``: a phone's as its station's ``station_event``, any other as a
``token_event``) and publish every token not revoked on ``state/phone-tokens``, which the
API follows to admit it. A supervisor signs phones in and out; the admin makes, lists and
revokes every token (``/tokens``). Tokens of the configuration file keep working beside.
"""

from __future__ import annotations

import io
import secrets
from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import quote

import msgspec
import qrcode
import qrcode.image.svg
from fastapi import APIRouter, HTTPException, Path, Request, status
from pydantic import BaseModel, Field

from api.auth import Admin, Principal, Supervisor, hash_token, new_token
from api.deps import Commands, CommandsDep, LiveDep, SettingsDep, StationName
from api.schemas import AUTH_ERRORS, COMMAND_ERRORS, WireModel
from gudang.settings import ApiRole, Settings
from gudang.wire import NAME_PATTERN, Command, PhoneTokenV1

router = APIRouter(tags=["stations"], responses=AUTH_ERRORS)

TokenName = Annotated[str, Path(pattern=r"^phone-[a-z0-9_-]{1,32}-[0-9a-f]{6}$")]
# A person's token: the name the audit trail shows as the actor.
PERSON_NAME = r"^[a-z0-9][a-z0-9_.-]{0,47}$"
# A QR code's module in the SVG: big enough to scan off a laptop screen at arm's length.
QR_BOX = 8


class PhoneTokenOut(WireModel):
    """A phone's token as listed: never the token itself."""

    name: str
    station: str | None = Field(description="a phone's: it scans at this station only")
    role: ApiRole = "worker"
    issued_at: datetime
    issued_by: str


class PhoneSignIn(PhoneTokenOut):
    """A new phone token: shown once, as a link and as the QR code of that link."""

    token: str = Field(description="shown this once; only its hash is kept")
    url: str = Field(description="the scanning page, signed in: what the QR code holds")
    qr_svg: str = Field(description="the QR code of url, as SVG")


def _out(token: PhoneTokenV1) -> PhoneTokenOut:
    return PhoneTokenOut.from_wire(token)


async def _issue(commands: Commands, args: dict[str, str], who: Principal) -> PhoneTokenV1:
    """Make a token (its SHA-256 in ``args``): admitted at once, before the services' retained
    list follows with it in."""
    result = await commands.send(Command.PHONE_TOKEN_ISSUE, args, who)
    issued = msgspec.convert(result, PhoneTokenV1)
    commands.live.phone_tokens[issued.sha256] = issued
    return issued


def phone_base_url(request: Request, settings: Settings) -> str:
    """Where a phone reaches this API: over HTTPS when it is served (the camera needs it)."""
    host = request.headers.get("host") or f"{request.url.hostname}:{request.url.port}"
    if settings.api.tls_port is None:
        return f"{request.url.scheme}://{host}"
    name = host if host.endswith("]") or host.count(":") != 1 else host.rsplit(":", 1)[0]
    if host.startswith("[") and "]:" in host:
        name = host[: host.index("]") + 1]
    return f"https://{name}:{settings.api.tls_port}"


def _qr_svg(text: str) -> str:
    image = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, box_size=QR_BOX)
    out = io.BytesIO()
    image.save(out)
    return out.getvalue().decode()


@router.post(
    "/stations/{station}/phone-tokens",
    response_model=PhoneSignIn,
    status_code=status.HTTP_201_CREATED,
    responses=COMMAND_ERRORS,
)
async def issue_phone_token(
    who: Supervisor,
    station: StationName,
    request: Request,
    commands: CommandsDep,
    settings: SettingsDep,
) -> PhoneSignIn:
    """A token for one phone to scan at this station, and its sign-in QR code."""
    token = new_token()
    name = f"phone-{station}-{secrets.token_hex(3)}"
    args = {"station": station, "name": name, "sha256": hash_token(token)}
    issued = await _issue(commands, args, who)
    url = (
        f"{phone_base_url(request, settings)}/dashboard/scan.html"
        f"#station={quote(station)}&token={quote(token)}"
    )
    return PhoneSignIn(**_out(issued).model_dump(), token=token, url=url, qr_svg=_qr_svg(url))


@router.get("/phone-tokens", response_model=list[PhoneTokenOut])
async def list_phone_tokens(who: Supervisor, live: LiveDep) -> list[PhoneTokenOut]:
    """The phones signed in to scan, oldest first (revoked ones are gone)."""
    tokens = sorted(
        (t for t in live.phone_tokens.values() if t.station is not None),
        key=lambda t: t.issued_at,
    )
    return [_out(t) for t in tokens]


@router.delete("/phone-tokens/{name}", response_model=PhoneTokenOut, responses=COMMAND_ERRORS)
async def revoke_phone_token(
    who: Supervisor, name: TokenName, commands: CommandsDep
) -> PhoneTokenOut:
    """Revoke a phone's token: its next request is refused (401), its streams end."""
    return await _revoke(who, name, commands)


async def _revoke(who: Principal, name: str, commands: Commands) -> PhoneTokenOut:
    result = await commands.send(Command.PHONE_TOKEN_REVOKE, {"name": name}, who)
    revoked = msgspec.convert(result, PhoneTokenV1)
    commands.live.phone_tokens.pop(revoked.sha256, None)  # refused now, not from the next state
    commands.live.tokens_changed()  # its open streams end now
    return _out(revoked)


class NewToken(BaseModel):
    """A person's token to make: its name (the actor in the audit trail) and role."""

    name: str = Field(pattern=PERSON_NAME, examples=["budi"])
    role: ApiRole
    station: str | None = Field(
        default=None, pattern=NAME_PATTERN, description="set: it scans at this station only"
    )


class TokenMade(PhoneTokenOut):
    """A new token: shown this once; only its hash is kept."""

    token: str = Field(description="shown this once; only its hash is kept")


class TokenListed(PhoneTokenOut):
    """A token as the admin sees it: made in the dashboard, or in the configuration file."""

    source: str = Field(description="dashboard (revocable here) or config (the file's)")


@router.post(
    "/tokens",
    response_model=TokenMade,
    status_code=status.HTTP_201_CREATED,
    responses=COMMAND_ERRORS,
    tags=["people"],
)
async def make_token(
    who: Admin, body: NewToken, commands: CommandsDep, settings: SettingsDep
) -> TokenMade:
    """Make a token for a person (name, role, optional station); the token is shown once."""
    if body.name.startswith("phone-"):
        # Phones' names: a supervisor may revoke those, never a person's token.
        raise HTTPException(422, "names phone-... are phones'")
    if any(t.name == body.name for t in settings.api.tokens):
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"token {body.name!r} exists already in the configuration file",
        )
    token = new_token()
    args = {"name": body.name, "role": body.role, "sha256": hash_token(token)}
    if body.station:
        args["station"] = body.station
    issued = await _issue(commands, args, who)
    return TokenMade(**_out(issued).model_dump(), token=token)


@router.get("/tokens", response_model=list[TokenListed], tags=["people"])
async def list_tokens(who: Admin, live: LiveDep, settings: SettingsDep) -> list[TokenListed]:
    """Every token: the configuration file's, then the dashboard's oldest first."""
    out = [
        TokenListed(
            name=t.name,
            station=None,
            role=t.role,
            issued_at=datetime.fromtimestamp(0, UTC),
            issued_by="",
            source="config",
        )
        for t in settings.api.tokens
    ]
    made = sorted(live.phone_tokens.values(), key=lambda t: t.issued_at)
    out += [TokenListed(**_out(t).model_dump(), source="dashboard") for t in made]
    return out


@router.delete(
    "/tokens/{name}", response_model=PhoneTokenOut, responses=COMMAND_ERRORS, tags=["people"]
)
async def revoke_token(
    who: Admin,
    name: Annotated[str, Path(pattern=PERSON_NAME)],
    commands: CommandsDep,
) -> PhoneTokenOut:
    """Revoke a token made in the dashboard: refused at once in the API and its streams."""
    return await _revoke(who, name, commands)
