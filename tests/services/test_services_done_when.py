"""Issue #4's "Done when": the seed scenario, kill -9, InfluxDB down 60 s, a malformed flood.

Scans go straight over MQTT (QoS 1) to the services; counts are read from InfluxDB and
from the retained state the services publish. Every scan has a unique id and the
streamer counts the broker's PUBACKs: that is the ledger the results are checked against.
"""

from __future__ import annotations

import os
import signal
import time
from itertools import chain
from pathlib import Path

import msgspec
import pytest

from gudang.influx import InfluxClient
from gudang.settings import Settings
from gudang.wire import ScanKind, Topics, encode
from gudang_ops.servers import ServerProcess, restart, start_influxd
from services.rebuild import rebuild
from tests.harness import make_settings, running_services, wait_for
from tests.services.kit import (
    CONTAINER,
    OTHER_CONTAINER,
    Floorkit,
    Streamer,
    alert_states,
    assert_loaded_once,
    comparable,
    count,
    drum,
    kill_9,
    make_scan,
    rows,
    scan_messages,
    services_config,
    start_services_process,
)

SEED_DRUMS = 2_600  # per container: the first shipment, PRODUCT.md


@pytest.mark.slow
def test_seed_scenario_two_containers_of_2600_from_two_stations(
    settings: Settings, influx: InfluxClient
) -> None:
    site = settings.site.name
    total = 2 * SEED_DRUMS
    labels = [drum(n) for n in range(total)]
    with Floorkit(settings) as kit, running_services(settings) as services:
        streamer = Streamer(settings)
        try:
            # Craftsmen deliver: two receiving stations take all 5,200 drums into stock.
            for station in ("recv-1", "recv-2"):
                kit.receive(station=station)
            streamer.start(scan_messages(site, ("recv-1", "recv-2"), labels))
            wait_for(lambda: kit.stock_of("JMB-L") == total, timeout=90, what="5,200 in stock")

            # Two loading stations fill two containers at once.
            kit.ok("container/open", container_no=CONTAINER)
            kit.ok("container/open", container_no=OTHER_CONTAINER)
            kit.point_at("load-1", CONTAINER)
            kit.point_at("load-2", OTHER_CONTAINER)
            # In turns: load-1 the first half of the labels, load-2 the second.
            halves = zip(labels[:SEED_DRUMS], labels[SEED_DRUMS:], strict=True)
            streamer.start(scan_messages(site, ("load-1", "load-2"), chain.from_iterable(halves)))
            streamer.wait_done(2 * total, timeout=90)
            for number in (CONTAINER, OTHER_CONTAINER):
                state = kit.wait_drums(number, SEED_DRUMS, timeout=90)
                assert state.status == "full"
                assert state.fill_ratio == 1.0
                assert state.net_weight_kg == pytest.approx(SEED_DRUMS * 9.5)
            wait_for(lambda: kit.stock_of("JMB-L") == 0, what="stock fell by 5,200")
            full = wait_for(
                lambda: (
                    len(kit.alerts_of("container_full")) == 2 and kit.alerts_of("container_full")
                ),
                what="both full alerts",
            )
            assert sorted(a.container_no for a in full) == sorted([CONTAINER, OTHER_CONTAINER])
            assert services.ingest.counters["scan_loaded"] == total
            assert services.ingest.counters["scan_received"] == total
        finally:
            streamer.close()
    # Exactly once, as stored: one full alert per container, every drum once.
    stored_full = rows(influx, "alert", site, "kind = 'container_full'")
    assert sorted((r["container_no"], r["state"]) for r in stored_full) == sorted(
        [(CONTAINER, "raised"), (OTHER_CONTAINER, "raised")]
    )
    assert len(rows(influx, "alert", site, "kind = 'container_nearly_full'")) == 2
    assert count(influx, "scan", site, "result = 'loaded'") == total
    assert count(influx, "scan", site, "result = 'received'") == total
    assert count(influx, "scan", site) == total * 2 + 2  # and the two container labels


