"""Bearer tokens with roles: worker < supervisor < admin.

Tokens are configured as the hex SHA-256 of the token (``gudang api hash-token``); the
token itself is never stored nor logged. Tokens are long random strings made by
``gudang api new-token``, so a fast hash is enough: there is no password to guess.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from gudang.settings import ApiRole, ApiSettings

log = logging.getLogger(__name__)

ROLES: tuple[ApiRole, ...] = ("worker", "supervisor", "admin")
_RANK = {role: i for i, role in enumerate(ROLES)}

# The query parameter that carries the token where a header cannot (EventSource, links).
TOKEN_QUERY_PARAM = "access_token"

# Well-known tokens of the local stack (api.allow_demo_tokens): public, so local use only.
DEMO_TOKENS: dict[str, ApiRole] = {
    "demo-admin": "admin",
    "demo-supervisor": "supervisor",
    "demo-worker": "worker",
}

# Random bytes of a new token: 256 bits, far beyond guessing.
NEW_TOKEN_BYTES = 32


def hash_token(token: str) -> str:
    """The hex SHA-256 of a token, as configured in ``api.tokens``."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    """A fresh random token."""
    return secrets.token_urlsafe(NEW_TOKEN_BYTES)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the token's name and role.

    ``station``: a phone's token, good for scanning at that station and nothing else.
    """

    name: str
    role: ApiRole
    station: str | None = None

    def allows(self, role: ApiRole) -> bool:
        """Whether this principal has at least ``role`` (a phone's token: never)."""
        return self.station is None and _RANK[self.role] >= _RANK[role]


class TokenBook:
    """The configured tokens, by hash; then phones' tokens, from ``phones`` (live state)."""

    def __init__(
        self, settings: ApiSettings, phones: Callable[[str], Principal | None] | None = None
    ) -> None:
        self._phones = phones
        self._by_hash: dict[str, Principal] = {
            t.sha256: Principal(t.name, t.role) for t in settings.tokens
        }
        if settings.allow_demo_tokens:
            for token, role in DEMO_TOKENS.items():
                self._by_hash.setdefault(hash_token(token), Principal(token, role))

    def lookup(self, token: str) -> Principal | None:
        """The principal of a token, or None."""
        digest = hash_token(token)
        # compare_digest over every entry: the time taken does not tell which hash matched.
        found: Principal | None = None
        for known, principal in self._by_hash.items():
            if hmac.compare_digest(known, digest):
                found = principal
        if found is None and self._phones is not None:
            # Looked up by the digest of a 256-bit random token: nothing to learn from timing.
            found = self._phones(digest)
        return found


_bearer = HTTPBearer(auto_error=False, description="A token from `gudang api new-token`.")


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": "Bearer"}
    )


def _principal(request: Request, token: str | None) -> Principal:
    if not token:
        raise _unauthorized("a bearer token is required")
    book: TokenBook = request.app.state.tokens
    principal = book.lookup(token)
    if principal is None:
        request.app.state.metrics.auth_failures.labels("unknown_token").inc()
        log.warning(
            "refused an unknown token from %s", request.client.host if request.client else "?"
        )
        raise _unauthorized("unknown token")
    return principal


async def metrics_access(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """Admit /metrics: any known token, or a caller from ``api.metrics_open_from``."""
    client = request.client.host if request.client else ""
    if client in request.app.state.settings.api.metrics_open_from:
        return
    _principal(request, credentials.credentials if credentials is not None else None)


def require(role: ApiRole, query_token: bool = False) -> Any:
    """A dependency admitting callers with at least ``role``; 401 without a token, 403 below."""

    async def dependency(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal:
        token = credentials.credentials if credentials is not None else None
        if token is None and query_token:
            token = request.query_params.get(TOKEN_QUERY_PARAM)
        principal = _principal(request, token)
        if not principal.allows(role):
            request.app.state.metrics.auth_failures.labels("forbidden").inc()
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"this needs the {role} role; the token {principal.name!r} is {principal.role}",
            )
        return principal

    dependency.__name__ = f"require_{role}"
    return Depends(dependency)


async def _scanner(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """A worker or better, or a phone's token (its station is checked by the route)."""
    principal = _principal(request, credentials.credentials if credentials else None)
    if principal.station is None and not principal.allows("worker"):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this needs the worker role")
    return principal


# Typed aliases for the routes.
Worker = Annotated[Principal, require("worker")]
Supervisor = Annotated[Principal, require("supervisor")]
Admin = Annotated[Principal, require("admin")]
WorkerByQuery = Annotated[Principal, require("worker", query_token=True)]
SupervisorByQuery = Annotated[Principal, require("supervisor", query_token=True)]
Scanner = Annotated[Principal, Depends(_scanner)]


_QUERY_TOKEN_RE = re.compile(rf"({TOKEN_QUERY_PARAM}=)[^&\s\"]+")


def redact(text: str) -> str:
    """Replace query-string tokens in a logged line by ``***``."""
    return _QUERY_TOKEN_RE.sub(r"\1***", text)


class RedactTokens(logging.Filter):
    """Keeps query-string tokens out of access logs."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record's arguments; never drops a record."""
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.msg, str):
            record.msg = redact(record.msg)
        return True
