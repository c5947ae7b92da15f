"""Years of history: how long the services take to start and how much memory they hold.

    .venv/bin/python -m bench.history                  # 3,000,000 scans: ten years
    .venv/bin/python -m bench.history --scans 300000   # one year
    .venv/bin/python -m bench.history --quick          # a smoke run in seconds (CI runs it)

Starts its own Mosquitto and InfluxDB, writes a warehouse's history straight into
InfluxDB with the services' own point layout (``services/records.py``): containers of
2,600 drums, each drum received (a receiving station, supplier and QC) and loaded, the
container opened, filled, sealed and shipped, some duplicate scans (with their alerts
raised and acknowledged), unloads and reloads (corrections), fill alerts; the last
container is still loading. Then starts ``gudang services`` twice (the first start after
the history was written, and a restart) and ``gudang api`` as subprocesses and prints the
time from start to ready and the peak RSS of each; JSON beside the table in bench/results/.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import queue
import random
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python bench/history.py`: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
import msgspec

from bench.loadgen import container_number
from bench.procs import START_TIMEOUT_S, GudangProcess, free_port, write_config
from bench.report import RESULTS_DIR, SITE, machine, setup_logging, write_figures
from gudang.influx import InfluxClient
from gudang.settings import InfluxSettings, Settings, load_settings
from gudang.storage import (
    ALERT,
    CONTAINER_EVENT,
    EVENT,
    SCAN,
    STATION_EVENT,
    TAG_CONTAINER_NO,
    TAG_STATION,
    Event,
    datetime_to_ns,
)
from gudang.wire import (
    AlertKind,
    AlertState,
    AlertV1,
    QcResult,
    ScanKind,
    ScanResult,
    ScanV1,
    WeightStatus,
    encode,
)
from gudang_ops import servers
from gudang_ops.servers import start_influxd, start_mosquitto
from services.alerts import SEVERITY, AlertBook, alert_id
from services.checkpoint import write_checkpoint
from services.floor import Floor, ScanOutcome
from services.rebuild import Bounds, Rebuilt, apply_row
from services.recent import window_start_ns
from services.records import Stamper, alert_line, event_line, scan_line, shipped_drum_lines

log = logging.getLogger("bench.history")

CAPACITY = 2600
SCANS_PER_YEAR = 300_000  # each drum received and loaded: the warehouse's own figure
POINTS_PER_WRITE = 50_000
DUPLICATES_PER_CONTAINER = 8  # a drum scanned twice at loading: an alert, acknowledged
UNLOADS_PER_CONTAINER = 2  # corrections: unloaded by a supervisor, loaded again
RECEIVING, LOADING = "recv-1", "load-1"
SUPPLIER = "UD Kendang Jaya"
TARGET_READY_S = 2.0
TARGET_RSS_MB = 150.0


@dataclass
class Written:
    """What the history holds."""

    scans: int = 0
    points: int = 0
    containers: int = 0
    shipped: int = 0
    seconds: float = 0.0
    open_container: str = ""
    open_drums: int = 0
    stock_drums: int = 0
    checkpoint: str = ""  # when the services' checkpoint in the history was taken

    @property
    def rate(self) -> float:
        """Points written per second."""
        return self.points / self.seconds if self.seconds else 0.0


def _outcome_fields(o: ScanOutcome) -> dict[str, Any]:
    """A scan row's outcome columns, as InfluxDB gives them back."""
    return {
        "result": o.result.value,
        "reason": o.reason or None,
        "drum": o.drum,
        "sku": o.sku,
        "container_no": o.container_no,
        "weight_kg": o.weight_kg,
        "out_of_range": o.out_of_range,
        "from_stock": o.from_stock,
        "supplier": o.supplier,
        "qc": o.qc,
        "location": o.location,
        "from_location": o.from_location,
    }