@pytest.mark.slow
def test_kill_9_mid_stream_loses_nothing_counts_nothing_twice_and_rebuilds_the_same(
    settings: Settings, influx: InfluxClient, tmp_path: Path
) -> None:
    site = settings.site.name
    config = services_config(settings, tmp_path / "services.toml")
    log = tmp_path / "services.log"
    n_scans = 3_000
    proc = start_services_process(config, log)
    streamer: Streamer | None = None
    try:
        with Floorkit(settings) as kit:
            wait_for(lambda: kit.link.connected, what="kit")
            reply = kit.command("container/open", container_no=CONTAINER, capacity_drums=10_000)
            assert reply.ok, reply.error
            kit.point_at("load-1", CONTAINER)
            kit.point_at("load-2", CONTAINER)
            scans = scan_messages(site, ("load-1", "load-2"), map(drum, range(n_scans)))
            streamer = Streamer(settings)
            streamer.start(scans, per_second=1_000)
            # Mid-stream: some batches stored, more coming, some in flight.
            wait_for(
                lambda: count(influx, "scan", site, "result = 'loaded'") >= 500,
                timeout=30,
                what="500 stored",
            )
            kill_9(proc)
            published = kit.container(CONTAINER)
            stored_at_kill = count(influx, "scan", site, "result = 'loaded'")
            assert stored_at_kill < n_scans, "the kill came too late to be mid-stream"
            # What was published was stored first: the rebuild has at least that.
            rebuilt = rebuild(settings, influx)
            assert published is not None
            assert len(rebuilt.floor.containers[CONTAINER].drums) >= published.drums
            assert len(rebuilt.floor.containers[CONTAINER].drums) == stored_at_kill

            proc = start_services_process(config, log)
            streamer.wait_done(n_scans, timeout=60)
            final = kit.wait_drums(CONTAINER, n_scans, timeout=90)
            assert final.net_weight_kg == pytest.approx(n_scans * 9.5)
            assert_loaded_once(influx, site, n_scans)
            assert count(influx, "scan", site) == n_scans + 2  # nothing else: no duplicates

            # A clean restart: the rebuilt state is the state before it.
            before = {
                "container": comparable(final),
                "stations": sorted(
                    (comparable(kit.station(s)) for s in ("load-1", "load-2")),
                    key=lambda d: d["station"],
                ),
            }
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=20)
            kit.retained.clear()
            proc = start_services_process(config, log)
            after = {
                "container": comparable(
                    wait_for(lambda: kit.container(CONTAINER), timeout=30, what="republished")
                ),
                "stations": sorted(
                    (
                        comparable(wait_for(lambda s=s: kit.station(s), what=s))
                        for s in ("load-1", "load-2")
                    ),
                    key=lambda d: d["station"],
                ),
            }
            assert after["container"] == before["container"]
            assert after["stations"] == before["stations"], (after["stations"], before["stations"])
    finally:
        if streamer is not None:
            streamer.close()
        kill_9(proc)
    # The services said nothing was refused or crashed.
    text = log.read_text(errors="replace")
    assert "Traceback" not in text, text[-3000:]


def _rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


