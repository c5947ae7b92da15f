"""The station bridge: scanner + scale on serial ports -> paired scans -> spool -> MQTT.

A scan leaves the spool on the services' receipt, not on the broker's PUBACK
(firmware_bridge.sender).
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
import time
import uuid
from collections import Counter, OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime

import msgspec

from firmware_bridge.hid_device import HidDevice
from firmware_bridge.pairing import NO_READING, PairedWeight, ScaleWatch
from firmware_bridge.protocols import SCALE_PROTOCOLS
from firmware_bridge.protocols.base import (
    WEIGHED,
    ParseError,
    ScaleProtocol,
    ScaleReading,
    ScaleStatus,
)
from firmware_bridge.protocols.scanner import ScanFrame, make_scan_splitter, parse_scan
from firmware_bridge.protocols.stability import StabilityJudge
from firmware_bridge.sender import SpoolSender
from firmware_bridge.serial_device import SerialDevice
from firmware_bridge.spool import Spool, SpoolFull
from gudang.barcodes import BarcodeError, StationCard, is_container_label
from gudang.mqtt import Message, MqttLink, Will
from gudang.settings import ConfigError, DeviceSettings, Settings
from gudang.wire import (
    QOS_COMMAND,
    QOS_RECEIPT,
    QOS_STATUS,
    QOS_WEIGHT,
    DeviceStateV1,
    QcResult,
    RefusedScanV1,
    ScanKind,
    ScanV1,
    StationState,
    StationStatusV1,
    Topics,
    WeightReadingV1,
    WeightStatus,
    encode,
    station_command_decoder,
)

log = logging.getLogger(__name__)

# A scanner without a suffix: this pause ends a frame.
SCANNER_IDLE_FLUSH_S = 0.3
# Scans waiting for pairing, at most; a worker cannot scan faster than this drains.
SCAN_QUEUE = 1000
# Ids of scans taken from the command topic that the bridge remembers: a command resent
# (the phone did not hear back) or redelivered after its spool row was receipted is not
# weighed and counted again. Past this many, the services' id check still holds.
RECENT_COMMAND_IDS = 4096
# A phone's scan reaches the bridge well within a second. One older than this on arrival
# waited in the bridge's MQTT session while the bridge was away: the drum on the scale now
# is not that scan's, so it is spooled unweighed.
COMMAND_SCAN_LATE_S = 10.0

# After an unexpected error a bridge thread waits this long before it carries on, doubling
# while the error repeats, up to THREAD_BACKOFF_MAX_S: a full disk does not clear in a
# second, and a thread failing in a tight loop would fill the log (and the disk) instead.
THREAD_BACKOFF_S = 1.0
THREAD_BACKOFF_MAX_S = 30.0
# A thread that ran this long since its last error starts its back-off afresh.
THREAD_HEALTHY_S = 60.0
# A fault's reason in the status is cut to this many characters (the status stays small).
FAULT_REASON_MAX = 300

# A scan waiting for pairing: what was read, the wall-clock time, the monotonic time, and
# the scan's id when it came with one (a scan from the command topic).
QueuedScan = tuple[ScanFrame, datetime, float, str | None]


class Bridge:
    """One station: reads its devices, pairs, spools and publishes."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.site = settings.site.name
        self.station = settings.station.name
        self.topics = Topics(self.site)
        self.counters: Counter[str] = Counter()
        try:
            self.spool = Spool(settings.station.spool_path, settings.station.spool_capacity)
        except (sqlite3.Error, OSError) as exc:
            raise ConfigError(
                f"station.spool_path: cannot open the spool {settings.station.spool_path}: {exc}"
            ) from exc
        self.scale_watch = ScaleWatch(min_weight_kg=settings.station.min_weight_kg)
        self._scale_protocol: ScaleProtocol | None = None
        self._scale: SerialDevice | None = None
        self._stability: StabilityJudge | None = None  # scales whose frames have no stable flag
        self._devices: dict[str, tuple[DeviceSettings, SerialDevice | HidDevice]] = {}
        self._scans: queue.Queue[QueuedScan] = queue.Queue(SCAN_QUEUE)
        self._command_ids: OrderedDict[str, None] = OrderedDict()  # pairing thread only
        self._next_qc: QcResult | None = None  # a QC card's verdict for the next drum
        self._stop = threading.Event()
        self._nearly_full = False
        self._weight_last: tuple[float, float | None, str] | None = None  # at, kg, status
        # What is wrong inside the bridge now, by where (a thread, the spool): the status's
        # ``error``; a part's entry goes once it works again.
        self._faults: dict[str, str] = {}
        self._faults_lock = threading.Lock()
        self._refused: RefusedScanV1 | None = None  # the newest scan that was not spooled
        self.sender = SpoolSender(
            self.spool,
            self.station,
            self.topics.receipts(self.station),
            settings.station.receipt_timeout_s,
            self.counters,
            on_deleted=self._check_spool_level,
            on_cycle=lambda: self._recovered("publish"),
        )
        self._threads: list[threading.Thread] = []

        for dev in settings.station.devices:
            device: SerialDevice | HidDevice
            if dev.role == "scanner" and dev.protocol == "hid":
                # A USB keyboard scanner: key events decoded to the same frames.
                device = HidDevice(
                    dev,
                    self._on_scan_frame,
                    self._state_handler(dev),
                    idle_flush_s=SCANNER_IDLE_FLUSH_S,
                )
            elif dev.role == "scanner":
                device = SerialDevice(
                    dev,
                    make_scan_splitter,
                    self._on_scan_frame,
                    self._state_handler(dev),
                    idle_flush_s=SCANNER_IDLE_FLUSH_S,
                )
            else:
                proto = SCALE_PROTOCOLS[dev.protocol]
                self._scale_protocol = proto
                self.scale_watch.polled = not proto.streaming
                if not proto.flags_stability:
                    self._stability = StabilityJudge(dev.stable_frames, dev.stable_tolerance_kg)
                device = SerialDevice(
                    dev, proto.make_splitter, self._on_scale_frame, self._state_handler(dev)
                )
                self._scale = device
            self._devices[dev.name] = (dev, device)

        # A persistent session: receipts sent while the bridge is away wait for it.
        self.link = MqttLink(
            settings.mqtt,
            settings.mqtt.client_id or f"gudang-bridge-{self.site}-{self.station}",
            subscriptions=[
                (self.topics.receipts(self.station), QOS_RECEIPT),
                (self.topics.station_command(self.station), QOS_COMMAND),
            ],
            on_message=self._on_message,
            on_published=self.sender.on_published,
            on_connection=self._on_connection,
            persistent=True,
            will=Will(self.topics.status(self.station), encode(self._status(online=False))),
        )
        self.sender.link = self.link

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        """Open the devices, connect, and start pairing and publishing."""
        for target, name in (
            (self._pair_loop, "pairing"),
            (lambda: self.sender.run(self._stop), "publish"),
            (self._heartbeat_loop, "heartbeat"),
        ):
            t = threading.Thread(target=self._guarded(name, target), name=name, daemon=True)
            t.start()
            self._threads.append(t)
        for _dev, device in self._devices.values():
            device.start()
        self.link.start()
        log.info(
            "bridge %s/%s started with %d devices; %d scans spooled",
            self.site,
            self.station,
            len(self._devices),
            self.spool.depth,
        )

    def stop(self) -> None:
        """Stop devices and threads; publish offline and disconnect."""
        self._stop.set()
        self.sender.wake()
        for _dev, device in self._devices.values():
            device.stop()
        for t in self._threads:
            t.join(timeout=5)
        self._pair_leftovers()
        self.link.stop(
            final=(self.topics.status(self.station), encode(self._status(online=False)), True)
        )
        self.sender.settle()  # acknowledgements and receipts that came in while stopping
        self.spool.close()

    # -- faults: nothing inside the bridge fails silently ----------------------------------
    def _guarded(self, name: str, body: Callable[[], None]) -> Callable[[], None]:
        """``body`` run until the bridge stops, started again with back-off after an error."""

        def run() -> None:
            backoff = THREAD_BACKOFF_S
            while not self._stop.is_set():
                started = time.monotonic()
                try:
                    body()
                    return  # the loops return once the bridge stops
                except Exception as exc:
                    self._fault(name, f"{name} thread: {type(exc).__name__}: {exc}", exc)
                if time.monotonic() - started > THREAD_HEALTHY_S:
                    backoff = THREAD_BACKOFF_S
                log.warning("%s thread carries on in %.0fs", name, backoff)
                if self._stop.wait(backoff):
                    return
                backoff = min(backoff * 2, THREAD_BACKOFF_MAX_S)

        return run

    def _fault(self, where: str, reason: str, exc: BaseException) -> None:
        """An unexpected error: logged with its traceback, counted, shown in the status."""
        self.counters["errors"] += 1
        self.counters[f"errors_{where}"] += 1
        log.error("%s: %s", where, reason, exc_info=exc)
        with self._faults_lock:
            self._faults[where] = reason[:FAULT_REASON_MAX]
        self._publish_status_safely()

    def _recovered(self, where: str) -> None:
        """``where`` works again: its fault leaves the status."""
        if where not in self._faults:  # the common case, without the lock
            return
        with self._faults_lock:
            reason = self._faults.pop(where, None)
        if reason is not None:
            log.info("%s works again (it failed with: %s)", where, reason)
            self._publish_status_safely()

    def _refuse(self, label: str, reason: str) -> None:
        """A scan that will not be stored: counted, and its worker told on the station screen."""
        self.counters["scans_refused"] += 1
        log.error("scan %r NOT SAVED, the worker must scan it again: %s", label, reason)
        self._refused = RefusedScanV1(at=datetime.now(UTC), label=label, reason=reason)
        self._publish_status_safely()

    def _publish_status_safely(self) -> None:
        try:
            self.publish_status()
        except Exception:  # reporting a fault must not raise one of its own
            log.exception("could not publish the station status")

    @property
    def error(self) -> str:
        """What is wrong inside the bridge now; empty while it works."""
        with self._faults_lock:
            return "; ".join(self._faults.values())

    @property
    def scans_waiting(self) -> int:
        """Scans read but not paired yet (the one being weighed is not counted)."""
        return self._scans.qsize()

    def device_states(self) -> dict[str, str]:
        """Each device's state: connected, disconnected or error."""
        return {name: device.state for name, (_d, device) in self._devices.items()}

    # -- status ----------------------------------------------------------------------------
    @property
    def spool_nearly_full(self) -> bool:
        """True when the spool holds its nearly-full share of its capacity or more."""
        st = self.settings.station
        return self.spool.depth >= st.spool_nearly_full_ratio * self.spool.capacity

    def _status(self, online: bool) -> StationStatusV1:
        return StationStatusV1(
            site=self.site,
            station=self.station,
            state=StationState.ONLINE if online else StationState.OFFLINE,
            ts=datetime.now(UTC),
            heartbeat_s=self.settings.station.heartbeat_s,
            devices=[
                DeviceStateV1(
                    name=d.name,
                    role=d.role,
                    state=device.state,  # type: ignore[arg-type]
                    detail=device.detail,
                )
                for d, device in self._devices.values()
            ],
            spool_depth=self.spool.depth,
            spool_capacity=self.spool.capacity,
            spool_nearly_full=self.spool_nearly_full,
            spool_unconfirmed=self.sender.unconfirmed,
            error=self.error,
            errors=self.counters["errors"],
            scans_refused=self.counters["scans_refused"],
            refused=self._refused,
        )

    def publish_status(self) -> None:
        """Publish the retained online status with devices and spool depth."""
        if self.link.connected:
            self.link.publish(
                self.topics.status(self.station),
                encode(self._status(True)),
                qos=QOS_STATUS,
                retain=True,
            )
            self.counters["status_published"] += 1

    def _check_spool_level(self) -> None:
        nearly_full = self.spool_nearly_full
        if nearly_full != self._nearly_full:
            self._nearly_full = nearly_full
            if nearly_full:
                log.warning(
                    "spool %s nearly full: %d of %d",
                    self.spool.path,
                    self.spool.depth,
                    self.spool.capacity,
                )
            else:
                log.info("spool %s below its nearly-full mark again", self.spool.path)
            self.publish_status()

    def _state_handler(self, dev: DeviceSettings) -> Callable[[str, str], None]:
        def handle(state: str, detail: str) -> None:
            log.info("device %s (%s): %s %s", dev.name, dev.role, state, detail)
            if dev.role == "scale":
                self.scale_watch.set_connected(state != "disconnected")  # "error": still open
                if state == "disconnected" and self._stability is not None:
                    self._stability.reset()
            self.publish_status()

        return handle

    def _on_connection(self, connected: bool) -> None:
        self.sender.on_connection(connected)
        if connected:
            self.publish_status()

    def _heartbeat_loop(self) -> None:
        while not self._stop.wait(self.settings.station.heartbeat_s):
            self.publish_status()
            self._recovered("heartbeat")

    # -- messages (paho's thread: hand over, never block) ---------------------------------
    def _on_message(self, msg: Message) -> None:
        if msg.topic == self.topics.station_command(self.station):
            self._on_command(msg)
        else:
            self.sender.on_message(msg)

    def _on_command(self, msg: Message) -> None:
        """A scan from the command topic (a phone's): queued for pairing like a serial scan."""
        try:
            cmd = station_command_decoder.decode(msg.payload)
            frame = ScanFrame(cmd.barcode, cmd.symbology)
        except (msgspec.DecodeError, ValueError) as exc:
            self.counters["bad_commands"] += 1
            log.warning("command topic: dropped %r: %s", msg.payload[:200], exc)
            return
        at = time.monotonic()
        if cmd.sent_at is not None:
            late = (datetime.now(UTC) - cmd.sent_at).total_seconds()
            if late > COMMAND_SCAN_LATE_S:
                at = -1.0  # not weighed (see _pair)
        try:
            self._scans.put_nowait((frame, cmd.ts, at, cmd.id))
        except queue.Full:
            # Not spooled: the phone hears no receipt and sends it again.
            self.counters["scans_refused"] += 1
            log.error("command scan %s refused: %d scans wait for pairing", cmd.id, SCAN_QUEUE)
        else:
            self.counters["command_scans"] += 1

    # -- devices (reader threads) ----------------------------------------------------------
    def _on_scan_frame(self, frame: bytes, at: float) -> None:
        now = datetime.now(UTC)
        try:
            scan = parse_scan(frame)
        except ParseError as exc:
            self.counters["scanner_bad_frames"] += 1
            log.warning("scanner: dropped frame: %s", exc)
            return
        try:
            self._scans.put_nowait((scan, now, at, None))
        except queue.Full:
            self._refuse(scan.text, f"{SCAN_QUEUE} scans wait for pairing")

    def _on_scale_frame(self, frame: bytes, at: float) -> None:
        assert self._scale_protocol is not None
        try:
            reading = self._scale_protocol.parse(frame)
        except ParseError as exc:
            self.counters["scale_bad_frames"] += 1
            log.warning("scale: dropped frame: %s", exc)
            if self._stability is not None:
                self._stability.reset()  # a garbled frame breaks a run of equal ones
            self.scale_watch.feed(None, at)  # still a reply: the poll was answered
            return
        if self._stability is not None:
            reading = self._stability.judge(reading)
        self.scale_watch.feed(reading, at)
        self._publish_weight(reading, at)
        if self._scale is not None:
            if reading.status is ScaleStatus.ERROR:
                self._scale.mark(reading.detail or "the scale reports an error")
            elif reading.status in WEIGHED:
                self._scale.mark(None)

    def _publish_weight(self, reading: ScaleReading, at: float) -> None:
        """Live reading for displays: on change, at most ``weight_publish_hz`` (QoS 0)."""
        hz = self.settings.station.weight_publish_hz
        if hz <= 0 or not self.link.connected:
            return
        last = self._weight_last
        if last is not None:
            if (last[1], last[2]) == (reading.weight_kg, reading.status.value):
                return
            if at - last[0] < 1.0 / hz:
                return
        self._weight_last = (at, reading.weight_kg, reading.status.value)
        payload = WeightReadingV1(
            ts=datetime.now(UTC),
            station=self.station,
            weight_kg=reading.weight_kg,
            stable=reading.stable,
            status=reading.status,
        )
        self.link.publish(self.topics.weight(self.station), encode(payload), qos=QOS_WEIGHT)
        self.counters["weights_published"] += 1

    # -- pairing ---------------------------------------------------------------------------
    def _weigh(self, since: float) -> PairedWeight:
        if self._scale is None or self._scale_protocol is None:
            return PairedWeight(None, False, WeightStatus.NO_SCALE)
        deadline = since + self.settings.station.pairing_window_s
        poll = None
        command = self._scale_protocol.poll_command
        if not self._scale_protocol.streaming and command is not None:
            scale = self._scale

            def poll() -> bool:
                return scale.write(command)

        return self.scale_watch.wait_after(since, deadline, poll)

    def _poll_between_scans(self) -> None:
        """A polled scale is read between scans too, at ``weight_publish_hz``: the live weight
        on the station screen, and the services' checks of the empty platter (scale_drift)."""
        hz = self.settings.station.weight_publish_hz
        proto, scale = self._scale_protocol, self._scale
        if hz <= 0 or scale is None or proto is None or proto.streaming:
            return
        command = proto.poll_command
        if command is not None:
            self.scale_watch.poll_idle(lambda: scale.write(command), 1.0 / hz)

    def _pair_loop(self) -> None:
        while not self._stop.is_set():
            try:
                frame, ts, at, scan_id = self._scans.get(timeout=0.2)
            except queue.Empty:
                self._poll_between_scans()
                continue
            try:
                self._pair(frame, ts, at, scan_id=scan_id)
            except Exception as exc:
                # The scan in hand is lost: its worker hears it now; the guard logs and
                # counts the error, backs off and carries on with the scans still queued.
                self._refuse(frame.text, f"the station failed ({type(exc).__name__}: {exc})")
                raise

    def _pair_leftovers(self) -> None:
        """Scans still waiting when the bridge stops: spooled unweighed, never dropped."""
        while True:
            try:
                frame, ts, at, scan_id = self._scans.get_nowait()
            except queue.Empty:
                return
            self._pair(frame, ts, at, weigh=False, scan_id=scan_id)

    def _seen_command(self, scan_id: str) -> bool:
        """Whether this command scan was taken already; remembers it if not."""
        if scan_id in self._command_ids or self.spool.holds(scan_id):
            self.counters["command_scans_repeated"] += 1
            return True
        self._command_ids[scan_id] = None
        if len(self._command_ids) > RECENT_COMMAND_IDS:
            self._command_ids.popitem(last=False)
        return False

    def _pair(
        self,
        frame: ScanFrame,
        ts: datetime,
        at: float,
        weigh: bool = True,
        scan_id: str | None = None,
    ) -> None:
        if scan_id is not None and self._seen_command(scan_id):
            return
        barcode, qc = frame.text, None
        try:
            card = StationCard.parse(frame.text)
        except BarcodeError as exc:
            self.counters["scanner_bad_cards"] += 1
            log.warning("scanner: dropped: %s", exc)
            return
        if card is not None and card.qc is not None:
            self._next_qc = QcResult(card.qc)  # for the next drum; a second card replaces it
            log.info("QC card: the next drum is %s", card.qc)
            return
        if card is not None and card.supplier is not None:
            barcode = card.supplier
            kind, weight = ScanKind.SUPPLIER, PairedWeight(None, False, WeightStatus.NO_SCALE)
        elif is_container_label(frame.text):
            kind, weight = ScanKind.CONTAINER, PairedWeight(None, False, WeightStatus.NO_SCALE)
        elif not weigh and self._scale is not None:
            kind = ScanKind.DRUM
            weight = PairedWeight(None, False, WeightStatus.ERROR, "the bridge stopped first")
        elif at < 0 and self._scale is not None:
            kind = ScanKind.DRUM
            weight = PairedWeight(None, False, WeightStatus.NO_STABLE, "arrived late: not weighed")
        else:
            kind, weight = ScanKind.DRUM, self._weigh(at)
        if kind is ScanKind.DRUM:
            qc, self._next_qc = self._next_qc, None
        if weight.detail == NO_READING and self._scale is not None:
            self._scale.mark(weight.detail)  # connected, but mute: in error
        if weight.status not in (WeightStatus.STABLE, WeightStatus.NO_SCALE):
            self.counters[f"weight_{weight.status.value}"] += 1
            log.info("scan %r: %s (%s)", frame.text, weight.status.value, weight.detail)
        scan = ScanV1(
            id=scan_id or uuid.uuid4().hex,
            ts=ts,
            site=self.site,
            station=self.station,
            barcode=barcode,
            symbology=frame.symbology,
            kind=kind,
            weight_kg=weight.weight_kg,
            weight_stable=weight.stable,
            weight_status=weight.status,
            qc=qc,
        )
        self.accept(scan)

    def accept(self, scan: ScanV1) -> None:
        """Spool a scan durably; it is published from the spool."""
        try:
            self.spool.put(self.topics.scan(self.station), encode(scan), scan.id)
        except SpoolFull as exc:
            self._refuse(scan.barcode, str(exc))
            return
        except (sqlite3.Error, OSError) as exc:
            # A full or failing SD card: nothing is stored, so nothing may be acknowledged.
            self.counters["spool_write_errors"] += 1
            self._fault("spool", f"cannot write the spool {self.spool.path}: {exc}", exc)
            self._refuse(scan.barcode, f"the station cannot write its spool: {exc}")
            return
        self._recovered("spool")
        self._recovered("pairing")
        self.counters["scans"] += 1
        self._check_spool_level()
        self.sender.wake()


def run_bridge(settings: Settings, stop: threading.Event) -> None:
    """Run a bridge until ``stop`` is set."""
    bridge = Bridge(settings)
    bridge.start()
    try:
        while not stop.wait(1.0):
            pass
    finally:
        bridge.stop()
