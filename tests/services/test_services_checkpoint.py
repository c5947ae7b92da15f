"""Issue 16: a start from a checkpoint gives the very state all history gives; memory is bounded.

The services run against real Mosquitto and InfluxDB; the floor is driven as stations and
the API would (tests/services/kit.py). Then the two roads are read from the same store at
the same instant: ``load_state`` (the newest checkpoint plus what came after it) and
``rebuild`` (every stored fact), and compared with ``state_of`` — the generic view a
checkpoint keeps, so state added to the floor later is compared without being listed.
"""

from __future__ import annotations

import base64
import json
import threading
import zlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from gudang.influx import InfluxClient, line, quote_str
from gudang.settings import Settings, load_settings
from gudang.storage import CHECKPOINT, TAG_PART, TAG_SITE, scan_time_ns
from gudang.wire import QcResult
from services.alerts import AlertBook
from services.checkpoint import (
    KEEP,
    CheckpointUnreadable,
    decode_payload,
    encode_payload,
    load_state,
    state_of,
    write_checkpoint,
)
from services.floor import Floor
from services.rebuild import Rebuilt, rebuild
from services.records import Stamper
from tests.harness import running_services, wait_for
from tests.services.kit import (
    CONTAINER,
    OTHER_CONTAINER,
    Floorkit,
    Streamer,
    assert_loaded_once,
    count,
    drum,
    kill_9,
    rows,
    scan_messages,
    services_config,
    start_services_process,
)

CAPACITY = 12
XL = {"name": "Djembe extra large", "size": "XL", "min_kg": 11.0, "max_kg": 16.0}


@pytest.fixture
def settings(settings_with: Callable[..., Settings]) -> Settings:
    """Small containers, so that one fills, is sealed and ships within the test."""
    return settings_with(floor={"default_capacity_drums": CAPACITY})


def _scan_result(influx: InfluxClient, site: str, scan_id: str) -> dict[str, Any]:
    found = rows(influx, "scan", site, f"id = {quote_str(scan_id)}")
    assert len(found) == 1, found
    return found[0]


def _ship_one_container(kit: Floorkit) -> list[str]:
    """Receive drums (some held by QC), load CAPACITY into CONTAINER, seal and ship it."""
    labels = [drum(n) for n in range(CAPACITY + 4)]
    # A SKU set live: the catalogue is state too (applied over the configured one).
    kit.ok("catalogue/set-sku", actor="admin-1", sku="JMB-XL", spec=XL)
    kit.receive()
    # Tokens made in the dashboard are state too: a person's (a role) and a phone's.
    kit.ok("phone-token/issue", actor="admin-1", name="budi", role="supervisor", sha256="b" * 64)
    kit.ok("phone-token/issue", name="phone-load-1-abcdef", station="load-1", sha256="c" * 64)
    # The admin's alert routing is state too (a setting_event).
    kit.ok(
        "alerts/routing",
        actor="admin-1",
        dashboard_kinds=["container_full"],
        webhook_kinds=["duplicate_scan"],
    )
    for n, label in enumerate(labels):
        kit.scan("recv-1", label, qc=QcResult.REWORK if n == CAPACITY + 3 else None)
    wait_for(lambda: kit.stock_of("JMB-L") == CAPACITY + 3, what="received into stock")
    kit.open_at(CONTAINER, "load-1")
    kit.scan("load-1", labels[0])
    kit.wait_drums(CONTAINER, 1)
    kit.scan("load-1", labels[0])  # a duplicate: an alert
    for label in labels[1:CAPACITY]:
        kit.scan("load-1", label)
    kit.wait_drums(CONTAINER, CAPACITY)
    kit.ok("container/seal", container_no=CONTAINER, seal_no="SEAL-16")
    kit.ok("container/ship", container_no=CONTAINER)
    return labels


