"""The stations' scales between drums: their readings stored, drift and unsettled scales.

Bridges publish each scale's reading on ``station/<name>/weight`` (QoS 0, on change, at
most ``station.weight_publish_hz``). The services store every one in the ``weight_raw``
retention policy (measurement ``weight``: the continuous query ``weight_1m`` of
deploy/influxdb/setup.toml summarises them per minute into ``main``) and watch two things
no single scan shows:

- ``scale_drift``: the empty platter (a stable reading under ``alerts.scale_empty_below_kg``)
  reads further than ``alerts.scale_zero_kg`` from zero for ``alerts.scale_drift_s``.
  Every drum weighed on it is off by as much; weights on export papers come from it, and
  trade scales in Indonesia are verified yearly. Cleared by an empty reading at zero again.
- ``scale_unstable``: the scale keeps reporting, and nothing it reports is stable, for
  ``alerts.scale_unstable_s`` (a draught, a vibrating floor, a failing load cell): no drum
  can be paired with a stable weight. Cleared by a stable reading.

Readings are QoS 0 and for troubleshooting: one InfluxDB refuses or misses is counted and
dropped, never retried, and never holds up the scans.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

import msgspec

from gudang.influx import InfluxClient, InfluxRejected, InfluxUnavailable, line
from gudang.settings import AlertSettings
from gudang.storage import TAG_SITE, TAG_STATION, WEIGHT, datetime_to_ns
from gudang.wire import AlertKind, WeightReadingV1, weight_decoder
from services.alerts import AlertBook

log = logging.getLogger(__name__)

# A scale that stopped reporting (the bridge offline, the station off) is not "unstable":
# it must have reported within this long (the bridge resends a changing reading at 2 Hz).
REPORTING_WITHIN_S = 10.0
# Readings held for the next write at most (a site of 12 streaming scales at 2 Hz makes
# 24 a second): past it the oldest go, counted.
MAX_PENDING = 20_000


@dataclass
class _Scale:
    """What one station's scale has shown lately (the services' clock)."""

    last_reading_at: datetime | None = None
    off_zero_since: datetime | None = None  # first empty reading off zero, since zero
    zero_kg: float | None = None  # the latest empty reading
    at_zero: bool = False  # the latest empty reading was at zero
    unstable_since: datetime | None = None  # first unsettled reading since a stable one
    settled: bool = False  # the latest weighed reading was stable


class ScaleWatch:
    """Weight readings in; points for ``weight_raw`` and scale alerts out."""

    def __init__(self, site: str, settings: AlertSettings, counters: Counter[str]) -> None:
        self.site = site
        self.settings = settings
        self.counters = counters
        self._lock = threading.Lock()  # take() runs in paho's thread, the rest in ingest's
        self._pending: list[str] = []
        self._scales: dict[str, _Scale] = {}

    def take(self, station: str, payload: bytes, at: datetime) -> None:
        """One reading from ``station``'s weight topic, received at ``at``."""
        try:
            reading = weight_decoder.decode(payload)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            self.counters["weights_refused"] += 1
            log.warning("weight reading from %s refused: %s", station, exc)
            return
        if reading.station != station:
            self.counters["weights_refused"] += 1
            log.warning("weight reading of %s on %s's topic refused", reading.station, station)
            return
        with self._lock:
            self.counters["weights_received"] += 1
            if reading.weight_kg is not None:
                if len(self._pending) >= MAX_PENDING:
                    del self._pending[0]
                    self.counters["weights_dropped"] += 1
                self._pending.append(self._line(reading))
            self._note(self._scales.setdefault(station, _Scale()), reading, at)

    def _line(self, r: WeightReadingV1) -> str:
        # The station's time: the readings line up with its scans (weight_1m groups by it).
        return line(
            WEIGHT,
            {TAG_SITE: self.site, TAG_STATION: r.station},
            {"weight_kg": float(r.weight_kg or 0.0), "stable": r.stable, "status": r.status},
            datetime_to_ns(r.ts),
        )

    def _note(self, scale: _Scale, r: WeightReadingV1, at: datetime) -> None:
        scale.last_reading_at = at
        if r.weight_kg is None:
            return  # overload, error ...: scale_error's business, not drift's
        if r.stable:
            scale.settled = True
            scale.unstable_since = None
            if abs(r.weight_kg) < self.settings.scale_empty_below_kg:
                scale.zero_kg = r.weight_kg
                scale.at_zero = abs(r.weight_kg) <= self.settings.scale_zero_kg
                if scale.at_zero:
                    scale.off_zero_since = None
                elif scale.off_zero_since is None:
                    scale.off_zero_since = at
        else:
            scale.settled = False
            if scale.unstable_since is None:
                scale.unstable_since = at

    def write(self, influx: InfluxClient) -> None:
        """Store the readings taken since the last call in ``weight_raw`` (never retried)."""
        with self._lock:
            lines, self._pending = self._pending, []
        if not lines:
            return
        try:
            influx.write(lines, rp=influx.settings.weight_retention_policy)
        except (InfluxUnavailable, InfluxRejected) as exc:
            self.counters["weights_not_stored"] += len(lines)
            if self.counters["weights_not_stored"] == len(lines):  # the first time only
                log.error("weight readings not stored (counted, dropped): %s", exc)
            return
        self.counters["weights_stored"] += len(lines)

    def evaluate(self, book: AlertBook, now: datetime) -> None:
        """Raise or clear each scale's scale_drift and scale_unstable alerts."""
        s = self.settings
        with self._lock:
            scales = list(self._scales.items())
        for station, scale in scales:
            since = scale.off_zero_since
            if since is not None and now - since >= timedelta(seconds=s.scale_drift_s):
                book.raise_(
                    AlertKind.SCALE_DRIFT,
                    station,
                    since,
                    f"{station}: the empty scale reads {scale.zero_kg:.3f} kg, not zero: "
                    "zero (tare) it, and have it checked if it drifts again",
                    station=station,
                    data={"zero_kg": scale.zero_kg, "tolerance_kg": s.scale_zero_kg},
                )
            elif scale.at_zero:
                book.clear_condition(AlertKind.SCALE_DRIFT, station, now)
            unsettled = scale.unstable_since
            reporting = (
                scale.last_reading_at is not None
                and now - scale.last_reading_at <= timedelta(seconds=REPORTING_WITHIN_S)
            )
            if (
                unsettled is not None
                and reporting
                and now - unsettled >= timedelta(seconds=s.scale_unstable_s)
            ):
                book.raise_(
                    AlertKind.SCALE_UNSTABLE,
                    station,
                    unsettled,
                    f"{station}: the scale has not settled for "
                    f"{(now - unsettled).total_seconds():.0f} s: draught, vibration or a "
                    "load touching the frame?",
                    station=station,
                    data={"unsettled_s": round((now - unsettled).total_seconds())},
                )
            elif scale.settled:
                book.clear_condition(AlertKind.SCALE_UNSTABLE, station, now)
