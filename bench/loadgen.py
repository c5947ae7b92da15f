"""A load generator that acts as many packing stations over MQTT and keeps a ledger.

Each station publishes realistic ``ScanV1`` payloads (a drum label, a stable weight, the
device time) at QoS 1 on its own scan topic, like a bridge draining its spool. Every
scan id goes into the ledger; a scan counts as *accepted* once the broker sent its
PUBACK. Publishing runs in worker processes (``multiprocessing``) because one Python
process cannot both publish and be measured at high rates on its own.

Publish times are ``time.monotonic()`` values, comparable across processes on Linux
(CLOCK_MONOTONIC is system-wide), so the bench can pair them with arrival times.
"""

from __future__ import annotations

import multiprocessing as mp
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode
from stdnum import iso6346

from gudang.wire import QOS_SCAN, QcResult, ScanKind, ScanV1, Topics, WeightStatus, encode

# Unacknowledged QoS 1 messages per publisher connection, at most: a bridge keeps a
# window too (firmware_bridge.bridge.PUBLISH_WINDOW); without one paho queues unboundedly.
PUBLISH_WINDOW = 1000
# Paced publishing sends a small burst every tick; 5 ms keeps bursts short at 10k/s.
PACE_TICK_S = 0.005
# How long a worker waits for the last PUBACKs before it reports what it has.
ACK_WAIT_S = 30.0
# A drum serial has at most 10 digits (settings.floor.drum_pattern); see drum_label().
MAX_SEQ = 999_999


def container_number(owner: str, serial: int) -> str:
    """A valid ISO 6346 number (check digit computed): ``owner`` is 3 letters."""
    body = f"{owner.upper()}U{serial:06d}"
    return body + str(iso6346.calc_check_digit(body))


def drum_label(phase: int, station_index: int, seq: int) -> str:
    """A unique internal drum code of SKU JMB-L (7-12 kg): ``CB-JMB-L-PSSSQQQQQQ``."""
    if not (0 <= phase <= 9 and 0 <= station_index <= 999 and 0 <= seq <= MAX_SEQ):
        raise ValueError(f"drum label out of range: {phase=} {station_index=} {seq=}")
    return f"CB-JMB-L-{phase}{station_index:03d}{seq:06d}"


def scan_id(run: str, station: str, seq: int) -> str:
    """The ledger's id of one scan: unique per run, station and sequence number."""
    return f"{run}-{station}-{seq:07d}"


def station_scan(
    site: str,
    station: str,
    barcode: str,
    weight_kg: float | None = 9.5,
    kind: ScanKind = ScanKind.DRUM,
    qc: QcResult | None = None,
    *,
    sid: str | None = None,
    ts: datetime | None = None,
    symbology: str | None = None,
) -> ScanV1:
    """A scan as a station's bridge publishes it: a drum's weight, when it has one, is stable."""
    return ScanV1(
        id=sid or uuid.uuid4().hex,
        ts=ts or datetime.now(UTC),
        site=site,
        station=station,
        barcode=barcode,
        symbology=symbology,
        kind=kind,
        weight_kg=weight_kg if kind is ScanKind.DRUM else None,
        weight_stable=weight_kg is not None and kind is ScanKind.DRUM,
        weight_status=WeightStatus.STABLE if weight_kg is not None else WeightStatus.NO_SCALE,
        qc=qc,
    )


def drum_scan(
    site: str,
    station: str,
    sid: str,
    barcode: str,
    weight_kg: float = 9.5,
    ts: datetime | None = None,
) -> ScanV1:
    """A realistic drum scan with a stable weight, as a bridge publishes it."""
    # Code 128, not GS1: the internal drum code
    return station_scan(site, station, barcode, weight_kg, sid=sid, ts=ts, symbology="]C0")


def label_scan(site: str, station: str, container_no: str) -> ScanV1:
    """A container-label scan: points the station at the container."""
    return station_scan(site, station, container_no, None, ScanKind.CONTAINER)


@dataclass(frozen=True)
class WorkerPlan:
    """What one publisher process sends."""

    host: str
    port: int
    site: str
    run: str
    phase: int
    stations: tuple[tuple[int, str], ...]  # (station index, station name)
    per_station: int  # scans each station sends
    rate: float  # scans/s of this worker in all; 0 = as fast as the window allows
    qos: int = QOS_SCAN
    seq_start: int = 0


@dataclass
class WorkerResult:
    """What one publisher process did: ids sent and acknowledged, and when."""

    published: int = 0
    acked: int = 0
    refused: int = 0
    first_publish: float = 0.0
    last_publish: float = 0.0
    last_ack: float = 0.0
    # station -> monotonic publish time of each scan, in sequence order
    publish_times: dict[str, list[float]] = field(default_factory=dict)
    error: str | None = None


def _order(plan: WorkerPlan) -> Iterator[tuple[int, str, int]]:
    """Round-robin over the stations: what a floor of busy stations looks like."""
    for seq in range(plan.seq_start, plan.seq_start + plan.per_station):
        for index, name in plan.stations:
            yield index, name, seq


def _messages(plan: WorkerPlan, topics: Topics) -> Iterator[tuple[str, str, bytes]]:
    """(station, topic, payload) of every scan of the plan, in publishing order."""
    for index, name, seq in _order(plan):
        sid = scan_id(plan.run, name, seq)
        scan = drum_scan(plan.site, name, sid, drum_label(plan.phase, index, seq))
        yield name, topics.scan(name), encode(scan)


