"""The benchmark: Gudang under load beside the ceilings of the machine it runs on.

    .venv/bin/python -m bench.run            # the full run (a few minutes)
    .venv/bin/python -m bench.run --quick    # a smoke run in seconds (CI runs it)

Starts its own Mosquitto and InfluxDB (gudang_ops.servers), measures the ceilings with the
same publisher (a bare paho subscriber at QoS 1 and 0, and mosquitto_sub), then runs
``gudang services`` and ``gudang api`` as subprocesses and drives them with many
simulated stations. Prints a table and writes JSON to bench/results/.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python bench/run.py`: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.api_load import ApiLoadResult, start_api_load
from bench.ceilings import CeilingResult, mosquitto_sub_ceiling, paho_ceiling
from bench.floor import (
    StateWatcher,
    api_drums,
    influx_loaded,
    influx_loaded_ids,
    prepare_stations,
    station_names,
)
from bench.loadgen import Ledger, Load, ids_of, split_plan
from bench.procs import GudangProcess, free_port, start_api, start_services, write_config
from bench.report import RESULTS_DIR, SITE, machine, percentile_ms, setup_logging, write_figures
from bench.spool_drain import DrainResult, measure_spool_drain
from gudang.influx import InfluxClient
from gudang.settings import InfluxSettings
from gudang_ops.servers import start_influxd, start_mosquitto

log = logging.getLogger("bench")

# Targets of issue 7 on a 2-core machine.
TARGET_RATE = 5000.0
TARGET_RATIO = 0.5
TARGET_P99_MS = 150.0
TARGET_API_P99_MS = 30.0
API_CLIENTS = 64
# A dashboard or handheld polling a container's fill ten times a second: 640 requests/s
# from 64 clients, a busy floor's worth. The closed-loop run finds the ceiling.
API_CLIENT_RATE = 10.0
# The near-saturation latency run goes at this share of the measured saturation rate.
NEAR_SATURATION = 0.8
# How long the pipeline may take to show the last scan of a phase.
VISIBLE_TIMEOUT_S = 180.0


@dataclass(frozen=True)
class Sizes:
    """How much each part of the run does."""

    stations: int
    saturation_scans: int
    ceiling_scans: int
    latency_rate: float
    latency_seconds: float
    api_seconds: float
    spool_scans: int
    workers: int


FULL = Sizes(
    stations=24,
    saturation_scans=60_000,
    ceiling_scans=60_000,
    latency_rate=1000.0,
    latency_seconds=20.0,
    api_seconds=15.0,
    spool_scans=5000,
    workers=2,
)
QUICK = Sizes(
    stations=4,
    saturation_scans=2000,
    ceiling_scans=2000,
    latency_rate=1000.0,
    latency_seconds=2.0,
    api_seconds=2.0,
    spool_scans=200,
    workers=1,
)


class Bench:
    """One benchmark run: servers, Gudang processes, phases, figures."""

    def __init__(self, sizes: Sizes, work: Path, ingest: dict[str, Any]) -> None:
        self.sizes = sizes
        self.work = work
        self.ingest_settings = ingest
        self.figures: dict[str, Any] = {"sizes": asdict(sizes), "ingest": ingest}
        self.phases: list[dict[str, Any]] = []
        self.total_accepted = 0
        self.containers: list[str] = []
        self.ledger_ids: set[str] = set()
        self.peak_rss_mb = 0.0
        self.api: GudangProcess | None = None  # for its CPU

    # -- ceilings ----------------------------------------------------------------------------
    def ceilings(self, host: str, port: int) -> None:
        """The bare subscribers' rates with the same publisher and the same shape of load."""
        s = self.sizes
        stations = station_names(0, s.stations)
        per = max(1, s.ceiling_scans // s.stations)
        results: list[CeilingResult] = [
            paho_ceiling(host, port, "ceil-q1", stations, per, s.workers, qos=1),
            paho_ceiling(host, port, "ceil-q0", stations, per, s.workers, qos=0),
            mosquitto_sub_ceiling(host, port, "ceil-msub", stations, per, s.workers),
        ]
        self.figures["ceilings"] = [
            {**asdict(r), "rate": r.rate, "loss": r.sent - r.received} for r in results
        ]
        for r in results:
            log.info("ceiling %s: %.0f msg/s (%d of %d)", r.name, r.rate, r.received, r.sent)

    # -- Gudang phases -------------------------------------------------------------------------
    def phase(
        self,
        name: str,
        number: int,
        rate: float,
        per_station: int,
        services: GudangProcess,
        watcher: StateWatcher,
        api_url: str,
        host: str,
        port: int,
        api_clients: int = 0,
        api_seconds: float = 0.0,
        api_rate: float = 0.0,
    ) -> dict[str, Any]:
        """One load phase on fresh stations; returns its figures."""
        s = self.sizes
        stations = station_names(number, s.stations)
        mapping = prepare_stations(api_url, host, port, SITE, number, stations)
        self.containers.extend(mapping.values())
        cpu0 = services.cpu()
        api_cpu0 = self.api.cpu() if self.api is not None else None
        plans = split_plan(
            host, port, SITE, f"r{number}", number, stations, per_station, rate, s.workers
        )
        api_job = None
        if api_clients:
            paths = [f"/api/v1/containers/{c}" for c in mapping.values()]
            api_job = start_api_load(api_url, paths, api_clients, api_seconds, api_rate)
        load = Load(plans)
        ledger = Ledger(load.join())
        for plan in plans:
            self.ledger_ids |= ids_of(
                plan.run, [n for _i, n in plan.stations], plan.per_station, plan.seq_start
            )
        expected = {
            mapping[st]: len(times) for st, times in ledger.publish_times().items() if times
        }
        visible_at = watcher.wait_for(expected, VISIBLE_TIMEOUT_S)
        cpu1 = services.cpu()
        api_result: ApiLoadResult | None = None
        if api_job is not None:
            pool, job = api_job
            api_result = job.get(api_seconds + 120)
            pool.close()
            pool.join()
        api_cpu1 = self.api.cpu() if self.api is not None else None
        lat = watcher.latencies(ledger.publish_times(), mapping)
        seen = sum(watcher.drums(c) for c in mapping.values())
        self.total_accepted += ledger.accepted
        end = visible_at if visible_at is not None else time.monotonic()
        elapsed = end - ledger.first_publish
        out: dict[str, Any] = {
            "name": name,
            "stations": s.stations,
            "target_rate": rate or None,
            "sent": ledger.sent,
            "accepted": ledger.accepted,
            "visible": seen,
            "lost": ledger.accepted - seen,
            "publisher_errors": ledger.errors,
            "publish_seconds": ledger.last_publish - ledger.first_publish,
            "offered_rate": ledger.sent / max(1e-9, ledger.last_publish - ledger.first_publish),
            "end_to_end_seconds": elapsed,
            "end_to_end_rate": seen / elapsed if elapsed > 0 else 0.0,
            "latency_samples": len(lat),
            "latency_p50_ms": percentile_ms(lat, 50),
            "latency_p99_ms": percentile_ms(lat, 99),
            "latency_max_ms": percentile_ms(lat, 100),
            "services_cpu_pct": 100 * (cpu1.cpu_s - cpu0.cpu_s) / max(1e-9, cpu1.at - cpu0.at),
            # CPU per scan: what the services' own code costs, whatever the publisher does.
            "services_cpu_us_per_scan": 1e6 * (cpu1.cpu_s - cpu0.cpu_s) / max(1, seen),
            "services_rss_mb": services.rss_mb(),
        }
        if api_cpu0 is not None and api_cpu1 is not None:
            # The API follows every state message of the ingest, requests or not.
            out["api_cpu_pct"] = (
                100 * (api_cpu1.cpu_s - api_cpu0.cpu_s) / max(1e-9, api_cpu1.at - api_cpu0.at)
            )
        if api_result is not None:
            out["api"] = {
                "clients": api_clients,
                "per_client_rate": api_rate or None,
                "requests": len(api_result.latencies),
                "errors": api_result.errors,
                "rps": api_result.rps,
                "p50_ms": percentile_ms(api_result.latencies, 50),
                "p99_ms": percentile_ms(api_result.latencies, 99),
            }
            if api_cpu0 is not None and api_cpu1 is not None:
                # Everything the API did meanwhile (following the state too) per request.
                out["api"]["cpu_us_per_request"] = (
                    1e6 * (api_cpu1.cpu_s - api_cpu0.cpu_s) / max(1, len(api_result.latencies))
                )
        log.info(
            "%s: %d sent, %d visible, %.0f scans/s end to end, p50 %.1f ms, p99 %.1f ms",
            name,
            ledger.sent,
            seen,
            out["end_to_end_rate"],
            out["latency_p50_ms"],
            out["latency_p99_ms"],
        )
        self.phases.append(out)
        return out

    def backlog(
        self,
        services: GudangProcess,
        restart: Callable[[], GudangProcess],
        watcher: StateWatcher,
        api_url: str,
        host: str,
        port: int,
    ) -> GudangProcess:
        """The ingest's own capacity: scans queued while it was stopped, then drained.

        No publisher competes for the CPU while it drains, so this is the rate the
        services reach on this machine (and what a restart after an outage looks like).
        """
        s = self.sizes
        number = 6
        stations = station_names(number, s.stations)
        mapping = prepare_stations(api_url, host, port, SITE, number, stations)
        self.containers.extend(mapping.values())
        self.peak_rss_mb = max(self.peak_rss_mb, services.peak_rss_mb())
        services.stop()
        per_station = max(1, s.saturation_scans // s.stations)
        plans = split_plan(
            host, port, SITE, f"r{number}", number, stations, per_station, 0, s.workers
        )
        ledger = Ledger(Load(plans).join())
        for plan in plans:
            self.ledger_ids |= ids_of(plan.run, [n for _i, n in plan.stations], per_station)
        self.total_accepted += ledger.accepted
        t0 = time.monotonic()
        services = restart()
        ready = time.monotonic()
        expected = {mapping[st]: len(t) for st, t in ledger.publish_times().items() if t}
        visible_at = watcher.wait_for(expected, VISIBLE_TIMEOUT_S)
        seen = sum(watcher.drums(c) for c in mapping.values())
        # From the first batch the restarted ingest made visible to the last: the start-up
        # (rebuild from InfluxDB, connecting) is reported apart.
        firsts = [
            min((a for a in watcher.arrivals[c] if a[1] >= t0), key=lambda a: a[1])
            for c in mapping.values()
        ]
        first_at = min(t for _d, t in firsts)
        drained = seen - sum(d for d, t in firsts if t == first_at)
        drain_s = (visible_at or time.monotonic()) - first_at
        self.figures["backlog"] = {
            "scans": ledger.accepted,
            "visible": seen,
            "restart_seconds": first_at - t0,
            "drain_seconds": drain_s,
            "drain_rate": drained / drain_s if drain_s > 0 else 0.0,
        }
        log.info(
            "backlog: %d scans drained at %.0f scans/s after a %.1f s restart",
            seen,
            self.figures["backlog"]["drain_rate"],
            ready - t0,
        )
        return services

    def gudang(
        self,
        host: str,
        port: int,
        influxd_port: int,
        services: GudangProcess,
        restart: Callable[[], GudangProcess],
        api_url: str,
    ) -> GudangProcess:
        """Saturation, latency at a fixed rate and near saturation, API under load."""
        s = self.sizes
        watcher = StateWatcher(host, port, SITE)
        watcher.start()
        try:
            sat = self.phase(
                "saturation",
                1,
                0.0,
                max(1, s.saturation_scans // s.stations),
                services,
                watcher,
                api_url,
                host,
                port,
            )
            per = max(1, int(s.latency_rate * s.latency_seconds / s.stations))
            self.phase(
                f"latency at {s.latency_rate:.0f}/s",
                2,
                s.latency_rate,
                per,
                services,
                watcher,
                api_url,
                host,
                port,
            )
            near = max(s.latency_rate, NEAR_SATURATION * sat["end_to_end_rate"])
            self.phase(
                f"latency at {near:.0f}/s (near saturation)",
                3,
                near,
                max(1, int(near * s.latency_seconds / s.stations)),
                services,
                watcher,
                api_url,
                host,
                port,
            )
            per_api = max(1, int(s.latency_rate * s.api_seconds / s.stations))
            for number, rate, shape in (
                (4, API_CLIENT_RATE, f"each {API_CLIENT_RATE:.0f} req/s"),
                (5, 0.0, "closed loop"),
            ):
                self.phase(
                    f"API {API_CLIENTS} clients {shape}, ingest {s.latency_rate:.0f}/s",
                    number,
                    s.latency_rate,
                    per_api,
                    services,
                    watcher,
                    api_url,
                    host,
                    port,
                    api_clients=API_CLIENTS,
                    api_seconds=s.api_seconds,
                    api_rate=rate,
                )
            services = self.backlog(services, restart, watcher, api_url, host, port)
        finally:
            watcher.stop()
        influx = InfluxClient(
            InfluxSettings(url=f"http://127.0.0.1:{influxd_port}", database=f"db_{SITE}")
        )
        try:
            stored = influx_loaded(influx, SITE)
            missing: list[str] = []
            if stored != self.total_accepted:
                missing = sorted(self.ledger_ids - set(influx_loaded_ids(influx, SITE)))
        finally:
            influx.close()
        shown = api_drums(api_url, self.containers)
        self.figures["ledger"] = {
            "accepted": self.total_accepted,
            "influxdb": stored,
            "api": shown,
            "zero_loss": self.total_accepted == stored == shown,
            "missing_in_influxdb": missing[:50],
        }
        self.peak_rss_mb = max(self.peak_rss_mb, services.peak_rss_mb())
        self.figures["services"] = {"peak_rss_mb": self.peak_rss_mb}
        return services


def _fmt(value: float | None, unit: str = "") -> str:
    if value is None or math.isnan(value):
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}{unit}"
    return f"{value:.1f}{unit}"


def table(figures: dict[str, Any]) -> str:
    """The results as a plain-text table: Gudang beside the ceilings, with ratios."""
    rows: list[tuple[str, str, str, str, str]] = []
    ceilings = {c["name"]: c for c in figures.get("ceilings", [])}
    phases = figures.get("phases", [])
    sat = phases[0] if phases else None
    q1 = ceilings.get("paho subscriber QoS 1")
    if sat is not None:
        rate = sat["end_to_end_rate"]
        rows.append(
            ("Gudang end to end, QoS 1 (scans/s)", _fmt(rate), "", "", f">= {TARGET_RATE:,.0f}")
        )
        for c in ceilings.values():
            ratio = rate / c["rate"] if c["rate"] else float("nan")
            rows.append(
                (f"  ceiling: {c['name']} (msg/s)", _fmt(c["rate"]), "", f"{ratio:.2f}", "")
            )
        if q1 is not None:
            rows.append(
                (
                    "  Gudang / paho QoS 1",
                    "",
                    "",
                    f"{rate / q1['rate']:.2f}" if q1["rate"] else "-",
                    f">= {TARGET_RATIO}",
                )
            )
        rows.append(("  publisher offered (scans/s)", _fmt(sat["offered_rate"]), "", "", ""))
    for p in phases[1:3]:
        rows.append(
            (
                f"publish->visible p50/p99, {p['name']}",
                f"{_fmt(p['latency_p50_ms'])} / {_fmt(p['latency_p99_ms'])} ms",
                "",
                "",
                f"p99 < {TARGET_P99_MS:.0f} ms" if p is phases[1] else "",
            )
        )
        rows.append(("  achieved rate (scans/s)", _fmt(p["end_to_end_rate"]), "", "", ""))
    for p in phases:
        if "api" in p:
            a = p["api"]
            paced = a["per_client_rate"]
            shape = f"each {paced:.0f}/s" if paced else "closed loop"
            rows.append(
                (
                    f"API p50/p99, {a['clients']} clients {shape}, ingesting",
                    f"{_fmt(a['p50_ms'])} / {_fmt(a['p99_ms'])} ms",
                    "",
                    "",
                    f"p99 < {TARGET_API_P99_MS:.0f} ms" if paced else "",
                )
            )
            rows.append(
                ("  API requests/s (errors)", f"{_fmt(a['rps'])} ({a['errors']})", "", "", "")
            )
            if "cpu_us_per_request" in a:
                rows.append(
                    (
                        "  API CPU (% of a core; µs per request, following included)",
                        f"{_fmt(p['api_cpu_pct'])} %; {_fmt(a['cpu_us_per_request'])} µs",
                        "",
                        "",
                        "",
                    )
                )
            rows.append(
                ("  publish->visible p99 meanwhile", f"{_fmt(p['latency_p99_ms'])} ms", "", "", "")
            )
    for p in phases:
        rows.append(
            (
                f"services CPU, {p['name']}",
                f"{_fmt(p['services_cpu_pct'])} % of a core, "
                f"{_fmt(p['services_cpu_us_per_scan'])} µs/scan"
                + (f"; API {_fmt(p['api_cpu_pct'])} %" if "api_cpu_pct" in p else ""),
                "",
                "",
                "",
            )
        )
    if "backlog" in figures:
        b = figures["backlog"]
        rows.append(
            (
                "ingest backlog drain, no publisher (scans/s)",
                _fmt(b["drain_rate"]),
                "",
                "",
                "",
            )
        )
        rows.append(("  services restart before it (s)", _fmt(b["restart_seconds"]), "", "", ""))
    if "services" in figures:
        rows.append(
            ("services peak RSS", f"{_fmt(figures['services']['peak_rss_mb'])} MiB", "", "", "")
        )
    if "spool" in figures:
        sp = figures["spool"]
        drain = _fmt(sp["drain_rate"])
        if sp["stalled"]:
            drain = f"stalled: {sp['left']} of {sp['scans']} left"
        rows.append(("bridge spool drain (scans/s)", drain, "", "", ""))
        rows.append(("  bridge spool fill (scans/s)", _fmt(sp["fill_rate"]), "", "", ""))
    if "ledger" in figures:
        lg = figures["ledger"]
        rows.append(
            (
                "ledger / InfluxDB / API",
                f"{lg['accepted']} / {lg['influxdb']} / {lg['api']}",
                "",
                "",
                "equal",
            )
        )
    head = ("figure", "value", "", "ratio", "target")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(5)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths if w))
    for r in rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; 0 when every scan was stored exactly once."""
    p = argparse.ArgumentParser(prog="bench.run", description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="small numbers, seconds (CI smoke)")
    p.add_argument("--stations", type=int, help="simulated stations per phase")
    p.add_argument("--scans", type=int, help="scans in the saturation run")
    p.add_argument("--workers", type=int, help="publisher processes")
    p.add_argument("--seconds", type=float, help="length of each latency run")
    p.add_argument("--no-ceilings", action="store_true", help="skip the ceiling runs")
    p.add_argument("--batch-size", type=int, help="ingest.batch_size for the services")
    p.add_argument("--linger-ms", type=int, help="ingest.linger_ms for the services")
    p.add_argument("--out", type=Path, default=RESULTS_DIR, help="where the JSON goes")
    args = p.parse_args(argv)
    setup_logging()
    base = QUICK if args.quick else FULL
    given = {
        "stations": args.stations,
        "saturation_scans": args.scans,
        "ceiling_scans": args.scans,
        "latency_seconds": args.seconds,
        "api_seconds": args.seconds,
        "workers": args.workers,
    }
    sizes = replace(base, **{name: value for name, value in given.items() if value})
    ingest: dict[str, Any] = {}
    if args.batch_size:
        ingest["batch_size"] = args.batch_size
    if args.linger_ms is not None:
        ingest["linger_ms"] = args.linger_ms
    started = datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="gudang-bench-") as tmp:
        work = Path(tmp)
        bench = Bench(sizes, work, ingest)
        mosquitto = start_mosquitto(work / "mosquitto")
        influxd = start_influxd(work / "influxdb")
        procs: list[GudangProcess] = []
        try:
            host, port = "127.0.0.1", mosquitto.port
            if not args.no_ceilings:
                bench.ceilings(host, port)
            api_port = free_port()
            config = write_config(work / "gudang.toml", SITE, mosquitto, influxd, api_port, ingest)
            services = start_services(config, work / "services.log")
            procs.append(services)
            bench.api = start_api(config, api_port, work / "api.log")
            procs.append(bench.api)

            def restart() -> GudangProcess:
                again = start_services(config, work / "services-restarted.log")
                procs.append(again)
                return again

            bench.gudang(
                host, port, influxd.port, services, restart, f"http://127.0.0.1:{api_port}"
            )
            drain: DrainResult = measure_spool_drain(
                host, port, "bench-spool", sizes.spool_scans, work
            )
            bench.figures["spool"] = {
                **asdict(drain),
                "fill_rate": drain.fill_rate,
                "drain_rate": drain.drain_rate,
            }
        finally:
            for proc in procs:
                proc.stop()
            mosquitto.stop()
            influxd.stop()
    figures = {
        "started": started.isoformat(),
        "host": machine(),
        "quick": args.quick,
        **bench.figures,
        "phases": bench.phases,
    }
    print(table(figures))
    name = f"bench-{started.strftime('%Y%m%dT%H%M%SZ')}{'-quick' if args.quick else ''}"
    write_figures(args.out, name, figures)
    ok = bool(figures.get("ledger", {}).get("zero_loss"))
    if not ok:
        print("LOSS: the ledger, InfluxDB and the API disagree", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
