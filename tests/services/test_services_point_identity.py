"""Point identity: a replay lands on its own point, two scans never on one."""

from __future__ import annotations

import uuid
import zlib
from datetime import UTC, datetime

from gudang.influx import InfluxClient
from gudang.settings import Settings
from tests.harness import running_services, wait_for
from tests.services.kit import CONTAINER, Floorkit, drum, rows

_ID_OFFSET_NS = 1000


def _colliding_ids() -> tuple[str, str]:
    """Two scan ids whose point-time offsets are equal (a birthday search, ~40 tries)."""
    seen: dict[int, str] = {}
    while True:
        scan_id = uuid.uuid4().hex
        offset = zlib.crc32(scan_id.encode()) % _ID_OFFSET_NS
        if offset in seen:
            return seen[offset], scan_id
        seen[offset] = scan_id


def test_two_scans_at_one_time_with_the_same_offset_are_both_stored_and_replays_are_not(
    settings: Settings, kit: Floorkit, influx: InfluxClient
) -> None:
    first, second = _colliding_ids()
    at = datetime.now(UTC).replace(microsecond=123_000)
    with running_services(settings) as services:
        kit.open_at(CONTAINER, "load-1")
        kit.scan("load-1", drum(1), ts=at, scan_id=first)
        kit.scan("load-1", drum(2), ts=at, scan_id=second)
        kit.wait_drums(CONTAINER, 2)
        assert services.ingest.counters["point_collisions"] == 1
        kit.scan("load-1", drum(2), ts=at, scan_id=second)  # the bridge resends it
        wait_for(lambda: services.ingest.counters["redelivered"] == 1, what="replay seen")
    stored = rows(influx, "scan", settings.site.name, "result = 'loaded'")
    assert sorted(r["id"] for r in stored) == sorted([first, second])
    assert stored[1]["time"] - stored[0]["time"] == 1  # moved on by one ns
    # After a restart the points are known: a replay of either is recognised.
    with running_services(settings) as services:
        kit.scan("load-1", drum(1), ts=at, scan_id=first)
        kit.scan("load-1", drum(2), ts=at, scan_id=second)
        wait_for(lambda: services.ingest.counters["redelivered"] == 2, what="replays seen")
        assert len(services.ingest.floor.containers[CONTAINER].drums) == 2
    assert len(rows(influx, "scan", settings.site.name, "result = 'loaded'")) == 2