@pytest.mark.slow
def test_influxdb_down_60s_mid_stream_zero_loss_bounded_memory_and_an_alert_that_clears(
    mosquitto: ServerProcess, site: str, tmp_path: Path
) -> None:
    own_influx = start_influxd(tmp_path / "influxdb")  # this test stops its InfluxDB
    max_inflight = 200
    settings = make_settings(
        mosquitto,
        own_influx,
        site,
        tmp_path,
        ingest={"max_inflight": max_inflight, "batch_size": 100, "retry_max_s": 2.0},
        alerts={"storage_grace_s": 1.0},
    )
    rate = 40  # scans/s from four stations: 2,400 during the outage, 12x the inflight bound
    n_scans = rate * 75
    influx = InfluxClient(settings.influx)
    streamer = Streamer(settings)
    try:
        with Floorkit(settings) as kit, running_services(settings) as services:
            ingest = services.ingest
            stations = ("load-1", "load-2", "load-3", "load-4")
            kit.open_at(CONTAINER, *stations, capacity_drums=10_000)
            scans = scan_messages(site, stations, map(drum, range(n_scans)))
            streamer.start(scans, per_second=rate)
            wait_for(lambda: ingest.counters["scan_loaded"] >= 100, what="stream flowing")
            rss_before = _rss_kb()
            own_influx.stop()
            outage_end = time.monotonic() + 60
            kit.wait_alert("storage_unreachable", timeout=15)
            rss_peak = rss_before
            most_held = 0
            while time.monotonic() < outage_end:
                most_held = max(most_held, ingest.queued)
                rss_peak = max(rss_peak, _rss_kb())
                time.sleep(0.5)
            acked_during = ingest.counters["acked"]
            own_influx = restart(own_influx)
            streamer.wait_done(n_scans, timeout=60)
            kit.wait_drums(CONTAINER, n_scans, timeout=120)
            kit.wait_alert("storage_unreachable", "cleared", timeout=30)
            # Bounded: the broker kept the rest, never more than Receive Maximum with us.
            assert ingest.max_queued <= max_inflight
            assert most_held <= max_inflight
            assert most_held >= max_inflight // 2, "the outage did not fill the in-flight window"
            assert acked_during < n_scans
            assert rss_peak - rss_before < 200 * 1024, "memory grew while InfluxDB was down"
        assert_loaded_once(influx, site, n_scans)
        assert alert_states(influx, site, "storage_unreachable") == ["raised", "cleared"]
    finally:
        streamer.close()
        influx.close()
        own_influx.stop()  # the restarted one: restart() gave a new process


def _malformed(site: str, i: int) -> bytes:
    kind = i % 5
    if kind == 0:
        return os.urandom(64)
    if kind == 1:
        return b'{"v":1,"id":"%d", not json' % i
    if kind == 2:
        return b"x" * (20 * 1024)  # over MAX_PAYLOAD_BYTES
    if kind == 3:
        scan = msgspec.to_builtins(make_scan(site, "load-1", drum(90_000 + i)))
        scan["weight_kg"] = "heavy"  # wrong type
        return msgspec.json.encode(scan)
    return encode(make_scan("elsewhere", "load-1", drum(90_000 + i)))  # wrong site


def test_flood_of_malformed_payloads_is_dead_lettered_while_good_scans_all_count(
    settings: Settings, kit: Floorkit, influx: InfluxClient
) -> None:
    site = settings.site.name
    topics = Topics(site)
    good, bad = 500, 1_500
    messages = []
    for i in range(good + bad):
        if i % 4 == 0:
            n = i // 4
            messages.append((topics.scan("load-1"), encode(make_scan(site, "load-1", drum(n)))))
        else:
            messages.append((topics.scan("load-1"), _malformed(site, i)))
    with running_services(settings) as services:
        kit.ok("container/open", container_no=CONTAINER)
        kit.scan("load-1", CONTAINER, kind=ScanKind.CONTAINER)
        wait_for(
            lambda: kit.station("load-1") and kit.station("load-1").active_container, what="set"
        )
        streamer = Streamer(settings)
        try:
            streamer.start(messages)
            streamer.wait_done(good + bad, timeout=60)
            kit.wait_drums(CONTAINER, good, timeout=60)
            wait_for(lambda: len(kit.deadletters) == bad, timeout=30, what="dead letters out")
            assert services.ingest.counters["deadlettered"] == bad
            assert services.ingest.counters["batch_errors"] == 0
        finally:
            streamer.close()
    assert count(influx, "dead_letter", site) == bad
    assert count(influx, "scan", site, "result = 'loaded'") == good
    reasons = {str(r["reason"]).split(":")[0] for r in rows(influx, "dead_letter", site)}
    assert reasons == {
        "invalid scan payload",
        "payload of 20480 bytes exceeds 16384",
        "scan for elsewhere/load-1 published on gudang/" + site + "/station/load-1/scan",
    }, reasons
