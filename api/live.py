"""The API's view of the live state: followed from the services' retained MQTT topics.

The API never decides anything itself: it reads state the services publish and sends
commands to the services, waiting for their reply.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec
from pydantic import ValidationError

from api.auth import Principal
from gudang.mqtt import Message, MqttLink
from gudang.settings import Settings, SkuSettings
from gudang.wire import (
    MAX_PAYLOAD_BYTES,
    QOS_ALERT,
    QOS_COMMAND,
    QOS_RECEIPT,
    QOS_STATE,
    QOS_STATUS,
    QOS_WEIGHT,
    AlertRoutingV1,
    AlertV1,
    CatalogueV1,
    CommandV1,
    ContainerStateV1,
    PhoneTokenV1,
    ReplyV1,
    StationState,
    StationStatusV1,
    StationViewV1,
    StocktakeV1,
    StockV1,
    Topics,
    WeightReadingV1,
    alert_decoder,
    alert_routing_decoder,
    catalogue_decoder,
    container_state_decoder,
    encode,
    parse_station_topic,
    parse_topic,
    phone_tokens_decoder,
    receipt_decoder,
    reply_decoder,
    station_view_decoder,
    status_decoder,
    stock_decoder,
    stocktake_decoder,
    weight_decoder,
)

log = logging.getLogger(__name__)

# Change notifications waiting for a slow stream reader, at most; older ones are dropped.
SUBSCRIBER_QUEUE = 256
# Messages waiting for the event loop, at most: past it (a flood of weight readings, or a
# loop stalled) messages are dropped and counted rather than piling up in memory.
INBOX_MAX = 10_000
# What a station publishes (status, weight) is bounded as the services bound it; the
# services' own state messages get more room (a stock of many SKUs), still a bound.
STATE_MAX_BYTES = 1024 * 1024

# Messages applied per turn of the event loop: a burst of state messages must not hold
# requests up for long (a message takes ~10 µs to apply).
APPLY_PER_TURN = 200
# Response bodies that a change of one kind of state makes stale (see ``LiveState.body``):
# a container's change is also a change of the container list and of the stock.
STALE_BODIES: dict[str, tuple[str, ...]] = {
    "container": ("containers", "stock"),
    "station": ("stations",),
    "stock": ("stock",),
    "alert": ("alerts",),
    # The stock's descriptions are the catalogue's; "skus" is the stream's skus event.
    "catalogue": ("stock", "catalogue", "skus"),
    "phone_tokens": ("phone_tokens",),
    "alert_routing": ("alert_list_kinds",),
}


@dataclass(frozen=True, slots=True)
class LiveEvent:
    """A change of the live state: ``kind`` container/station/stock/alert, and its key.

    ``removed`` says the thing is gone (an emptied retained topic: a cleared alert).
    """

    kind: str
    key: str
    removed: bool = False


class CommandFailed(Exception):
    """The services refused a command, or did not answer in time."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


