"""The live stream: Server-Sent Events of container, stock, station and alert changes."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from fastapi.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from api.auth import TOKEN_QUERY_PARAM, TokenBook, WorkerByQuery
from api.live import LiveEvent, LiveState
from api.schemas import AUTH_ERRORS, AlertOut, ContainerOut, ErrorOut, StationOut
from api.transport import ABORT_EXTENSION
from api.views import (
    alert_body,
    build_stock,
    container_body,
    list_kinds_body,
    site_skus,
    skus_body,
    station_body,
    stock_body,
    stocktake_body,
    weight_view,
)
from gudang.settings import Settings

log = logging.getLogger(__name__)

router = APIRouter(tags=["stream"], responses=AUTH_ERRORS)

# Tells EventSource to reconnect after this many ms when the stream breaks.
RETRY_MS = 2000
# Open streams at most: each holds a queue of up to SUBSCRIBER_QUEUE changes. Screens on
# a packing floor number in the tens; past this something is reconnecting in a loop.
MAX_STREAM_CLIENTS = 200

STREAM_DOC = """Server-Sent Events (`text/event-stream`). EventSource cannot send headers:
pass the token as `?access_token=...` (or send `Authorization: Bearer ...` from other clients).

Events, each `data:` a JSON object:
- `snapshot`: on connecting, everything: `{"containers": [Container...], "stations":
  [Station...], "alerts": [Alert...], "stock": Stock, "alert_list_kinds": [kind...],
  "skus": [Sku...]}`;
- `container`: one `Container` (as GET /containers/{no}); `{"container_no": ..., "removed": true}`
  when it is gone;
- `station`: one `Station`;
- `stock`: the whole `Stock` (as GET /stock), after every stock or container change;
- `alert`: one `Alert`; `{"id": ..., "removed": true}` once cleared;
- `alert_list_kinds`: `{"alert_list_kinds": [kind...]}` (as in GET /site) after the admin
  changed the alert routing: the kinds the dashboard's alert list shows (empty: every kind);
  the snapshot carries it too;
