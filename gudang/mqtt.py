"""The one place paho-mqtt is used: a small, thread-based MQTT link.

Everything else sees ``Message`` and ``MqttLink``. paho's network thread runs the
callbacks given here; they must never block for long (hand work to a queue).
"""

from __future__ import annotations

import logging
import ssl
import struct
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from gudang.settings import MqttSettings, secret

log = logging.getLogger(__name__)

# Reconnect back-off (paho counts whole seconds): quick first retry, capped so a returning
# broker is found soon.
RECONNECT_MIN_S = 1
RECONNECT_MAX_S = 5
# A PUBACK packet: its type byte, remaining length 2, the message id (MQTT 5, 3.4.2.1:
# reason code and properties may be left out when the reason is success).
PUBACK_HEADER = 0x40
_PUBACK = struct.Struct("!BBH")
# Bytes asked of the socket at once, and chunks read per wake-up of paho's network thread
# before it looks at what it has to write (acknowledgements) again.
RECV_CHUNK = 64 * 1024
RECV_CHUNKS_PER_WAKEUP = 16


class MqttError(Exception):
    """The broker could not be reached or refused us."""


@dataclass(frozen=True, slots=True)
class Message:
    """A received MQTT message, detached from paho."""

    topic: str
    payload: bytes
    qos: int
    retain: bool
    mid: int
    dup: bool = False

    @classmethod
    def _from_paho(cls, msg: paho.MQTTMessage) -> Message:
        return cls(
            topic=msg.topic,
            payload=bytes(msg.payload),
            qos=msg.qos,
            retain=bool(msg.retain),
            mid=msg.mid,
            dup=bool(msg.dup),
        )


@dataclass(frozen=True, slots=True)
class Will:
    """The last will the broker publishes if we vanish."""

    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = True


MessageHandler = Callable[[Message], None]


class _BufferedClient(paho.Client):
    """paho's client, reading the socket in chunks instead of a few bytes at a time.

    paho reads each packet with three or four ``recv`` calls (the command byte, each byte
    of the length, the rest) and handles one packet per ``select``: at thousands of
    messages a second that was a quarter of the services' CPU (docs/performance.md).
    Here ``_sock_recv`` serves those small reads from a buffer filled ``RECV_CHUNK`` bytes
    at a time, and ``loop_read`` goes on until the socket has nothing more to give (or
    ``RECV_CHUNKS_PER_WAKEUP`` chunks were read). It never leaves bytes in the buffer when
    it returns, so ``select`` on the socket still tells when there is more to read.
    paho's packet parsing, acknowledgements and callbacks are unchanged.
    """

    _rbuf = b""
    _rpos = 0
    _chunks_left = 0

    def _sock_recv(self, bufsize: int) -> bytes:
        buf, pos = self._rbuf, self._rpos
        if pos >= len(buf):
            if self._chunks_left <= 0:
                raise BlockingIOError  # paho: nothing to read now (MQTT_ERR_AGAIN)
            self._chunks_left -= 1
            buf = super()._sock_recv(RECV_CHUNK)  # raises BlockingIOError when empty
            if not buf:
                return buf  # closed by the broker
            pos = 0
        end = min(pos + bufsize, len(buf))
        self._rbuf, self._rpos = buf, end
        return buf[pos:end]

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        """Read and handle every packet the socket has now (paho: ``max_packets`` at most)."""
        self._chunks_left = RECV_CHUNKS_PER_WAKEUP
        try:
            while True:
                if self._sock is None:
                    return MQTTErrorCode.MQTT_ERR_NO_CONN
                rc = self._packet_read()
                if rc > 0:
                    return self._loop_rc_handle(rc)
                if rc == MQTTErrorCode.MQTT_ERR_AGAIN and self._rpos >= len(self._rbuf):
                    return MQTTErrorCode.MQTT_ERR_SUCCESS
        finally:
            self._chunks_left = 0

    def _sock_close(self) -> None:
        # Bytes of the old connection must never be read as the new one's.
        self._rbuf, self._rpos = b"", 0
        super()._sock_close()


# paho's private parts the two speed-ups above rely on (tested with paho-mqtt 2.2). A paho
# without them gets its stock client and one PUBACK per message: slower, never wrong.
_PAHO_INTERNALS = ("_sock_recv", "_packet_read", "_loop_rc_handle", "_sock_close", "_packet_queue")
PAHO_INTERNALS_OK = all(hasattr(paho.Client, name) for name in _PAHO_INTERNALS)
if not PAHO_INTERNALS_OK:  # pragma: no cover - depends on the installed paho
    log.warning("this paho-mqtt lacks what gudang.mqtt's chunked reads use: stock client")