def run_worker(plan: WorkerPlan) -> WorkerResult:
    """Publish the plan's scans (blocking) and report; runs in a worker process."""
    result = WorkerResult(publish_times={name: [] for _i, name in plan.stations})
    topics = Topics(plan.site)
    lock = threading.Condition()
    outstanding: set[int] = set()

    def on_publish(
        client: paho.Client, userdata: object, mid: int, rc: ReasonCode, props: object
    ) -> None:
        with lock:
            if mid in outstanding:
                outstanding.discard(mid)
                if rc.is_failure:
                    result.refused += 1
                else:
                    result.acked += 1
                result.last_ack = time.monotonic()
                lock.notify_all()

    client = paho.Client(
        CallbackAPIVersion.VERSION2,
        client_id=f"bench-pub-{plan.run}-{uuid.uuid4().hex[:6]}",
        protocol=paho.MQTTv5,
    )
    client.max_inflight_messages_set(PUBLISH_WINDOW)
    client.max_queued_messages_set(0)
    client.on_publish = on_publish
    connected = threading.Event()
    client.on_connect = lambda *a: connected.set()
    client.connect(plan.host, plan.port, keepalive=30)
    client.loop_start()
    try:
        if not connected.wait(15):
            result.error = "publisher could not connect"
            return result
        total = plan.per_station * len(plan.stations)
        interval = 1.0 / plan.rate if plan.rate > 0 else 0.0
        messages: Iterable[tuple[str, str, bytes]] = _messages(plan, topics)
        if not interval:
            # Flat out, the publisher's own CPU bounds the rate: encode before the clock
            # starts (device times are then up to a run's length old, well within skew).
            messages = list(messages)
        start = time.monotonic()
        result.first_publish = start
        for n, (name, topic, payload) in enumerate(messages):
            if interval:
                due = start + n * interval
                delay = due - time.monotonic()
                if delay > PACE_TICK_S:
                    time.sleep(delay)
            with lock:
                while len(outstanding) >= PUBLISH_WINDOW:
                    lock.wait(1.0)
            now = time.monotonic()
            info = client.publish(topic, payload, qos=plan.qos)
            result.publish_times[name].append(now)
            with lock:
                if plan.qos > 0:
                    outstanding.add(info.mid)
                else:
                    result.acked += 1
            result.published += 1
        result.last_publish = time.monotonic()
        deadline = time.monotonic() + ACK_WAIT_S
        with lock:
            while outstanding and time.monotonic() < deadline:
                lock.wait(0.5)
        if result.acked + result.refused < total:
            result.error = f"{total - result.acked - result.refused} scans never acknowledged"
    finally:
        client.disconnect()
        client.loop_stop()
    return result


def split_plan(
    host: str,
    port: int,
    site: str,
    run: str,
    phase: int,
    stations: Sequence[str],
    per_station: int,
    rate: float,
    workers: int,
    qos: int = QOS_SCAN,
    seq_start: int = 0,
) -> list[WorkerPlan]:
    """Spread stations (and the rate) over ``workers`` publisher processes."""
    indexed = list(enumerate(stations))
    workers = max(1, min(workers, len(indexed)))
    groups = [tuple(indexed[i::workers]) for i in range(workers)]
    return [
        WorkerPlan(
            host=host,
            port=port,
            site=site,
            run=run,
            phase=phase,
            stations=g,
            per_station=per_station,
            rate=rate * len(g) / len(indexed) if rate > 0 else 0.0,
            qos=qos,
            seq_start=seq_start,
        )
        for g in groups
    ]


class Load:
    """Publisher processes running a set of plans; ``join()`` returns their results."""

    def __init__(self, plans: Sequence[WorkerPlan]) -> None:
        ctx = mp.get_context("spawn")  # no paho threads or sockets inherited by a fork
        self._pool = ctx.Pool(len(plans))
        self._async = self._pool.map_async(run_worker, plans)

    def ready(self) -> bool:
        """Whether every worker finished."""
        return self._async.ready()

    def join(self, timeout: float = 600.0) -> list[WorkerResult]:
        """Wait for the workers and return what each did."""
        try:
            return self._async.get(timeout)
        finally:
            self._pool.close()
            self._pool.join()


@dataclass
class Ledger:
    """Every scan a generator sent, and what the broker acknowledged."""

    results: list[WorkerResult]

    @property
    def sent(self) -> int:
        return sum(r.published for r in self.results)

    @property
    def accepted(self) -> int:
        return sum(r.acked for r in self.results)

    @property
    def errors(self) -> list[str]:
        return [r.error for r in self.results if r.error]

    def publish_times(self) -> dict[str, list[float]]:
        """Station -> publish times in sequence order, over all workers."""
        out: dict[str, list[float]] = {}
        for r in self.results:
            out.update(r.publish_times)
        return out

    @property
    def first_publish(self) -> float:
        return min(r.first_publish for r in self.results)

    @property
    def last_publish(self) -> float:
        return max(r.last_publish for r in self.results)

    @property
    def last_ack(self) -> float:
        return max(r.last_ack for r in self.results)


def ids_of(run: str, stations: Sequence[str], per_station: int, seq_start: int = 0) -> set[str]:
    """The ledger's ids for a plan (they are derived, so nothing large crosses processes)."""
    return {
        scan_id(run, name, seq)
        for name in stations
        for seq in range(seq_start, seq_start + per_station)
    }


def generate(
    host: str,
    port: int,
    site: str,
    stations: Sequence[str],
    per_station: int,
    rate: float,
    workers: int = 1,
    phase: int = 1,
    run: str | None = None,
    qos: int = QOS_SCAN,
    seq_start: int = 0,
) -> tuple[str, Ledger]:
    """Publish ``per_station`` scans from each station and wait; returns (run id, ledger)."""
    run = run or uuid.uuid4().hex[:8]
    plans = split_plan(
        host, port, site, run, phase, stations, per_station, rate, workers, qos, seq_start
    )
    return run, Ledger(Load(plans).join())
