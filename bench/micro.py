"""Micro-benchmarks of the ingest's hot path: decode a scan, encode its InfluxDB point.

    .venv/bin/python -m bench.micro

Figures are µs per call on this machine (best of several rounds, so a busy neighbour
disturbs them less); docs/performance.md records what each optimisation bought.
"""

from __future__ import annotations

import sys
import timeit
import uuid
from datetime import UTC, datetime
from pathlib import Path

if __package__ in (None, ""):  # `python bench/micro.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.loadgen import drum_label, drum_scan
from gudang.influx import line
from gudang.storage import scan_time_ns
from gudang.wire import ScanResult, encode, scan_decoder
from services.floor import ScanOutcome
from services.records import scan_line

ROUNDS = 5
NUMBER = 20_000


def _best(stmt: object) -> float:
    times = timeit.repeat(stmt, number=NUMBER, repeat=ROUNDS)  # type: ignore[arg-type]
    return min(times) / NUMBER * 1e6


def main() -> int:
    """Print µs per call of each step of a scan's way into InfluxDB."""
    scan = drum_scan("blitar", "load-1", uuid.uuid4().hex, drum_label(1, 0, 123))
    payload = encode(scan)
    outcome = ScanOutcome(
        ScanResult.LOADED, drum="CB-JMB-L-1000000123", sku="JMB-L", container_no="CSQU3054383",
        weight_kg=9.5,
    )  # fmt: skip
    ts = scan_time_ns(scan)
    fields: dict[str, str | float | bool | None] = {
        "id": scan.id, "barcode": scan.barcode, "kind": "drum", "result": "loaded",
        "reason": None, "weight_kg": 9.5, "weight_stable": True,
        "device_ts": datetime.now(UTC).isoformat(),
    }  # fmt: skip
    rows = [
        ("decode a ScanV1 (msgspec)", lambda: scan_decoder.decode(payload)),
        ("line(): a scan-sized point", lambda: line("scan", {"site": "b"}, fields, ts)),
        ("scan_line(): the scan point", lambda: scan_line("blitar", scan, outcome, ts)),
    ]  # fmt: skip
    for name, fn in rows:
        print(f"{name:34s} {_best(fn):7.2f} µs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