def test_a_start_from_the_checkpoint_and_a_full_rebuild_agree_exactly(
    settings: Settings, kit: Floorkit, influx: InfluxClient
) -> None:
    site = settings.site.name
    with running_services(settings) as services:
        labels = _ship_one_container(kit)
        wait_for(
            lambda: services.ingest.counters["checkpoints"] >= 2,  # at start, and at the ship
            what="the checkpoint at the ship",
        )
        # After the checkpoint: another container, an unload, a spool's late scan (device
        # time two hours ago, stored after the checkpoint), a quarantined scan, an alert ack.
        kit.open_at(OTHER_CONTAINER, "load-1")
        for label in labels[CAPACITY : CAPACITY + 2]:
            kit.scan("load-1", label)
        kit.scan("load-1", drum(900), ts=datetime.now(UTC) - timedelta(hours=2))
        kit.wait_drums(OTHER_CONTAINER, 3)
        kit.ok("container/unload", container_no=OTHER_CONTAINER, drum=labels[CAPACITY])
        kit.scan("load-1", drum(901), ts=datetime.now(UTC) - timedelta(days=30))
        dup = kit.wait_alert("duplicate_scan")
        kit.ok("alert/ack", alert_id=dup.id)
        kit.ok("catalogue/set-sku", actor="admin-1", sku="JMB-XS", spec={**XL, "name": "XS"})
        kit.ok("phone-token/revoke", actor="admin-1", name="budi")
        # Changed again after the checkpoint: its tail has the newer one.
        kit.ok(
            "alerts/routing", actor="admin-1", dashboard_kinds=["container_full"], webhook_kinds=[]
        )
        kit.ok("phone-token/issue", actor="admin-1", name="sari", role="admin", sha256="d" * 64)
        wait_for(lambda: services.ingest.counters["quarantined"] == 1, what="quarantined")
        live = state_of(services.ingest.state)
    now = datetime.now(UTC)
    from_checkpoint = load_state(settings, influx, now=now)
    full = rebuild(settings, influx, now=now)
    assert from_checkpoint.road == "checkpoint"
    assert full.road == "full"
    assert from_checkpoint.events < full.events  # it read less ...
    assert state_of(from_checkpoint) == state_of(full)  # ... and knows the very same
    assert from_checkpoint.floor.settings.skus == full.floor.settings.skus  # the live catalogue
    assert {"JMB-XL", "JMB-XS"} <= set(full.floor.settings.skus)
    tokens = {t.name: (t.role, t.station) for t in full.floor.phone_tokens.values()}
    assert tokens == {"phone-load-1-abcdef": ("worker", "load-1"), "sari": ("admin", None)}
    routing = from_checkpoint.floor.alert_routing
    assert routing is not None
    assert (routing.dashboard_kinds, routing.webhook_kinds) == (["container_full"], [])
    assert routing.set_by == "admin-1"
    assert state_of(full)["floor"]["alert_routing"] == live["floor"]["alert_routing"]
    # and that is the state the services had (a station's online state aside: it comes
    # from the retained status, never from the store)
    assert state_of(full)["floor"]["containers"] == live["floor"]["containers"]
    assert state_of(full)["seen_scans"] == live["seen_scans"]
    assert state_of(full)["floor"]["stock"] == live["floor"]["stock"]
    # The shipped container's drums left memory; it stays as a summary.
    floor = from_checkpoint.floor
    shipped = floor.containers[CONTAINER]
    assert shipped.drums == {}
    assert shipped.drum_count == CAPACITY
    assert not any(label in floor.drum_location for label in labels[:CAPACITY])
    assert floor.drum_location[labels[CAPACITY + 1]] == OTHER_CONTAINER
    assert floor.drum_location[labels[CAPACITY]] == "warehouse"  # unloaded
    assert len(rows(influx, "shipped_drum", site)) == CAPACITY


def _checkpoint_times(influx: InfluxClient, site: str) -> list[int]:
    found = rows(influx, CHECKPOINT, site, f"{TAG_PART} = '0'")
    return sorted(int(r["time"]) for r in found)


def test_a_torn_corrupt_or_old_checkpoint_falls_back_and_agrees(
    settings: Settings, kit: Floorkit, influx: InfluxClient
) -> None:
    site = settings.site.name
    with running_services(settings) as services:
        _ship_one_container(kit)
        wait_for(lambda: services.ingest.counters["checkpoints"] >= 2, what="two checkpoints")
    now = datetime.now(UTC)
    expected = state_of(rebuild(settings, influx, now=now))
    times = _checkpoint_times(influx, site)
    assert len(times) >= 2
    # The newest is corrupted (its data overwritten): the one before it is used.
    influx.write(
        [line(CHECKPOINT, {TAG_SITE: site, TAG_PART: "0"}, {"data": "garbage"}, times[-1])]
    )
    older = load_state(settings, influx, now=now)
    assert older.road == "checkpoint"
    assert state_of(older) == expected
    # Every checkpoint torn (part 0's data gone): the full rebuild, the same state.
    for t in times:
        influx.write([line(CHECKPOINT, {TAG_SITE: site, TAG_PART: "0"}, {"data": "x"}, t)])
    torn = load_state(settings, influx, now=now)
    assert torn.road == "full"
    assert state_of(torn) == expected
    # A fresh one, but too old for the settings: the full rebuild.
    with running_services(settings) as services:
        assert services.ingest.counters["checkpoints"] == 1  # after the full rebuild
    strict = settings.model_copy(
        update={"ingest": settings.ingest.model_copy(update={"checkpoint_max_age_s": 1.0})}
    )
    old = load_state(strict, influx, now=datetime.now(UTC) + timedelta(seconds=5))
    assert old.road == "full"
    assert load_state(settings, influx).road == "checkpoint"


