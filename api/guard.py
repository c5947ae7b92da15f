"""Request bodies: capped while they stream in, and never read for a caller without a token.

FastAPI reads a route's whole body before it resolves the route's dependencies, token
check included: without this guard a client with no token could stream any amount into
the API's memory before hearing 401. The guard sits in front of the app and answers at
once, from the headers alone, without reading a byte of the body.
"""

from __future__ import annotations

import json
import logging
from urllib.parse import parse_qs

from fastapi import HTTPException, status
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.auth import TOKEN_QUERY_PARAM, TokenBook
from api.metrics import HttpMiddleware, Metrics

log = logging.getLogger(__name__)

# The largest real command (open a container with a note, unload a drum with a reason) is
# a few hundred bytes: 64 KiB is plenty, and bounds what one request can make us hold.
MAX_BODY_BYTES = 64 * 1024
# Under the API prefix only these answer without a token.
OPEN_PATHS = ("/health", "/ready")


class BodyTooLarge(HTTPException):
    """A request body past MAX_BODY_BYTES (raised from ``receive`` as the body streams)."""

    def __init__(self) -> None:
        super().__init__(
            status.HTTP_413_CONTENT_TOO_LARGE,
            f"request body larger than {MAX_BODY_BYTES} bytes",
        )


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value)
    return None


def _token(scope: Scope) -> str | None:
    auth = _header(scope, b"authorization")
    if auth is not None:
        scheme, _, credentials = auth.decode("latin-1").partition(" ")
        if scheme.lower() == "bearer" and credentials.strip():
            return credentials.strip()
    query = parse_qs(bytes(scope.get("query_string", b"")).decode("latin-1"))
    values = query.get(TOKEN_QUERY_PARAM)
    return values[0] if values else None


class BodyGuard(HttpMiddleware):
    """ASGI middleware: 401 before the body for a request without a valid token; 413 past
    MAX_BODY_BYTES, from Content-Length at once or while a chunked body streams."""

    def __init__(self, app: ASGIApp, tokens: TokenBook, metrics: Metrics, prefix: str) -> None:
        super().__init__(app, metrics, prefix)
        self.tokens = tokens

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Guard one request's body."""
        length_header = _header(scope, b"content-length")
        chunked = _header(scope, b"transfer-encoding") is not None
        try:
            length = int(length_header) if length_header is not None else 0
        except ValueError:
            length = 0  # the server itself refuses a malformed Content-Length
        if length <= 0 and not chunked:
            await self.app(scope, receive, send)  # no body: the routes' own checks suffice
            return
        path: str = scope["path"]
        needs_token = path.startswith(self.prefix + "/") and path[len(self.prefix) :] not in (
            OPEN_PATHS
        )
        if needs_token:
            refusal = self._refusal(scope)
            if refusal is not None:
                await _answer(send, status.HTTP_401_UNAUTHORIZED, refusal, bearer=True)
                return
        if length > MAX_BODY_BYTES:
            self._too_large(scope, length)
            await _answer(send, BodyTooLarge().status_code, BodyTooLarge().detail)
            return

        received = 0
        started = False

        async def capped_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > MAX_BODY_BYTES:
                    self._too_large(scope, received)
                    raise BodyTooLarge()
            return message

        async def watch_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, capped_receive, watch_send)
        except BodyTooLarge as exc:
            # Whoever read the body did not turn the refusal into a response: we do.
            if started:
                raise
            await _answer(send, exc.status_code, exc.detail)

    def _refusal(self, scope: Scope) -> str | None:
        """Why a request may not send its body (None: its token is known)."""
        token = _token(scope)
        if token is None:
            return "a bearer token is required"
        if self.tokens.lookup(token) is None:
            self.metrics.auth_failures.labels("unknown_token").inc()
            log.warning("refused an unknown token from %s (body not read)", _client(scope))
            return "unknown token"
        return None

    def _too_large(self, scope: Scope, size: int) -> None:
        self.metrics.bodies_refused.inc()
        log.warning(
            "refused a request body of %d bytes or more from %s to %s (at most %d)",
            size,
            _client(scope),
            scope["path"],
            MAX_BODY_BYTES,
        )


def _client(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "?"


async def _answer(send: Send, code: int, detail: str, bearer: bool = False) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        # The body was not read: the connection cannot carry another request.
        (b"connection", b"close"),
    ]
    if bearer:
        headers.append((b"www-authenticate", b"Bearer"))
    await send({"type": "http.response.start", "status": code, "headers": headers})
    await send({"type": "http.response.body", "body": body})
