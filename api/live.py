"""The API's view of the live state: followed from the services' retained MQTT topics.

The API never decides anything itself: it reads state the services publish and sends
commands to the services, waiting for their reply.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import Counter
from typing import Any

import msgspec

from gudang.mqtt import Message, MqttLink
from gudang.settings import Settings
from gudang.wire import (
    QOS_COMMAND,
    QOS_STATE,
    CommandV1,
    ContainerStateV1,
    ReplyV1,
    StationViewV1,
    StockV1,
    Topics,
    container_state_decoder,
    encode,
    reply_decoder,
    station_view_decoder,
    stock_decoder,
)

log = logging.getLogger(__name__)

# Change notifications waiting for a slow stream reader, at most; older ones are dropped.
SUBSCRIBER_QUEUE = 256


class CommandFailed(Exception):
    """The services refused a command, or did not answer in time."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


class LiveState:
    """Containers, stations and stock as last published by the services."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.topics = Topics(settings.site.name)
        self.containers: dict[str, ContainerStateV1] = {}
        self.stations: dict[str, StationViewV1] = {}
        self.stock: StockV1 = StockV1()
        self.counters: Counter[str] = Counter()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending: dict[str, asyncio.Future[ReplyV1]] = {}
        self._subscribers: set[asyncio.Queue[dict[str, Any]]] = set()
        self.link = MqttLink(
            settings.mqtt,
            f"gudang-api-{settings.site.name}-{uuid.uuid4().hex[:8]}",
            subscriptions=[(self.topics.all_state, QOS_STATE), (self.topics.all_replies, 1)],
            on_message=self._on_message,
        )

    async def start(self) -> None:
        """Connect and follow the state topics."""
        self._loop = asyncio.get_running_loop()
        self.link.start()

    async def stop(self) -> None:
        """Disconnect."""
        self.link.stop()

    # paho's thread: decode, then hand over to the event loop
    def _on_message(self, msg: Message) -> None:
        if self._loop is None:
            return
        self._loop.call_soon_threadsafe(self._apply, msg)

    def _apply(self, msg: Message) -> None:
        parts = msg.topic.split("/")
        try:
            if len(parts) >= 4 and parts[2] == "reply":
                reply = reply_decoder.decode(msg.payload)
                fut = self._pending.pop(reply.request_id, None)
                if fut is not None and not fut.done():
                    fut.set_result(reply)
                return
            if len(parts) < 4 or parts[2] != "state":
                return
            kind = parts[3]
            event: dict[str, Any]
            if kind == "container" and len(parts) == 5:
                if not msg.payload:
                    self.containers.pop(parts[4], None)
                    return
                c = container_state_decoder.decode(msg.payload)
                self.containers[c.container_no] = c
                event = {"type": "container", "data": msgspec.to_builtins(c)}
            elif kind == "station" and len(parts) == 5:
                s = station_view_decoder.decode(msg.payload)
                self.stations[s.station] = s
                event = {"type": "station", "data": msgspec.to_builtins(s)}
            elif kind == "stock":
                self.stock = stock_decoder.decode(msg.payload)
                event = {"type": "stock", "data": msgspec.to_builtins(self.stock)}
            else:
                return
        except msgspec.DecodeError as exc:
            self.counters["bad_state_messages"] += 1
            log.warning("ignoring undecodable message on %s: %s", msg.topic, exc)
            return
        self._notify(event)

    def _notify(self, event: dict[str, Any]) -> None:
        for q in list(self._subscribers):
            if q.full():
                q.get_nowait()  # a slow reader loses the oldest change, not the newest
                self.counters["stream_dropped"] += 1
            q.put_nowait(event)

    def subscribe(self) -> asyncio.Queue[dict[str, Any]]:
        """A queue of state changes, for a live stream."""
        q: asyncio.Queue[dict[str, Any]] = asyncio.Queue(SUBSCRIBER_QUEUE)
        self._subscribers.add(q)
        return q

    def unsubscribe(self, q: asyncio.Queue[dict[str, Any]]) -> None:
        """Stop delivering changes to a queue."""
        self._subscribers.discard(q)

    async def command(self, name: str, args: dict[str, Any], actor: str) -> dict[str, Any]:
        """Send a command to the services and wait for the reply."""
        if self._loop is None:
            raise CommandFailed("API not started", 503)
        if not self.link.connected:
            raise CommandFailed("broker unreachable: command not sent", 503)
        request_id = uuid.uuid4().hex
        fut: asyncio.Future[ReplyV1] = self._loop.create_future()
        self._pending[request_id] = fut
        payload = encode(CommandV1(request_id=request_id, actor=actor, args=args))
        self.link.publish(self.topics.command(name), payload, qos=QOS_COMMAND)
        try:
            reply = await asyncio.wait_for(fut, self.settings.api.command_timeout_s)
        except TimeoutError as exc:
            raise CommandFailed(
                f"services did not answer within {self.settings.api.command_timeout_s}s", 504
            ) from exc
        finally:
            self._pending.pop(request_id, None)
        if not reply.ok:
            raise CommandFailed(reply.error or "refused", reply.code)
        return reply.result or {}