def test_a_drum_shipped_long_ago_and_scanned_again_is_reported_as_shipped(
    settings: Settings, kit: Floorkit, influx: InfluxClient
) -> None:
    site = settings.site.name
    with running_services(settings):
        labels = _ship_one_container(kit)
        kit.open_at(OTHER_CONTAINER, "load-1")
        loading = kit.scan("load-1", labels[3])
        receiving = kit.scan("recv-1", labels[4])
        wait_for(
            lambda: len(rows(influx, "scan", site, f"id = {quote_str(receiving.id)}")) == 1,
            what="the rescans stored",
        )
    # A restart (from the checkpoint): the drums are still not in memory, still found.
    with running_services(settings) as services:
        assert services.ingest.state.road == "checkpoint"
        assert labels[5] not in services.ingest.floor.drum_location
        again = kit.scan("load-1", labels[5])
        wait_for(
            lambda: len(rows(influx, "scan", site, f"id = {quote_str(again.id)}")) == 1,
            what="the rescan after the restart stored",
        )
        new = kit.scan("load-1", drum(777))  # never shipped: loaded, no query needed
        kit.wait_drums(OTHER_CONTAINER, 1)
        assert services.ingest.shipped_lookup.queries == 1  # only the shipped one asked
    day = datetime.now(UTC).date().isoformat()
    for scan, result in ((loading, "wrong_container"), (again, "wrong_container")):
        row = _scan_result(influx, site, scan.id)
        assert row["result"] == result
        assert row["reason"] == f"drum already shipped in {CONTAINER} on {day}"
    row = _scan_result(influx, site, receiving.id)
    assert row["result"] == "duplicate"
    assert row["reason"] == f"already shipped in {CONTAINER} on {day}"
    assert _scan_result(influx, site, new.id)["result"] == "loaded"
    state = kit.wait_drums(OTHER_CONTAINER, 1)
    assert state.drums == 1  # the shipped drums were not loaded again
    assert kit.stock_of("JMB-L") == 3  # nor received again


def test_scan_ids_older_than_the_window_leave_memory(
    settings: Settings, kit: Floorkit, influx: InfluxClient
) -> None:
    max_age = settings.floor.max_scan_age_s
    old_ts = datetime.now(UTC) - timedelta(seconds=max_age - 60)  # just inside the window
    with running_services(settings) as services:
        kit.open_at(CONTAINER, "load-1")
        old = kit.scan("load-1", drum(1), ts=old_ts)
        kit.wait_drums(CONTAINER, 1)
        assert ("load-1", old.id) in services.ingest.state.seen_scans
        assert ("load-1", scan_time_ns(old)) in services.ingest.state.scan_points
    # Known at a start now (a replay of it would be skipped) ...
    assert ("load-1", old.id) in load_state(settings, influx).seen_scans
    # ... forgotten at a start two hours on (the window and its one-hour margin passed):
    # a replay that old is quarantined before its id is looked at (clock_problem).
    later = load_state(settings, influx, now=datetime.now(UTC) + timedelta(hours=2))
    assert ("load-1", old.id) not in later.seen_scans
    assert ("load-1", scan_time_ns(old)) not in later.scan_points
    assert len(later.seen_scans) == 1  # the container label's scan, of now, is kept
    assert later.floor.containers[CONTAINER].drum_count == 1  # the count is not forgotten


