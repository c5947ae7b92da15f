"""What the bench runs share around their measuring: the log, percentiles, the machine, the JSON."""

from __future__ import annotations

import json
import logging
import os
import platform
from pathlib import Path
from typing import Any

# Where bench.run and bench.history write their JSON by default (their --out).
RESULTS_DIR = Path(__file__).resolve().parent / "results"
# The site name of a bench run: its topics gudang/bench/... and its database db_bench.
SITE = "bench"


def setup_logging() -> None:
    """Timestamped progress lines on stderr; httpx's request lines kept out of them."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S"
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)


def percentile_ms(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) of values in seconds, in ms; NaN for none."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[k] * 1000


def machine() -> dict[str, Any]:
    """The machine the figures were measured on."""
    return {
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }


def write_figures(folder: Path, name: str, figures: dict[str, Any]) -> Path:
    """Write the figures as ``folder/name.json`` (the folder made if need be) and say where."""
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / f"{name}.json"
    out.write_text(json.dumps(figures, indent=2, default=str))
    print(f"\nwritten: {out}")
    return out
