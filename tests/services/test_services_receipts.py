"""Receipts: the services tell each station which of its scans are done with, once stored.

A station deletes a spooled scan only on its receipt (docs/bridge.md), so a receipt must
name every scan the services acknowledged (stored, quarantined, refused with a readable
id), only after the write, coalesced per station and batch; and a scan sent again after
its receipt was lost must change nothing but earn another receipt.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import msgspec

from gudang.influx import InfluxClient
from gudang.settings import Settings
from gudang.wire import ScanV1, encode
from tests.harness import running_services, wait_for
from tests.services.kit import CONTAINER, Floorkit, Receipts, drum, rows


def test_receipts_name_every_settled_scan_once_per_batch_after_the_write(
    settings: Settings, kit: Floorkit, receipts: Receipts, influx: InfluxClient
) -> None:
    site = settings.site.name
    with running_services(settings):
        kit.open_at(CONTAINER, "load-1", "load-2")
        wait_for(lambda: receipts.count("load-2") == 1, what="the label's receipt")
    receipts.clear()
    # The ingest is away: its persistent session queues everything below, which
    # then arrives in a burst, as after a restart.
    sent: dict[str, list[str]] = defaultdict(list)
    for n in range(40):
        sent["load-1"].append(kit.scan("load-1", drum(n)).id)
    for n in range(40, 50):
        sent["load-2"].append(kit.scan("load-2", drum(n)).id)
    old = datetime(1970, 1, 1, tzinfo=UTC)
    sent["load-1"].append(kit.scan("load-1", drum(60), ts=old).id)  # quarantined
    # Refused for good but with a readable id: receipted, or resent forever.
    forged = ScanV1(
        id=uuid.uuid4().hex,
        ts=datetime.now(UTC),
        site=site,
        station="load-9",
        barcode=drum(61),
    )
    kit.link.publish_and_wait(kit.topics.scan("load-1"), encode(forged))
    sent["load-1"].append(forged.id)
    long_id = uuid.uuid4().hex
    bad = {"id": long_id, "site": site, "station": "load-1", "barcode": "x" * 600}
    kit.link.publish_and_wait(kit.topics.scan("load-1"), msgspec.json.encode(bad))
    sent["load-1"].append(long_id)
    kit.link.publish_and_wait(kit.topics.scan("load-1"), b"not json at all")

    with running_services(settings) as services:
        wait_for(
            lambda: (
                sorted(receipts.ids("load-1")) == sorted(sent["load-1"])
                and sorted(receipts.ids("load-2")) == sorted(sent["load-2"])
            ),
            what="a receipt for every scan that has an id",
        )
        counters = services.ingest.counters
        assert counters["scan_loaded"] == 50
        assert counters["quarantined"] == 1
        assert counters["deadlettered"] == 3
        # Coalesced: a few receipts for 43 scans, not one each.
        assert receipts.count("load-1") < 10
        assert counters["receipts_sent"] == receipts.count("load-1") + receipts.count("load-2")
        # Receipted only once stored: every loaded scan is in InfluxDB.
        stored = {r["id"] for r in rows(influx, "scan", site, "result = 'loaded'")}
        assert stored >= set(sent["load-1"][:40]) | set(sent["load-2"])
    for station, receipt in receipts.got:
        assert receipt.station == station


def test_a_scan_resent_after_its_receipt_changes_nothing_even_after_a_restart(
    settings: Settings, kit: Floorkit, receipts: Receipts, influx: InfluxClient
) -> None:
    site = settings.site.name
    at = datetime.now(UTC) - timedelta(minutes=5)  # from a spool: minutes old
    with running_services(settings) as services:
        kit.open_at(CONTAINER, "load-1")
        scans = [kit.scan("load-1", drum(n), ts=at + timedelta(seconds=n)) for n in range(5)]
        kit.wait_drums(CONTAINER, 5)
        wait_for(
            lambda: {s.id for s in scans} <= set(receipts.ids("load-1")),
            what="receipts of the 5 scans",
        )
        before = kit.container(CONTAINER)
        # The receipt was lost: the station sends the same scan again.
        again = scans[2]
        kit.scan("load-1", again.barcode, ts=again.ts, scan_id=again.id)
        wait_for(lambda: services.ingest.counters["redelivered"] == 1, what="resend seen")
        wait_for(lambda: receipts.ids("load-1").count(again.id) == 2, what="receipt again")
        assert len(services.ingest.floor.containers[CONTAINER].drums) == 5
        station_scans = services.ingest.floor.stations["load-1"].scans
        assert station_scans == 6  # the label and 5 drums, the resend not counted
    # After a restart the services know it from InfluxDB alone.
    with running_services(settings) as services:
        for scan in scans:
            kit.scan("load-1", scan.barcode, ts=scan.ts, scan_id=scan.id)
        wait_for(lambda: services.ingest.counters["redelivered"] == 5, what="5 resends seen")
        wait_for(
            lambda: all(receipts.ids("load-1").count(s.id) >= 2 for s in scans),
            what="receipts of all 5 again",
        )
        assert services.ingest.counters["scan_loaded"] == 0
        assert len(services.ingest.floor.containers[CONTAINER].drums) == 5
        after = kit.wait_drums(CONTAINER, 5)
        assert after.net_weight_kg == before.net_weight_kg
        assert services.ingest.floor.stations["load-1"].scans == station_scans
    loaded = rows(influx, "scan", site, "result = 'loaded'")
    assert sorted(r["id"] for r in loaded) == sorted(s.id for s in scans)