class MqttLink:
    """A connection to the broker that reconnects by itself.

    ``persistent=True`` asks for a session that survives disconnects (fixed client id,
    clean start off, session expiry): QoS 1 messages published while we are away wait
    for us. ``manual_ack=True`` leaves PUBACK to ``ack()``, sent once the work is done.
    """

    def __init__(
        self,
        settings: MqttSettings,
        client_id: str,
        *,
        subscriptions: Iterable[tuple[str, int]] = (),
        on_message: MessageHandler | None = None,
        on_published: Callable[[int, bool], None] | None = None,
        on_connection: Callable[[bool], None] | None = None,
        persistent: bool = False,
        manual_ack: bool = False,
        receive_maximum: int | None = None,
        will: Will | None = None,
    ) -> None:
        self.settings = settings
        self.client_id = client_id
        self._subscriptions = list(subscriptions)
        self._on_message = on_message
        self._on_published = on_published
        self._on_connection = on_connection
        self._persistent = persistent
        self._connected = threading.Event()
        self._subscribed = threading.Event()
        self._pending_subs: set[int] = set()
        # Subscriptions added by subscribe(): who waits for the broker's answer, by topic,
        # and the topic of each SUBSCRIBE sent (by its id). _sub_lock keeps them and the list
        # of subscriptions consistent between the caller's thread and paho's.
        self._sub_lock = threading.Lock()
        self._sub_waiters: dict[str, list[Future[bool]]] = {}
        self._sub_topics: dict[int, str] = {}
        self._session_up = False  # under _sub_lock: this connection's subscriptions sent
        self._stopping = False
        self.last_error: str | None = None

        client_class = _BufferedClient if PAHO_INTERNALS_OK else paho.Client
        client = client_class(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=paho.MQTTv5,
            manual_ack=manual_ack,
        )
        if settings.username:
            client.username_pw_set(settings.username, secret(settings.password))
        if settings.tls_ca is not None:
            client.tls_set(
                ca_certs=str(settings.tls_ca),
                certfile=str(settings.tls_cert) if settings.tls_cert else None,
                keyfile=str(settings.tls_key) if settings.tls_key else None,
                tls_version=ssl.PROTOCOL_TLS_CLIENT,
            )
        if will is not None:
            client.will_set(will.topic, will.payload, qos=will.qos, retain=will.retain)
        client.reconnect_delay_set(min_delay=RECONNECT_MIN_S, max_delay=RECONNECT_MAX_S)
        # paho's own queue of outgoing messages is unbounded by default; callers that
        # must not lose a message keep their own durable copy (the bridge's spool).
        client.max_inflight_messages_set(1000)
        client.on_connect = self._handle_connect
        client.on_disconnect = self._handle_disconnect
        client.on_message = self._handle_message
        client.on_publish = self._handle_publish
        client.on_subscribe = self._handle_subscribe
        self._client = client

        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        if persistent:
            props.SessionExpiryInterval = settings.session_expiry_s
        if receive_maximum is not None:
            props.ReceiveMaximum = receive_maximum
        self._connect_props = props

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> None:
        """Connect in the background; reconnects by itself until ``stop()``."""
        self._client.connect_async(
            self.settings.host,
            self.settings.port,
            keepalive=self.settings.keepalive_s,
            clean_start=not self._persistent,
            properties=self._connect_props,
        )
        self._client.loop_start()

    def wait_connected(self, timeout: float) -> bool:
        """Block until connected or the timeout passes."""
        return self._connected.wait(timeout)

    def wait_subscribed(self, timeout: float) -> bool:
        """Block until the broker confirmed every subscription of this connection."""
        return self._subscribed.wait(timeout)

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    @property
    def ready(self) -> bool:
        """Connected, and every subscription confirmed."""
        return self._connected.is_set() and self._subscribed.is_set()

    def stop(self, final: tuple[str, bytes, bool] | None = None) -> None:
        """Disconnect cleanly, publishing ``final`` (topic, payload, retain) first."""
        self._stopping = True
        if final is not None and self.connected:
            info = self._client.publish(final[0], final[1], qos=1, retain=final[2])
            try:
                info.wait_for_publish(timeout=2.0)
            except (RuntimeError, ValueError):
                log.debug("final message on %s not confirmed", final[0])
        self._client.disconnect()
        self._client.loop_stop()
        # paho closes its wake-up socket pair only when garbage-collected; close it now.
        self._client._reset_sockets()
        self._connected.clear()
        with self._sub_lock:
            waiters = [w for ws in self._sub_waiters.values() for w in ws]
            self._sub_waiters.clear()
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(False)

    # -- traffic -------------------------------------------------------------------------
    def publish(self, topic: str, payload: bytes, qos: int = 0, retain: bool = False) -> int:
        """Queue a message for sending; returns its message id (for ``on_published``)."""
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc not in (paho.MQTT_ERR_SUCCESS, paho.MQTT_ERR_NO_CONN):
            raise MqttError(f"publish to {topic} failed: {paho.error_string(info.rc)}")
        return int(info.mid)

    def publish_and_wait(
        self, topic: str, payload: bytes, qos: int = 1, retain: bool = False, timeout: float = 5.0
    ) -> None:
        """Publish and block until the broker acknowledged it (QoS 1)."""
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        info.wait_for_publish(timeout=timeout)
        if not info.is_published():
            raise MqttError(f"publish to {topic} not acknowledged within {timeout}s")

    def ack(self, message: Message) -> None:
        """Send the PUBACK of a message received with manual acknowledgement."""
        if message.qos > 0:
            self._client.ack(message.mid, message.qos)

    def ack_all(self, messages: Iterable[Message]) -> None:
        """Acknowledge messages received with manual acknowledgement, in this order.

        The same PUBACK packets ``ack()`` sends one by one (QoS 1, reason success, no
        properties: four bytes each), queued as one write: acknowledging a batch of
        hundreds then costs one wake-up of paho's thread and one ``send``, not one each.
        """
        if not PAHO_INTERNALS_OK:
            for message in messages:
                self.ack(message)
            return
        pubacks = bytearray()
        for message in messages:
            if message.qos == 1:
                pubacks += _PUBACK.pack(PUBACK_HEADER, 2, message.mid)
            elif message.qos > 1:
                self._client.ack(message.mid, message.qos)  # not used by Gudang
        if pubacks and self._client._manual_ack:
            self._client._packet_queue(PUBACK_HEADER, bytes(pubacks), 0, 0)

    def subscribe(self, topic: str, qos: int = 1) -> Future[bool]:
        """Add a subscription (kept across reconnects; once only, however often asked).

        The future is True once the broker granted it (on this connection or, asked while
        away, on the next), False if it refused it or the link stopped first.
        """
        waiter: Future[bool] = Future()
        with self._sub_lock:
            if (topic, qos) not in self._subscriptions:
                self._subscriptions.append((topic, qos))
            self._sub_waiters.setdefault(topic, []).append(waiter)
            if self._session_up:  # else _handle_connect subscribes it
                rc, mid = self._client.subscribe(topic, qos)
                if rc == paho.MQTT_ERR_SUCCESS and mid is not None:
                    self._sub_topics[mid] = topic
        return waiter

    # -- paho callbacks (network thread) -------------------------------------------------
    def _handle_connect(
        self,
        client: paho.Client,
        userdata: object,
        flags: paho.ConnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason_code.is_failure:
            self.last_error = f"broker refused connection: {reason_code}"
            log.error("MQTT %s: %s", self.client_id, self.last_error)
            return
        self.last_error = None
        log.info(
            "MQTT %s connected to %s:%s (session present: %s)",
            self.client_id,
            self.settings.host,
            self.settings.port,
            flags.session_present,
        )
        self._subscribed.clear()
        self._pending_subs.clear()
        with self._sub_lock:
            self._sub_topics.clear()
            for topic, qos in self._subscriptions:
                rc, mid = client.subscribe(topic, qos)
                if rc == paho.MQTT_ERR_SUCCESS and mid is not None:
                    self._pending_subs.add(mid)
                    self._sub_topics[mid] = topic
            self._session_up = True
        if not self._pending_subs:
            self._subscribed.set()
        self._connected.set()
        if self._on_connection:
            self._on_connection(True)

    def _handle_disconnect(
        self,
        client: paho.Client,
        userdata: object,
        flags: paho.DisconnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        was = self._connected.is_set()
        self._connected.clear()
        with self._sub_lock:
            self._session_up = False
        if not self._stopping:
            self.last_error = f"disconnected: {reason_code}"
            log.warning("MQTT %s disconnected (%s); reconnecting", self.client_id, reason_code)
        if was and self._on_connection:
            self._on_connection(False)

    def _handle_subscribe(
        self,
        client: paho.Client,
        userdata: object,
        mid: int,
        reason_codes: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        refused = [str(rc) for rc in reason_codes if rc.is_failure]
        if refused:
            log.error("MQTT %s: subscription refused: %s", self.client_id, ", ".join(refused))
        with self._sub_lock:
            topic = self._sub_topics.pop(mid, None)
            waiters = self._sub_waiters.pop(topic, []) if topic is not None else []
        for waiter in waiters:  # one topic per SUBSCRIBE: its reason code is the answer
            if not waiter.done():
                waiter.set_result(not refused)
        self._pending_subs.discard(mid)
        if not self._pending_subs:
            self._subscribed.set()

    def _handle_message(self, client: paho.Client, userdata: object, msg: paho.MQTTMessage) -> None:
        if self._on_message is not None:
            self._on_message(Message._from_paho(msg))

    def _handle_publish(
        self,
        client: paho.Client,
        userdata: object,
        mid: int,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if self._on_published is not None:
            self._on_published(mid, not reason_code.is_failure)