- `skus`: `{"skus": [Sku...]}` (as in GET /site: name, size, weight range, HS code; no
  prices) after the admin changed the SKU catalogue, then the `stock` (its descriptions
  are the catalogue's names); the snapshot carries it too;
- `stocktake`: `{"id", "status", "found"}` after a stocktake changed (opened, a drum counted,
  closed, approved): what changed, not the differences (GET /stocktakes/{id} has them);
  `{"id": ..., "removed": true}` when it is gone;
- `revoked`: `{"token": name}`, the last event when the stream's token is revoked;
- `weight`: a scale's live reading, `{"station", "ts", "weight_kg", "stable", "status"}`, as
  the bridge publishes it (on change, at most `station.weight_publish_hz`); the snapshot
  carries the latest of each station as `"weights"`.

A comment line (`: ping`) is sent every `api.stream_heartbeat_s` seconds to keep proxies
from closing an idle stream."""


def _sse(event: str, data: Any) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def _sse_body(event: str, body: bytes) -> bytes:
    # A rendered body is compact JSON: no raw newline can end the data line early.
    return b"event: " + event.encode() + b"\ndata: " + body + b"\n\n"


def _stock(live: LiveState, settings: Settings) -> dict[str, Any]:
    return build_stock(live, settings).model_dump(mode="json")


def _event_frames(live: LiveState, settings: Settings, ev: LiveEvent) -> list[bytes]:
    """The SSE frames of one change; bodies rendered once per change for every stream."""
    settings = live.settings  # the catalogue in force now, not when the stream began
    key = f"{ev.kind}/{ev.key}"
    if ev.kind == "container":
        c = live.containers.get(ev.key)
        if c is None:
            frame = _sse("container", {"container_no": ev.key, "removed": True})
        else:
            frame = _sse_body("container", live.body(key, lambda: container_body(c)))
        # Stock counts drums in containers too: a container's change is a stock change.
        return [frame, _sse_body("stock", live.body("stock", lambda: stock_body(live, settings)))]
    if ev.kind == "station":
        view = live.station_views().get(ev.key)
        if view is None:
            return []
        status = live.station_status.get(ev.key)
        body = live.body(key, lambda: station_body(view, status))
        return [_sse_body("station", body)]
    if ev.kind == "alert":
        a = live.alerts.get(ev.key)
        if a is None:
            return [_sse("alert", {"id": ev.key, "removed": True})]
        return [_sse_body("alert", live.body(key, lambda: alert_body(a)))]
    if ev.kind == "stock":
        return [_sse_body("stock", live.body("stock", lambda: stock_body(live, settings)))]
    if ev.kind == "alert_routing":
        # Only the dashboard's part: the webhooks' kinds and who set them are a supervisor's
        # to read (GET /alerts/routing), the stream is every worker's.
        return [
            _sse_body(
                "alert_list_kinds", live.body("alert_list_kinds", lambda: list_kinds_body(live))
            )
        ]
    if ev.kind == "catalogue":
        # As GET /site has it: what every worker may read. Prices, GTINs and the papers'
        # data are GET /catalogue's; a page that shows them asks for it again on this event.
        return [
            _sse_body("skus", live.body("skus", lambda: skus_body(live))),
            _sse_body("stock", live.body("stock", lambda: stock_body(live, settings))),
        ]
    if ev.kind == "stocktake":
        count = live.stocktakes.get(ev.key)
        if count is None:
            return [_sse("stocktake", {"id": ev.key, "removed": True})]
        return [_sse_body("stocktake", live.body(key, lambda: stocktake_body(count)))]
    if ev.kind == "weight":
        w = live.weights.get(ev.key)
        return [_sse("weight", weight_view(w))] if w is not None else []
    return []


async def _snapshot(live: LiveState, settings: Settings) -> dict[str, Any]:
    return {
        "containers": [
            ContainerOut.from_wire(c).model_dump(mode="json") for c in live.containers.values()
        ],
        "stations": [
            StationOut.build(v, live.station_status.get(n)).model_dump(mode="json")
            for n, v in live.station_views().items()
        ],
        "alerts": [AlertOut.from_wire(a).model_dump(mode="json") for a in live.alerts.values()],
        "stock": _stock(live, settings),
        "weights": [weight_view(w) for w in live.weights.values()],
        # A routing change between the page's GET /site and this stream is not missed.
        "alert_list_kinds": list(live.settings.alerts.dashboard_kinds),
        # Likewise the catalogue: a SKU renamed meanwhile shows by its new name.
        "skus": [s.model_dump(mode="json") for s in site_skus(live.settings)],
    }


class BoundedStream(StreamingResponse):
    """A stream closed when its reader has not taken a frame within ``send_timeout_s``.

    uvicorn's ``send`` waits while the client's socket is full: without a timeout a client
    that never reads would hold its slot and its queue for as long as it stays connected.
    No last frame reaches such a reader either (``send`` waits just the same): its
    connection is reset through the server's ``ABORT_EXTENSION`` (api/transport.py).
    """

    def __init__(
        self, content: AsyncIterator[bytes], send_timeout_s: float, on_drop: Callable[[], None]
    ) -> None:
        super().__init__(
            content,
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
        self.send_timeout_s = send_timeout_s
        self.on_drop = on_drop
        self._events = content
        self._abort: Callable[[], None] | None = None
        self._receive: Receive | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry: the connection's abort, if the server offers one, kept for a drop."""
        self._abort = scope.get("extensions", {}).get(ABORT_EXTENSION, {}).get("abort")
        self._receive = receive
        await super().__call__(scope, receive, send)

    async def _hang_up(self) -> None:
        """Reset the connection of a reader that stalled, and wait until the server has
        seen it go. Without the extension (another server) returning is all there is: the
        server closes the connection, and uvicorn logs it as an error."""
        if self._abort is None or self._receive is None:
            return
        self._abort()
        while (await self._receive())["type"] != "http.disconnect":
            pass

    async def stream_response(self, send: Send) -> None:
        """Send the frames, each within the send timeout; give up on a reader that stalls."""
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        try:
            async for chunk in self._events:
                try:
                    async with asyncio.timeout(self.send_timeout_s):
                        await send({"type": "http.response.body", "body": chunk, "more_body": True})
                except TimeoutError:
                    self.on_drop()
                    await self._hang_up()
                    return
        finally:
            await self._events.aclose()  # type: ignore[attr-defined]
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _events(
    request: Request,
    live: LiveState,
    settings: Settings,
    queue: asyncio.Queue[LiveEvent],
    who: str,
    admitted: Callable[[], bool],
) -> AsyncIterator[bytes]:
    heartbeat = settings.api.stream_heartbeat_s
    try:
        yield f"retry: {RETRY_MS}\n\n".encode()
        yield _sse("snapshot", await _snapshot(live, settings))
        while True:
            try:
                ev = await asyncio.wait_for(queue.get(), heartbeat)
            except TimeoutError:
                if await request.is_disconnected():
                    return
                yield b": ping\n\n"
                continue
            if ev.kind == "phone_tokens" and not admitted():
                # Revoked while streaming: say so, and end the stream (EventSource then
                # gets 401 on its reconnect and stops).
                log.info("stream of %s ended: its token is revoked", who)
                yield _sse("revoked", {"token": who})
                return
            for frame in _event_frames(live, settings, ev):
                yield frame
    finally:
        live.unsubscribe(queue, who)


@router.get(
    "/stream",
    response_class=Response,
    description=STREAM_DOC,
    responses={
        200: {
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
            "description": "the event stream",
        },
        429: {"model": ErrorOut, "description": "this token holds too many open streams"},
        503: {"model": ErrorOut, "description": "too many open streams"},
    },
)
async def stream(
    who: WorkerByQuery,
    request: Request,
    access_token: Annotated[
        str | None,
        Query(alias=TOKEN_QUERY_PARAM, description="the bearer token, for EventSource"),
    ] = None,
) -> StreamingResponse:
    """Live changes of containers, stock, stations and alerts, as Server-Sent Events."""
    live: LiveState = request.app.state.live
    settings: Settings = live.settings  # with the live catalogue
    if len(live.subscribers) >= MAX_STREAM_CLIENTS:
        log.warning("refused a stream for %s: %d streams open", who.name, len(live.subscribers))
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "too many open streams")
    most = settings.api.stream_max_per_token
    if live.streams_of[who.name] >= most:
        live.counters["stream_refused_per_token"] += 1
        log.warning("refused a stream for %s: it holds %d already", who.name, most)
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"the token {who.name!r} holds {most} open streams already (api.stream_max_per_token)",
        )
    queue = live.subscribe(who.name)  # before the snapshot: no change falls between the two
    log.info("stream opened by %s", who.name)

    def dropped() -> None:
        live.counters["stream_slow_reader_dropped"] += 1
        log.warning(
            "closed a stream of %s: its reader took nothing for %.0fs",
            who.name,
            settings.api.stream_send_timeout_s,
        )

    book: TokenBook = request.app.state.tokens
    token = access_token or request.headers.get("authorization", "").removeprefix("Bearer ")

    def admitted() -> bool:
        return book.lookup(token.strip()) is not None

    return BoundedStream(
        _events(request, live, settings, queue, who.name, admitted),
        settings.api.stream_send_timeout_s,
        dropped,
    )
