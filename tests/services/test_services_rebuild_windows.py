"""The rebuild's reads in time windows give every row once, in the order one query gives.

``stream_rows`` asks InfluxDB for a window of time at a time (``services/rebuild.py``,
``_pages``), a chunk of rows at most, the next one read while this one is applied. Here,
over real InfluxDB, its rows are compared with the rows of one unpaged query, on a history
made to catch a reader out: rows of several series at one ns across chunk and window
boundaries, more rows at one ns than a chunk, years of nothing between rows, a dense burst
after a sparse stretch, tags and fields that need escapes. And the state a full rebuild
gives is compared with the state of the reader it replaced (unbounded pages,
``_unbounded_stream_rows`` below, as of commit 3dc2a84) on a bench history of containers
received, loaded, shipped (with their shipped drums), duplicates with their alerts, unloads.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import services.rebuild as rebuild_module
from bench.history import write_history
from bench.report import SITE
from gudang.influx import InfluxClient, quote_ident, quote_str
from gudang.settings import Settings
from gudang.storage import ALERT, CONTAINER_EVENT, SCAN, datetime_to_ns
from gudang.wire import ScanResult, ScanV1, WeightStatus
from services.checkpoint import state_of
from services.floor import ScanOutcome
from services.rebuild import _COLUMNS, FIRST_SPAN_NS, rebuild, stream_rows, tie_key
from services.records import event_line, scan_line

# Station names and texts a line protocol writer must escape, and InfluxDB's JSON too.
STATIONS = ("load 1", "st,2", "a=b", 'q"uote', "back\\slash", "gudang-ü")
REASONS = ('said "no"', "c:\\path\\", "two\nlines", "tanda 'kutip'", "ünïcödé ✓")


def _scan(site: str, station: str, n: int, ts_ns: int, reason: str = "") -> str:
    label = f"CB-JMB-L-{n:06d}"
    scan = ScanV1(
        id=uuid.uuid4().hex,
        ts=datetime.fromtimestamp(ts_ns // 1000 / 1e6, UTC),
        site=site,
        station=station,
        barcode=label,
        weight_kg=9.5,
        weight_stable=True,
        weight_status=WeightStatus.STABLE,
    )
    result = ScanResult.REJECTED if reason else ScanResult.RECEIVED
    outcome = ScanOutcome(result, reason=reason, drum=label, sku="JMB-L", weight_kg=9.5)
    return scan_line(site, scan, outcome, ts_ns)


def _history(site: str, now: datetime) -> list[str]:
    """Scans and container events whose times make windows and chunks end awkwardly."""
    lines: list[str] = []
    n = 0

    def instant(ts_ns: int, stations: tuple[str, ...] = STATIONS) -> None:
        # One ns for every station's scan (each station a series of its own).
        nonlocal n
        for s in stations:
            n += 1
            lines.append(_scan(site, s, n, ts_ns, REASONS[n % len(REASONS)] if n % 3 else ""))

    old = datetime_to_ns(now - timedelta(days=5 * 365))
    instant(old)
    instant(old + FIRST_SPAN_NS - 1)  # the last ns of the first window ...
    instant(old + FIRST_SPAN_NS)  # ... and the first of the next
    instant(old + FIRST_SPAN_NS + 1)
    later = datetime_to_ns(now - timedelta(days=2 * 365))  # three years of nothing
    for i in range(40):  # sparse: a day apart
        instant(later + i * 86_400 * 10**9, STATIONS[: 1 + i % len(STATIONS)])
    burst = later + 41 * 86_400 * 10**9
    for i in range(60):  # dense: a ns apart, after the sparse days
        instant(burst + i, STATIONS[i % 2 : i % 2 + 1])
    for k in range(5):  # more rows at one ns than the small chunks hold
        for s in range(9):
            n += 1
            lines.append(_scan(site, f"crowd-{s}", n, burst + 1000 + k))
    recent = datetime_to_ns(now - timedelta(minutes=30))
    for i in range(30):  # and the last half hour, a second apart
        instant(recent + i * 10**9, STATIONS[i % 3 :])
    for i, at in enumerate((old, later, burst, recent)):
        number = f"TGHU{i:06d}"
        fields = {"event": "open", "container_type": "40HC", "note": REASONS[i]}
        lines.append(event_line(CONTAINER_EVENT, site, "container_no", number, fields, at))
    return lines


def _one_query(influx: InfluxClient, measurement: str, site: str, start_ns: int) -> list[Any]:
    """The rows as one query gives them (no LIMIT, no window: right for a small history),
    the rows of one ns in ``tie_key`` order (InfluxDB's own order of them is the query's)."""
    columns = _COLUMNS.get(measurement, "*")
    rows = influx.query(
        f"SELECT {columns} FROM {quote_ident(measurement)} WHERE site = {quote_str(site)} "
        f"AND time >= {start_ns} ORDER BY time ASC"
    )
    times = [r["time"] for r in rows]
    assert times == sorted(times)
    return sorted(rows, key=lambda r: (r["time"], tie_key(r)))


def test_windows_give_the_rows_of_one_query_in_its_order(
    settings: Settings, influx: InfluxClient
) -> None:
    site = settings.site.name
    now = datetime.now(UTC)
    history = _history(site, now)
    influx.write(history)
    scans = _one_query(influx, SCAN, site, 0)
    assert len(scans) == len(history) - 4, "InfluxDB returns fewer scans than were written"
    assert {r["station"] for r in scans} >= set(STATIONS)
    assert len({r["reason"] for r in scans} - {None}) == len(REASONS)
    times = [r["time"] for r in scans]
    crowd = max(times.count(t) for t in times)
    assert crowd >= 9, "no instant holds more rows than the small chunks"
    for chunk in (1, 2, 3, 5, 8, 13, 10_000):
        got = list(stream_rows(influx, SCAN, site, chunk=chunk))
        assert got == scans, f"chunk {chunk}: {len(got)} rows, one query gives {len(scans)}"
    # From inside an instant shared by several series: the rows at and after it.
    start = next(t for t in times[len(times) // 2 :] if times.count(t) > 1)
    assert list(stream_rows(influx, SCAN, site, chunk=2, start_ns=start)) == _one_query(
        influx, SCAN, site, start
    )
    events = _one_query(influx, CONTAINER_EVENT, site, 0)
    assert len(events) == 4
    assert list(stream_rows(influx, CONTAINER_EVENT, site, chunk=1)) == events
    assert list(stream_rows(influx, ALERT, site, chunk=3)) == []  # a measurement never written


def test_an_abandoned_read_stops_its_thread(settings: Settings, influx: InfluxClient) -> None:
    site = settings.site.name
    influx.write(_history(site, datetime.now(UTC)))
    rows = stream_rows(influx, SCAN, site, chunk=4)
    first = [next(rows) for _ in range(10)]
    assert len({r["station"] for r in first}) > 1
    rows.close()  # as the replay's merge does when a row cannot be applied
    assert next(rows, None) is None


def _unbounded_stream_rows(
    influx: InfluxClient, measurement: str, site: str, chunk: int = 10_000, start_ns: int = 0
) -> Iterator[dict[str, Any]]:
    """The reader before the windows (commit 3dc2a84): pages open to the end of history."""

    def row_key(row: dict[str, Any]) -> frozenset[tuple[str, Any]]:
        return frozenset(row.items())

    cursor = max(start_ns, 0)
    at_cursor: set[frozenset[tuple[str, Any]]] = set()
    limit = chunk
    columns = _COLUMNS.get(measurement, "*")
    base = f"SELECT {columns} FROM {quote_ident(measurement)} WHERE site = {quote_str(site)}"
    while True:
        rows = influx.query(f"{base} AND time >= {cursor} ORDER BY time ASC LIMIT {limit}")
        for row in rows:
            if int(row["time"]) == cursor and row_key(row) in at_cursor:
                continue
            yield row
        if len(rows) < limit:
            return
        last = int(rows[-1]["time"])
        if last == cursor:
            at_cursor.update(row_key(r) for r in rows)
            limit *= 2
            continue
        cursor = last
        at_cursor = {row_key(r) for r in rows if int(r["time"]) == last}
        limit = chunk


def test_a_full_rebuild_is_the_state_the_unbounded_pages_gave(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # bench.history writes the bench's site (into the test's own database)
    settings = settings.model_copy(update={"site": settings.site.model_copy(update={"name": SITE})})
    influx = InfluxClient(settings.influx)
    try:
        influx.ensure_database()
        now = datetime.now(UTC)
        written = write_history(influx, 16_000, now - timedelta(minutes=10))
        assert written.shipped >= 2
        assert written.open_drums > 0
        new = rebuild(settings, influx, chunk=700, now=now)
        assert new.floor.shipped.count > 0
        assert len(new.floor.containers) == written.containers
        with monkeypatch.context() as patch:
            patch.setattr(rebuild_module, "stream_rows", _unbounded_stream_rows)
            old = rebuild(settings, influx, chunk=700, now=now)
        assert old.events == new.events > written.scans
        assert state_of(new) == state_of(old)
        assert state_of(rebuild(settings, influx, now=now)) == state_of(old)  # one chunk size
    finally:
        influx.close()