class LiveState:
    """Containers, stations, stock and alerts as last published by the services and bridges."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.topics = Topics(settings.site.name)
        self.containers: dict[str, ContainerStateV1] = {}
        self.stations: dict[str, StationViewV1] = {}
        self.station_status: dict[str, StationStatusV1] = {}
        self.weights: dict[str, WeightReadingV1] = {}  # each scale's latest live reading
        self.alerts: dict[str, AlertV1] = {}
        self.stock: StockV1 = StockV1()
        self.catalogue_at: datetime | None = None  # when the services' catalogue came
        self.alert_routing: AlertRoutingV1 | None = None  # the services' (state/alert-routing)
        self.phone_tokens: dict[str, PhoneTokenV1] = {}  # by sha256 (state/phone-tokens)
        self.stocktakes: dict[str, StocktakeV1] = {}
        self.counters: Counter[str] = Counter()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending: dict[str, asyncio.Future[ReplyV1]] = {}
        # Phone scans waiting for the services' receipt, by scan id (api.phone).
        self._receipts: dict[str, list[asyncio.Future[None]]] = {}
        # Stations whose receipts the API follows, from their first phone scan on (the
        # broker's answer to the subscription). Not all stations': the services send a
        # receipt per station per batch, which would cost as much as following the state.
        self._receipts_followed: dict[str, asyncio.Future[bool]] = {}
        self.subscribers: set[asyncio.Queue[LiveEvent]] = set()
        self.streams_of: Counter[str] = Counter()  # open streams by token name
        # Messages from paho's thread waiting for the event loop, and whether a turn of
        # the loop is already asked for them (one wake-up per burst, not per message).
        self._inbox: deque[Message] = deque()
        self._drain_scheduled = False
        # Rendered JSON of the live state, by key ("container/<no>", "containers", ...),
        # dropped when that state changes: polled GETs and streams share one rendering.
        self._bodies: dict[str, bytes] = {}
        self.link = MqttLink(
            settings.mqtt,
            f"gudang-api-{settings.site.name}-{uuid.uuid4().hex[:8]}",
            subscriptions=[
                (self.topics.all_state, QOS_STATE),
                (self.topics.all_replies, QOS_COMMAND),
                (self.topics.all_alerts, QOS_ALERT),
                (self.topics.all_status, QOS_STATUS),
                (self.topics.all_weights, QOS_WEIGHT),
                # Receipts tell a phone's scan is stored (POST /stations/{s}/scans): a
                # station's are followed once a phone scans there (follow_receipts).
            ],
            on_message=self._on_message,
        )

    async def start(self) -> None:
        """Connect and follow the state topics."""
        self._loop = asyncio.get_running_loop()
        self.link.start()

    async def stop(self) -> None:
        """Disconnect."""
        self.link.stop()

    # paho's thread: hand over to the event loop, where all state lives
    def _on_message(self, msg: Message) -> None:
        loop = self._loop
        if loop is None:
            return
        if len(self._inbox) >= INBOX_MAX:
            # Counters are a Counter: += from paho's thread is fine for a figure.
            self.counters["inbox_dropped"] += 1
            if self.counters["inbox_dropped"] % INBOX_MAX == 1:
                log.warning("live inbox full (%d): dropping %s", INBOX_MAX, msg.topic)
            return
        self._inbox.append(msg)
        if not self._drain_scheduled:
            # The flag is cleared by the loop before it takes messages, so a message put
            # here while it is set is always taken by the turn already asked for.
            self._drain_scheduled = True
            loop.call_soon_threadsafe(self._drain)

    def _drain(self) -> None:
        """Apply waiting messages in arrival order (event loop)."""
        self._drain_scheduled = False
        inbox = self._inbox
        for _ in range(APPLY_PER_TURN):
            if not inbox:
                return
            self._apply(inbox.popleft())
        if inbox and not self._drain_scheduled and self._loop is not None:
            self._drain_scheduled = True
            self._loop.call_soon(self._drain)  # the rest after waiting requests

    def body(self, key: str, render: Callable[[], bytes]) -> bytes:
        """The rendered body of ``key``, rendered again only after its state changed.

        ``key`` is ``<kind>/<id>`` for one thing or a kind of ``STALE_BODIES`` for a whole
        view; the caller's ``render`` must depend on that state only.
        """
        cached = self._bodies.get(key)
        if cached is None:
            cached = self._bodies[key] = render()
        return cached

    def _stale(self, event: LiveEvent) -> None:
        bodies = self._bodies
        if not bodies:
            return
        bodies.pop(f"{event.kind}/{event.key}", None)
        for key in STALE_BODIES.get(event.kind, ()):
            bodies.pop(key, None)

    def _apply(self, msg: Message) -> None:
        from_station = parse_station_topic(msg.topic) is not None
        bound = MAX_PAYLOAD_BYTES if from_station else STATE_MAX_BYTES
        if len(msg.payload) > bound:
            self.counters["bad_state_messages"] += 1
            log.warning(
                "ignoring a message of %d bytes on %s (at most %d)",
                len(msg.payload),
                msg.topic,
                bound,
            )
            return
        try:
            event = self._decode(msg.topic, msg.payload)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            self.counters["bad_state_messages"] += 1
            log.warning("ignoring undecodable message on %s: %s", msg.topic, exc)
            return
        if event is not None:
            self.counters[f"{event.kind}_changes"] += 1
            self._stale(event)
            self._notify(event)

    def _decode(self, topic: str, payload: bytes) -> LiveEvent | None:
        parsed = parse_topic(topic)  # gudang/<site>/<level>/...
        levels = parsed[1] if parsed is not None else []
        match levels:
            case ["reply", _]:
                reply = reply_decoder.decode(payload)
                fut = self._pending.pop(reply.request_id, None)
                if fut is not None and not fut.done():
                    fut.set_result(reply)
                return None
            case ["alert", alert_id]:
                if not payload:  # cleared alerts are emptied
                    return (
                        LiveEvent("alert", alert_id, removed=True)
                        if self.alerts.pop(alert_id, None)
                        else None
                    )
                alert = alert_decoder.decode(payload)
                self.alerts[alert.id] = alert
                return LiveEvent("alert", alert.id)
            case ["station", name, "status"]:
                if not payload:
                    self.station_status.pop(name, None)
                else:
                    status = status_decoder.decode(payload)
                    if status.station != name or status.site != self.settings.site.name:
                        raise msgspec.ValidationError(
                            f"status of {status.site}/{status.station} on {name}'s topic"
                        )
                    self.station_status[name] = status
                return LiveEvent("station", name)
            case ["station", _, "receipts"]:
                if self._receipts:
                    for scan_id in receipt_decoder.decode(payload).ids:
                        for waiter in self._receipts.pop(scan_id, ()):
                            if not waiter.done():
                                waiter.set_result(None)
                return None
            case ["station", name, "weight"]:
                reading = weight_decoder.decode(payload)
                if reading.station != name:
                    raise msgspec.ValidationError(f"weight of {reading.station} on {name}'s topic")
                self.weights[name] = reading
                return LiveEvent("weight", name)
            case ["state", "container", number]:
                if not payload:
                    self.containers.pop(number, None)
                    return LiveEvent("container", number, removed=True)
                c = container_state_decoder.decode(payload)
                self.containers[c.container_no] = c
                return LiveEvent("container", c.container_no)
            case ["state", "station", name]:
                if not payload:
                    self.stations.pop(name, None)
                    return LiveEvent("station", name)
                s = station_view_decoder.decode(payload)
                self.stations[s.station] = s
                return LiveEvent("station", s.station)
            case ["state", "stocktake", count_id]:
                if not payload:
                    self.stocktakes.pop(count_id, None)
                    return LiveEvent("stocktake", count_id, removed=True)
                count = stocktake_decoder.decode(payload)
                self.stocktakes[count.id] = count
                return LiveEvent("stocktake", count.id)
            case ["state", "catalogue"]:
                if payload:
                    self._take_catalogue(catalogue_decoder.decode(payload))
                    return LiveEvent("catalogue", "catalogue")
                return None
            case ["state", "alert-routing"]:
                if payload:
                    self._take_alert_routing(alert_routing_decoder.decode(payload))
                    return LiveEvent("alert_routing", "alert_routing")
                return None
            case ["state", "phone-tokens"]:
                tokens = phone_tokens_decoder.decode(payload).tokens if payload else []
                self.phone_tokens = {t.sha256: t for t in tokens}
                return LiveEvent("phone_tokens", "phone_tokens")
            case ["state", "stock"]:
                self.stock = stock_decoder.decode(payload) if payload else StockV1()
                return LiveEvent("stock", "stock")
        return None

    def _take_catalogue(self, catalogue: CatalogueV1) -> None:
        """The services' catalogue replaces the configured one in the settings routes see."""
        try:
            skus = {k: SkuSettings.model_validate(v) for k, v in catalogue.skus.items()}
        except ValidationError as exc:
            raise msgspec.ValidationError(f"catalogue: {exc}") from exc
        floor = self.settings.floor.model_copy(update={"skus": skus})
        self.settings = self.settings.model_copy(update={"floor": floor})
        self.catalogue_at = catalogue.updated_at

    def _take_alert_routing(self, routing: AlertRoutingV1) -> None:
        """The services' alert routing replaces the configured one in the settings routes see."""
        alerts = self.settings.alerts.model_copy(
            update={
                "dashboard_kinds": routing.dashboard_kinds,
                "webhook_kinds": routing.webhook_kinds,
            }
        )
        self.settings = self.settings.model_copy(update={"alerts": alerts})
        self.alert_routing = routing

    def phone_principal(self, sha256: str) -> Principal | None:
        """Who a dashboard-made token is (a phone's: at one station), or None: revoked."""
        token = self.phone_tokens.get(sha256)
        if token is None:
            return None
        return Principal(token.name, token.role, station=token.station)

    def tokens_changed(self) -> None:
        """Tell the open streams that tokens changed: a revoked token's streams end."""
        self._notify(LiveEvent("phone_tokens", "phone_tokens"))

    def station_views(self) -> dict[str, StationViewV1]:
        """Every station, from the services' view or, if not seen there, its own status."""
        names = sorted(set(self.stations) | set(self.station_status))
        views: dict[str, StationViewV1] = {}
        for name in names:
            view = self.stations.get(name)
            if view is None:
                # Not (yet) seen by the services: the bridge's retained status is all there is.
                status = self.station_status.get(name)
                online = status is not None and status.state is StationState.ONLINE
                view = StationViewV1(station=name, mode="unknown", online=online)
            # Otherwise the services decide online: they also time out silent heartbeats,
            # which a hung bridge's retained "online" cannot show.
            views[name] = view
        return views

    def _notify(self, event: LiveEvent) -> None:
        for q in list(self.subscribers):
            if q.full():
                q.get_nowait()  # a slow reader loses the oldest change, not the newest
                self.counters["stream_dropped"] += 1
            q.put_nowait(event)

    def subscribe(self, who: str = "") -> asyncio.Queue[LiveEvent]:
        """A queue of state changes, for a live stream of ``who`` (a token's name)."""
        q: asyncio.Queue[LiveEvent] = asyncio.Queue(SUBSCRIBER_QUEUE)
        self.subscribers.add(q)
        self.streams_of[who] += 1
        return q

    def unsubscribe(self, q: asyncio.Queue[LiveEvent], who: str = "") -> None:
        """Stop delivering changes to a queue."""
        if q in self.subscribers:
            self.subscribers.discard(q)
            self.streams_of[who] -= 1
            if self.streams_of[who] <= 0:
                del self.streams_of[who]

    async def follow_receipts(self, station: str, timeout: float) -> bool:
        """Follow ``station``'s receipts from now on; True once the broker confirmed it."""
        followed = self._receipts_followed.get(station)
        if followed is None or (followed.done() and not followed.result()):
            # Asked for the first time, or refused before (it may be allowed now).
            followed = asyncio.wrap_future(
                self.link.subscribe(self.topics.receipts(station), QOS_RECEIPT)
            )
            self._receipts_followed[station] = followed
        if not followed.done():
            try:
                # Shielded: a request giving up does not cancel the others' wait.
                await asyncio.wait_for(asyncio.shield(followed), timeout)
            except TimeoutError:
                return False
        return followed.result()

    async def publish_and_wait_receipt(
        self, station: str, topic: str, payload: bytes, scan_id: str, timeout: float
    ) -> bool:
        """Publish a scan (or a station's scan command); True once its receipt came in time."""
        if self._loop is None:
            raise CommandFailed("API not started", 503)
        if not self.link.connected:
            raise CommandFailed("broker unreachable: scan not sent", 503)
        deadline = self._loop.time() + timeout
        # Each request its own future: two requests for one id (a resend while the first
        # still waits) both hear the receipt, and one giving up does not cancel the other.
        waiter: asyncio.Future[None] = self._loop.create_future()
        self._receipts.setdefault(scan_id, []).append(waiter)
        try:
            # The station's receipts are followed before its scan leaves, so its receipt
            # cannot come before the broker sends us that topic. Not confirmed (refused,
            # or not in time): sent all the same, as when every receipt was followed.
            await self.follow_receipts(station, timeout)
            self.link.publish(topic, payload, qos=QOS_COMMAND)
            await asyncio.wait_for(waiter, max(0.0, deadline - self._loop.time()))
        except TimeoutError:
            return False
        finally:
            waiters = self._receipts.get(scan_id)
            if waiters is not None:
                if waiter in waiters:
                    waiters.remove(waiter)
                if not waiters:
                    del self._receipts[scan_id]
        return True

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