class HoldingProxy:
    """A real HTTP proxy in front of InfluxDB; once armed, it holds a checkpoint's header write.

    Everything else goes through to the real InfluxDB. The services' checkpoint writes its
    parts first and its header last, so holding the header is a crash in the middle of
    writing one: the parts are stored, the header never is.
    """

    def __init__(self, target: str) -> None:
        self.target = httpx.Client(base_url=target, timeout=30)
        self.armed = threading.Event()
        self.held = threading.Event()
        self.release = threading.Event()
        self.held_body = b""
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if (
                    self.path.startswith("/write")
                    and b"checkpoint,part=0," in body
                    and proxy.armed.is_set()
                    and not proxy.held.is_set()
                ):
                    proxy.held_body = body
                    proxy.held.set()
                    proxy.release.wait(60)
                    self.close_connection = True
                    return
                r = proxy.target.request(
                    self.command,
                    self.path,
                    content=body,
                    headers={k: v for k, v in self.headers.items() if k.lower() != "host"},
                )
                self.send_response(r.status_code)
                for key in ("Content-Type", "X-Influxdb-Version"):
                    if key in r.headers:
                        self.send_header(key, r.headers[key])
                self.send_header("Content-Length", str(len(r.content)))
                self.end_headers()
                self.wfile.write(r.content)

            do_GET = _forward  # noqa: N815 - http.server's names
            do_POST = _forward  # noqa: N815

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop serving."""
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self.target.close()


@pytest.mark.slow
def test_kill_9_while_a_checkpoint_is_written_keeps_every_scan_exactly_once(
    settings: Settings, influx: InfluxClient, tmp_path: Path
) -> None:
    site = settings.site.name
    n_scans = 3_000
    proxy = HoldingProxy(settings.influx.url)
    config = services_config(
        settings,
        tmp_path / "services.toml",
        influx_url=proxy.url,
        ingest_extra="checkpoint_interval_s = 0.5\n",
    )
    log = tmp_path / "services.log"
    proc = start_services_process(config, log)
    streamer: Streamer | None = None
    try:
        with Floorkit(settings) as kit:
            kit.open_at(CONTAINER, "load-1", capacity_drums=5000)
            streamer = Streamer(settings)
            streamer.start(
                scan_messages(site, ("load-1",), map(drum, range(n_scans))), per_second=400
            )
            wait_for(
                lambda: count(influx, "scan", site, "result = 'loaded'") >= 1500,
                timeout=60,
                what="1,500 stored",
            )
            proxy.armed.set()  # the next checkpoint's header is held: its parts are written
            assert proxy.held.wait(60), "no checkpoint was written"
            kill_9(proc)
            proxy.release.set()
            held_at = int(proxy.held_body.rsplit(b" ", 1)[1])
            stored_at_kill = count(influx, "scan", site, "result = 'loaded'")
            assert stored_at_kill < n_scans, "the kill came too late to be mid-stream"
            # Torn: the checkpoint's other parts are stored, its header is not.
            at_held = rows(influx, CHECKPOINT, site, f"time = {held_at}")
            assert at_held, "the checkpoint had one part only: nothing was torn"
            assert all(r[TAG_PART] != "0" for r in at_held)
            # A start now skips it: an older checkpoint, and the scans after it, once each.
            now = datetime.now(UTC)
            before = load_state(settings, influx, now=now)
            assert before.road == "checkpoint"
            assert before.floor.containers[CONTAINER].drum_count == stored_at_kill
            assert state_of(before) == state_of(rebuild(settings, influx, now=now))

            proc = start_services_process(config, log)
            streamer.wait_done(n_scans, timeout=90)
            final = kit.wait_drums(CONTAINER, n_scans, timeout=120)
            assert final.net_weight_kg == pytest.approx(n_scans * 9.5)
        assert_loaded_once(influx, site, n_scans)
        assert count(influx, "scan", site) == n_scans + 1  # and the container label: no duplicate
        text = log.read_text(errors="replace")
        assert "started from the checkpoint" in text
        assert f"checkpoint at {held_at} " not in text
    finally:
        if streamer is not None:
            streamer.close()
        kill_9(proc)
        proxy.close()
    assert "Traceback" not in log.read_text(errors="replace")


def test_state_a_checkpoint_cannot_hold_fails_loudly_and_a_changed_class_is_not_read() -> None:
    settings = load_settings(None, {})
    state = Rebuilt(floor=Floor(settings.floor), alerts=AlertBook())
    state.floor.open_container(CONTAINER)
    payload = encode_payload(state)
    assert decode_payload(payload, settings).floor.containers[CONTAINER].capacity_drums == 2600
    # New state of a kind the codec does not know: the checkpoint refuses, never drops it.
    state.floor.new_kind_of_state = threading.Lock()  # type: ignore[attr-defined]
    with pytest.raises(TypeError, match="cannot hold"):
        encode_payload(state)
    # A checkpoint written when a class had other fields is not read into today's class.
    doc = json.loads(zlib.decompress(base64.b64decode(payload)))
    doc["classes"]["services.floor:Container"].append("a_field_since_removed")
    tampered = base64.b64encode(zlib.compress(json.dumps(doc).encode())).decode()
    with pytest.raises(CheckpointUnreadable, match="Container has changed"):
        decode_payload(tampered, settings)


def test_only_the_newest_checkpoints_are_kept(settings: Settings, influx: InfluxClient) -> None:
    state = Rebuilt(floor=Floor(settings.floor), alerts=AlertBook())
    stamp = Stamper(0)
    written = [
        write_checkpoint(influx, settings, state, stamp, datetime.now(UTC)) for _ in range(5)
    ]
    kept = _checkpoint_times(influx, settings.site.name)
    assert kept == [h.at_ns for h in written[-KEEP:]]
    assert load_state(settings, influx).road == "checkpoint"