class History:
    """Generates the site's history as line protocol, oldest first."""

    def __init__(
        self, scans: int, end: datetime, state: Rebuilt | None = None, seed: int = 16
    ) -> None:
        self.rng = random.Random(seed)
        per_container = 2 * CAPACITY + 1 + DUPLICATES_PER_CONTAINER + UNLOADS_PER_CONTAINER
        self.cycles = max(1, round(scans / per_container))
        years = max(scans / SCANS_PER_YEAR, 1 / 365)
        self.cycle = timedelta(days=365 * years / self.cycles)
        self.end = end
        self.start = end - self.cycle * self.cycles
        self.written = Written()
        self.drum_seq = 0
        # The state the running services would hold, kept to store their checkpoint
        self.state = state
        self.checkpoint_at: datetime | None = None  # when the last container shipped

    def _id(self) -> str:
        return uuid.UUID(int=self.rng.getrandbits(128), version=4).hex

    def _scan(self, station: str, label: str, at: datetime, outcome: ScanOutcome) -> str:
        kind = ScanKind.CONTAINER if outcome.result is ScanResult.CONTAINER_SET else ScanKind.DRUM
        weight = outcome.weight_kg if kind is ScanKind.DRUM else None
        scan = ScanV1(
            id=self._id(),
            ts=at,
            site=SITE,
            station=station,
            barcode=label,
            symbology="]C0",
            kind=kind,
            weight_kg=weight,
            weight_stable=weight is not None,
            weight_status=WeightStatus.STABLE if weight is not None else WeightStatus.NO_SCALE,
            qc=QcResult(outcome.qc) if outcome.qc else None,
        )
        self.written.scans += 1
        # device times plus an offset, as scan_time_ns gives; enough apart to be unique
        ts = datetime_to_ns(at) + self.written.scans % 1000
        self._keep(SCAN, ts, {"id": scan.id, "station": station, **_outcome_fields(outcome)})
        return scan_line(SITE, scan, outcome, ts)

    def _keep(self, measurement: str, ts: int, row: dict[str, Any]) -> None:
        """Apply the point to the state the services would hold, as a replay of it does."""
        if self.state is not None:
            apply_row(self.state, measurement, {**row, "time": ts}, Bounds())

    def _event(
        self, measurement: str, key: str, value: str, fields: dict[str, Any], at: datetime
    ) -> str:
        ts = datetime_to_ns(at) + 1  # after a scan stamped at the same µs
        stored = {**fields, "actor": "supervisor", "request_id": self._id()}
        self._keep(measurement, ts, {key: value, **stored})
        return event_line(measurement, SITE, key, value, stored, ts)

    def _alert_line(self, alert: AlertV1, ts: int) -> str:
        self._keep(ALERT, ts, {"payload": encode(alert).decode()})
        return alert_line(SITE, alert, ts)

    def _alert(self, kind: AlertKind, subject: str, at: datetime, **extra: Any) -> Iterator[str]:
        """An alert raised at ``at``; acknowledged and cleared a minute later."""
        raised = AlertV1(
            id=alert_id(kind, subject),
            kind=kind,
            severity=SEVERITY[kind],
            subject=subject,
            message=f"{kind.value}: {subject}",
            raised_at=at,
            **extra,
        )
        yield self._alert_line(raised, datetime_to_ns(at) + 2)
        later = at + timedelta(minutes=1)
        acked = msgspec.structs.replace(
            raised,
            state=AlertState.ACKNOWLEDGED,
            acknowledged_at=later,
            acknowledged_by="supervisor",
        )
        yield self._alert_line(acked, datetime_to_ns(later) + 2)
        cleared = msgspec.structs.replace(acked, state=AlertState.CLEARED, cleared_at=later)
        yield self._alert_line(cleared, datetime_to_ns(later) + 3)

    def lines(self) -> Iterator[str]:
        """Every point of the history, in time order per container."""
        yield self._event(
            STATION_EVENT,
            TAG_STATION,
            RECEIVING,
            {EVENT: Event.SET_MODE.value, "mode": "receiving", "supplier": SUPPLIER},
            self.start - timedelta(minutes=5),
        )
        for k in range(self.cycles):
            yield from self._container(k, last=k == self.cycles - 1)

    def _container(self, k: int, last: bool) -> Iterator[str]:
        t0 = self.start + self.cycle * k
        half = self.cycle / 2
        step = half / (CAPACITY + 20)
        number = container_number("TGH", k + 1)
        drums: list[tuple[str, float]] = []
        # receiving: every drum with its supplier and QC result
        for i in range(CAPACITY):
            self.drum_seq += 1
            label = f"CB-JMB-L-{self.drum_seq:08d}"
            weight = round(self.rng.uniform(7.5, 11.5), 2)
            drums.append((label, weight))
            yield self._scan(
                RECEIVING,
                label,
                t0 + step * i,
                ScanOutcome(
                    ScanResult.RECEIVED,
                    drum=label,
                    sku="JMB-L",
                    weight_kg=weight,
                    supplier=SUPPLIER,
                    qc=QcResult.PASS.value,
                    location="warehouse",
                ),
            )
        loading = t0 + half
        yield self._event(
            CONTAINER_EVENT,
            TAG_CONTAINER_NO,
            number,
            {
                EVENT: Event.OPEN.value,
                "container_type": "40HC",
                "capacity_drums": CAPACITY,
                "max_payload_kg": 26_000.0,
            },
            loading,
        )
        yield self._scan(
            LOADING,
            number,
            loading + timedelta(seconds=1),
            ScanOutcome(ScanResult.CONTAINER_SET, container_no=number),
        )
        to_load = CAPACITY // 2 if last else CAPACITY
        dup_every = CAPACITY // (DUPLICATES_PER_CONTAINER + 1)
        unload_at = {CAPACITY // 3, CAPACITY // 2 + 7}
        at = loading
        for i, (label, weight) in enumerate(drums[:to_load]):
            at = loading + timedelta(seconds=2) + step * i
            loaded = ScanOutcome(
                ScanResult.LOADED, drum=label, sku="JMB-L", container_no=number, weight_kg=weight
            )
            yield self._scan(LOADING, label, at, loaded)
            if i and i % dup_every == 0 and i // dup_every <= DUPLICATES_PER_CONTAINER:
                again = at + step / 3
                yield self._scan(
                    LOADING,
                    label,
                    again,
                    ScanOutcome(
                        ScanResult.DUPLICATE,
                        reason=f"already in {number}",
                        drum=label,
                        sku="JMB-L",
                        container_no=number,
                        weight_kg=weight,
                    ),
                )
                yield from self._alert(
                    AlertKind.DUPLICATE_SCAN, label, again, station=LOADING, container_no=number
                )
            if i in unload_at and not last:
                out = at + step / 4
                yield self._event(
                    CONTAINER_EVENT,
                    TAG_CONTAINER_NO,
                    number,
                    {
                        EVENT: Event.UNLOAD.value,
                        "drum": label,
                        "sku": "JMB-L",
                        "weight_kg": weight,
                        "reason": "label damaged",
                    },
                    out,
                )
                yield self._scan(LOADING, label, at + step / 2, loaded)
        if last:
            w = self.written
            w.open_container, w.open_drums = number, to_load
            w.stock_drums = CAPACITY - to_load
            w.containers += 1
            return
        nearly = loading + step * int(CAPACITY * 0.95)
        for kind, when in (
            (AlertKind.CONTAINER_NEARLY_FULL, nearly),
            (AlertKind.CONTAINER_FULL, at),
        ):
            yield from self._alert(kind, number, when, container_no=number)
        sealed = at + timedelta(hours=2)
        yield self._event(
            CONTAINER_EVENT,
            TAG_CONTAINER_NO,
            number,
            {EVENT: Event.SEAL.value, "seal_no": f"SL{k:07d}"},
            sealed,
        )
        shipped = sealed + timedelta(hours=20)
        yield self._event(
            CONTAINER_EVENT, TAG_CONTAINER_NO, number, {EVENT: Event.SHIP.value}, shipped
        )
        yield from shipped_drum_lines(
            SITE, number, {label: "JMB-L" for label, _ in drums}, datetime_to_ns(shipped) + 10
        )
        self.written.containers += 1
        self.written.shipped += 1
        if self.state is not None:
            # The services checkpoint when a container ships, and forget the old window.
            start = window_start_ns(shipped, self.state.floor.settings)
            self.state.seen_scans.prune(start)
            self.state.scan_points.prune(start)
            if k == self.cycles - 2:
                self.checkpoint_at = shipped


def write_history(
    influx: InfluxClient, scans: int, end: datetime, settings: Settings | None = None
) -> Written:
    """Write the history in big batches; a writer thread overlaps the generator.

    With ``settings``, also the checkpoint the services stored when the last container
    shipped: the state they held then (kept as the history is made, by the rebuild's own
    ``apply_row``), so a start reads it plus the history after it, as in a running site.
    """
    state = None
    if settings is not None:
        state = Rebuilt(floor=Floor(settings.floor), alerts=AlertBook())
    history = History(scans, end, state)
    batches: queue.Queue[list[str] | None] = queue.Queue(maxsize=2)
    errors: list[BaseException] = []

    def writer() -> None:
        while (batch := batches.get()) is not None:
            try:
                influx.write(batch)
            except BaseException as exc:  # reported by the generator's side
                errors.append(exc)

    thread = threading.Thread(target=writer, name="history-writer", daemon=True)
    thread.start()
    started = time.monotonic()
    batch: list[str] = []
    for point in history.lines():
        if state is not None and settings is not None and history.checkpoint_at is not None:
            # The ship's points are in the state: the services' checkpoint of that moment.
            stamp = Stamper(state.last_ns)
            own = InfluxClient(influx.settings)  # the writer thread has the other one
            write_checkpoint(own, settings, state, stamp, history.checkpoint_at)
            own.close()
            history.written.checkpoint = history.checkpoint_at.isoformat()
            history.checkpoint_at = None
            history.state = state = None  # from here on, only the history is written
        batch.append(point)
        if len(batch) >= POINTS_PER_WRITE:
            history.written.points += len(batch)
            batches.put(batch)
            batch = []
            if errors:
                break
    if batch:
        history.written.points += len(batch)
        batches.put(batch)
    batches.put(None)
    thread.join()
    if errors:
        raise RuntimeError(f"writing the history failed: {errors[0]}")
    history.written.seconds = time.monotonic() - started
    return history.written


@dataclass
class Start:
    """One start of a Gudang process: how long to ready, how much memory."""

    command: str
    ready_s: float | None  # None: not ready within the bench's limit
    peak_rss_mb: float
    rss_mb: float
    note: str = ""
    road: str = ""  # the services' start: "checkpoint" or "full" (all history read)
    detail: str = ""  # the services' own account of the start (from their log)


class TimedProcess(GudangProcess):
    """A GudangProcess that knows when it was started."""

    def __init__(self, command: str, config: Path, log_path: Path) -> None:
        self.started = time.monotonic()
        super().__init__(command, config, log_path)


def _wait_ready(proc: TimedProcess, ready: Callable[[], bool], timeout: float) -> float | None:
    """Seconds from the process' start until ``ready()`` (polled every 20 ms); None: not in time."""
    deadline = proc.started + timeout
    while time.monotonic() < deadline:
        if not proc.running:
            raise RuntimeError(f"gudang {proc.command} exited:\n{proc.tail()}")
        if ready():
            return time.monotonic() - proc.started
        time.sleep(0.02)
    return None


def _measured(proc: TimedProcess, ready_s: float | None, note: str) -> Start:
    road = detail = ""
    log_text = proc.tail(400)
    for marker in ("state rebuilt (checkpoint)", "state rebuilt (full)"):
        if marker in log_text:
            road = marker.split("(")[1].rstrip(")")
    for row in log_text.splitlines():
        if "started from the checkpoint" in row or "rebuilt from all history" in row:
            detail = row.split(": ", 1)[-1]
    if ready_s is None:
        note = f"{note} NOT READY (stopped)".strip()
    return Start(proc.command, ready_s, proc.peak_rss_mb(), proc.rss_mb(), note, road, detail)


def start_services(
    config: Path, log_path: Path, note: str, timeout: float
) -> tuple[TimedProcess, Start]:
    """``gudang services``: ready when its log says it runs (rebuilt, connected, published)."""
    proc = TimedProcess("services", config, log_path)
    ready_s = _wait_ready(proc, lambda: "services running for site" in proc.tail(400), timeout)
    return proc, _measured(proc, ready_s, note)


def start_api(config: Path, port: int, log_path: Path) -> tuple[TimedProcess, Start]:
    """``gudang api``: ready when /api/v1/health answers 200."""
    proc = TimedProcess("api", config, log_path)
    url = f"http://127.0.0.1:{port}/api/v1/health"

    def healthy() -> bool:
        try:
            return httpx.get(url, timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    return proc, _measured(proc, _wait_ready(proc, healthy, START_TIMEOUT_S), "")


def check_state(api_port: int, written: Written, ready: bool) -> dict[str, Any]:
    """The open container as the API shows it, beside what the history holds."""
    headers = {"Authorization": "Bearer demo-supervisor"}
    url = f"http://127.0.0.1:{api_port}/api/v1/containers/{written.open_container}"
    deadline = time.monotonic() + (30 if ready else 0)
    shown = -1
    while time.monotonic() < deadline:
        r = httpx.get(url, headers=headers, timeout=5)
        if r.status_code == 200:
            shown = int(r.json()["drums"])
            if shown == written.open_drums:
                break
        time.sleep(0.2)
    return {
        "open_container": written.open_container,
        "expected": written.open_drums,
        "shown": shown,
        "ok": shown == written.open_drums,
    }


def table(figures: dict[str, Any]) -> str:
    """The figures as plain text."""
    w = figures["written"]
    out = [
        f"history: {w['scans']:,} scans, {w['points']:,} points, {w['containers']} containers "
        f"({w['shipped']} shipped), written in {w['seconds']:.1f} s ({w['rate']:,.0f} points/s)",
        f"load average at start / end: {figures['load_start']} / {figures['load_end']}",
        "",
        f"{'start':<44} {'ready (s)':>10} {'peak RSS (MiB)':>15} {'RSS (MiB)':>10}",
    ]
    for s in figures["starts"]:
        name = f"{s['command']} {s['note']}".strip()
        if s["road"]:
            name += f" [{s['road']}]"
        ready = f"{s['ready_s']:.2f}" if s["ready_s"] is not None else "> limit"
        out.append(f"{name:<44} {ready:>10} {s['peak_rss_mb']:>15.1f} {s['rss_mb']:>10.1f}")
    out.append("")
    out.append(
        f"targets (3M scans): services ready <= {TARGET_READY_S} s, peak RSS <= {TARGET_RSS_MB} MiB"
    )
    state = figures["state"]
    out.append(
        f"state check: {state['open_container']} shows {state['shown']} drums, "
        f"history holds {state['expected']}: {'ok' if state['ok'] else 'WRONG'}"
    )
    return "\n".join(out)


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    """Write the history, start the services and the API, print the figures."""
    p = argparse.ArgumentParser(prog="bench.history", description=__doc__.split("\n")[0])
    p.add_argument("--scans", type=int, default=3_000_000, help="scans in the history")
    p.add_argument("--quick", action="store_true", help="a small history, seconds (CI smoke)")
    p.add_argument("--out", type=Path, default=RESULTS_DIR, help="where the JSON goes")
    p.add_argument("--label", default="", help="a name for this run in the JSON file name")
    p.add_argument(
        "--no-checkpoint",
        action="store_true",
        help="history as a version without checkpoints left it: the first start reads it all "
        "(with --data again: told that the checkpoints stored there are too old)",
    )
    p.add_argument(
        "--start-timeout", type=float, default=300.0, help="seconds a start may take (s)"
    )
    p.add_argument(
        "--data",
        type=Path,
        help="keep InfluxDB's data here; a history written there before is used again",
    )
    args = p.parse_args(argv)
    setup_logging()
    scans = 20_000 if args.quick else args.scans
    started = datetime.now(UTC)
    figures: dict[str, Any] = {
        "started": started.isoformat(),
        "scans": scans,
        "load_start": _load(),
    }
    with tempfile.TemporaryDirectory(prefix="gudang-history-") as tmp:
        work = Path(tmp)
        mosquitto = start_mosquitto(work / "mosquitto")
        data = args.data or work / "influxdb"
        data.mkdir(parents=True, exist_ok=True)
        kept = data / "history.json"
        if kept.exists():
            # InfluxDB opening millions of stored points takes more than its usual minute
            servers.START_TIMEOUT_S = max(servers.START_TIMEOUT_S, 300.0)
        try:
            influxd = start_influxd(data)
        except BaseException:
            mosquitto.stop()  # or it outlives the bench
            raise
        procs: list[GudangProcess] = []
        try:
            api_port = free_port()
            config = write_config(work / "gudang.toml", SITE, mosquitto, influxd, api_port)
            influx = InfluxClient(
                InfluxSettings(
                    url=f"http://127.0.0.1:{influxd.port}", database=f"db_{SITE}", timeout_s=300
                )
            )
            influx.ensure_database()
            again = kept.exists()
            if again:
                written = Written(**json.loads(kept.read_text()))
                log.info("the history in %s again: %s", data, written)
            else:
                log.info("writing %d scans of history ...", scans)
                site_settings = None if args.no_checkpoint else load_settings(config)
                written = write_history(
                    influx, scans, started - timedelta(minutes=10), site_settings
                )
                if args.data:
                    kept.write_text(json.dumps(asdict(written)))
            influx.close()
            log.info("written: %s", written)
            figures["written"] = {**asdict(written), "rate": written.rate}
            first_config = config
            if args.no_checkpoint and again:
                # The last run's starts stored checkpoints there: the first start is told
                # they are all too old, so it reads all history again (and stores one).
                first_config = write_config(
                    work / "gudang-first.toml",
                    SITE,
                    mosquitto,
                    influxd,
                    api_port,
                    ingest={"checkpoint_max_age_s": 0.001},
                )
            starts: list[Start] = []
            first, s = start_services(
                first_config, work / "services-1.log", "(first start)", args.start_timeout
            )
            starts.append(s)
            first.stop()
            if s.ready_s is not None:
                again, s = start_services(
                    config, work / "services-2.log", "(restart)", args.start_timeout
                )
                starts.append(s)
                procs.append(again)
            api, s = start_api(config, api_port, work / "api.log")
            starts.append(s)
            procs.append(api)
            ready = all(x.ready_s is not None for x in starts)
            figures["state"] = check_state(api_port, written, ready)
            figures["starts"] = [asdict(x) for x in starts]
        finally:
            for proc in procs:
                proc.stop()
            mosquitto.stop()
            influxd.stop()
    figures["load_end"] = _load()
    figures["host"] = machine()
    print(table(figures))
    label = f"-{args.label}" if args.label else ""
    write_figures(args.out, f"history-{started.strftime('%Y%m%dT%H%M%SZ')}-{scans}{label}", figures)
    return 0 if figures["state"]["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
