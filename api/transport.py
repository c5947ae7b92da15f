"""HTTPS and plain HTTP: where the API listens, and what plain HTTP may carry.

In production, plain HTTP carries no token across the network: a request from another
machine is redirected to HTTPS (308, method and body kept), and one that already carries
a token is refused (403) — the token crossed the Wi-Fi in clear and should be replaced.
This machine's own clients (the installer's health check, a local script) are served as
before: loopback never leaves the box.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Iterator

import uvicorn
from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from api.guard import _token
from api.metrics import Metrics
from gudang.settings import LOOPBACK_HOSTS, Settings

log = logging.getLogger(__name__)

# The scope's extension through which the app resets its connection (AbortableHttp).
ABORT_EXTENSION = "gudang.abort"
# Loopback as ASGI servers give it (IPv4-mapped IPv6 included).
_LOOPBACK = LOOPBACK_HOSTS | {"::ffff:127.0.0.1"}


def _host_header(scope: Scope) -> str:
    for key, value in scope.get("headers", ()):
        if key == b"host":
            return bytes(value).decode("latin-1")
    server = scope.get("server")
    return str(server[0]) if server else "localhost"


def https_url(scope: Scope, tls_port: int) -> str:
    """The same request's URL on the HTTPS port."""
    host = _host_header(scope)
    if host.startswith("["):  # [v6]:port
        name = host[: host.index("]") + 1]
    else:
        name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    port = "" if tls_port == 443 else f":{tls_port}"
    query = bytes(scope.get("query_string", b"")).decode("latin-1")
    return f"https://{name}{port}{scope['path']}{'?' + query if query else ''}"


class PlainHttpGuard:
    """ASGI middleware: in production, plain HTTP from another machine goes to HTTPS."""

    def __init__(self, app: ASGIApp, settings: Settings, metrics: Metrics) -> None:
        self.app = app
        self.production = settings.site.environment == "production"
        self.tls_port = settings.api.tls_port
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry."""
        if (
            not self.production
            or scope["type"] != "http"
            or scope.get("scheme") != "http"
            or (scope.get("client") or ("",))[0] in _LOOPBACK
        ):
            await self.app(scope, receive, send)
            return
        client = (scope.get("client") or ("?",))[0]
        where = https_url(scope, self.tls_port) if self.tls_port is not None else None
        if _token(scope) is not None:
            self.metrics.auth_failures.labels("plain_http").inc()
            log.warning("refused a token over plain HTTP from %s to %s", client, scope["path"])
            detail = (
                "tokens are refused over plain HTTP: it crossed the network in clear, have it "
                "replaced, and use " + (where or "HTTPS (api.tls_port is not configured)")
            )
            await _send(send, 403, {"detail": detail}, location=where)
            return
        if where is None:
            await self.app(scope, receive, send)  # no HTTPS to send it to: pages still load
            return
        await _send(send, 308, {"detail": f"use {where}"}, location=where)


async def _send(send: Send, code: int, body: dict[str, str], location: str | None) -> None:
    data = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    if location is not None and code == 308:
        headers.append((b"location", location.encode("latin-1")))
    await send({"type": "http.response.start", "status": code, "headers": headers})
    await send({"type": "http.response.body", "body": data})


class AbortableHttp(HttpToolsProtocol):
    """uvicorn's HTTP protocol (httptools), with ``ABORT_EXTENSION`` in every request's scope.

    ASGI has no message to drop a connection: an app that returns mid-response is taken for
    a broken one (uvicorn logs "ASGI callable returned without completing response") and the
    connection is closed only once its unsent bytes are flushed, which a reader that stalled
    never lets happen. ``scope["extensions"][ABORT_EXTENSION]["abort"]()`` resets it now:
    uvicorn sees the client gone, and the response ends as a disconnect.
    """

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """A new connection: its requests' scopes carry its abort."""
        super().connection_made(transport)
        app = self.app

        async def with_abort(scope: Scope, receive: Receive, send: Send) -> None:
            scope.setdefault("extensions", {})[ABORT_EXTENSION] = {"abort": transport.abort}
            await app(scope, receive, send)

        self.app = with_abort


class _Companion(uvicorn.Server):
    """The plain-HTTP listener beside the HTTPS one: the HTTPS server owns the signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class ApiServers:
    """The API's listeners: plain HTTP on api.port, and HTTPS on api.tls_port if configured.

    With HTTPS, the HTTPS server runs the app's lifespan and owns the signals; the plain
    one serves the same app beside it and stops with it.
    """

    def __init__(self, app: FastAPI, settings: Settings, log_level: str = "info") -> None:
        api = settings.api
        self.settings = settings
        plain = uvicorn.Config(
            app,
            host=api.host,
            port=api.port,
            log_level=log_level,
            access_log=api.access_log,
            lifespan="off" if api.tls else "on",
            http=AbortableHttp,
        )
        self.secure: uvicorn.Server | None = None
        if api.tls_port is not None and api.tls_certfile and api.tls_keyfile:
            self.secure = uvicorn.Server(
                uvicorn.Config(
                    app,
                    host=api.host,
                    port=api.tls_port,
                    log_level=log_level,
                    access_log=api.access_log,
                    http=AbortableHttp,
                    ssl_certfile=str(api.tls_certfile),
                    ssl_keyfile=str(api.tls_keyfile),
                )
            )
            self.plain: uvicorn.Server = _Companion(plain)
        else:
            self.plain = uvicorn.Server(plain)

    @property
    def started(self) -> bool:
        """Whether every listener accepts connections."""
        return self.plain.started and (self.secure is None or self.secure.started)

    def stop(self) -> None:
        """Ask every listener to finish (thread-safe: it sets flags the servers poll)."""
        for server in (self.secure, self.plain):
            if server is not None:
                server.should_exit = True

    async def serve(self) -> None:
        """Serve until stopped (or, in the main thread, until SIGINT / SIGTERM)."""
        if self.secure is None:
            await self.plain.serve()
            return
        plain_task = asyncio.create_task(self.plain.serve())
        try:
            await self.secure.serve()
        finally:
            self.plain.should_exit = True
            await plain_task

    def run(self) -> None:
        """Serve in this thread until stopped."""
        api = self.settings.api
        if self.secure is not None:
            log.info(
                "HTTPS on %s:%s, plain HTTP on %s:%s", api.host, api.tls_port, api.host, api.port
            )
        # uvicorn's own loop choice (uvloop when installed: docs/performance.md).
        factory = self.plain.config.get_loop_factory()
        loop = factory() if factory is not None else asyncio.new_event_loop()
        try:
            loop.run_until_complete(self.serve())
        finally:
            loop.close()


def serve(app: FastAPI, settings: Settings) -> None:
    """Serve the API as configured until SIGINT or SIGTERM."""
    ApiServers(app, settings).run()
