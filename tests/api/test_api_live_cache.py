"""The API's rendered live state: rendered once per change, never stale (real broker)."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from stdnum import iso6346

from api.live import LiveState
from bench.floor import loading_state
from gudang.barcodes import ContainerNo
from gudang.settings import Settings
from gudang.wire import ContainerStateV1, StationViewV1, Topics, encode
from tests.api.conftest import CONTAINER, CONTAINER_2, STATION, Stack
from tests.harness import Probe, wait_for

# Generous: the broker and the test share a busy machine.
WAIT_S = 15.0


def _state(number: str, drums: int) -> ContainerStateV1:
    return loading_state(number, drums, datetime.now(UTC), 9.5, {"JMB-L": drums})


async def _until(predicate: Callable[[], bool], what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_S
    while not predicate():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


def _run_live(settings: Settings, scenario: Callable[[LiveState, Probe], Awaitable[None]]) -> None:
    """Run ``scenario`` on the API's live state, started, beside a probe; stop both after."""
    probe = Probe(settings)

    async def run() -> None:
        live = LiveState(settings)
        await live.start()
        try:
            await scenario(live, probe)
        finally:
            await live.stop()

    try:
        asyncio.run(run())
    finally:
        probe.close()


def test_bodies_are_rendered_again_only_after_their_state_changed(settings: Settings) -> None:
    topics = Topics(settings.site.name)
    renders: Counter[str] = Counter()

    def body(live: LiveState, key: str) -> dict[str, object]:
        def render() -> bytes:
            renders[key] += 1
            c = live.containers.get(CONTAINER)
            return json.dumps(
                {"render": renders[key], "drums": c.drums if c else None, "key": key}
            ).encode()

        return json.loads(live.body(key, render))  # type: ignore[no-any-return]

    async def scenario(live: LiveState, probe: Probe) -> None:
        for number in (CONTAINER, CONTAINER_2):
            probe.publish(topics.state_container(number), encode(_state(number, 1)), retain=True)
        await _until(lambda: len(live.containers) == 2, "both containers followed")
        keys = [f"container/{CONTAINER}", f"container/{CONTAINER_2}", "containers", "stock"]
        keys.append("stations")
        first = {k: body(live, k) for k in keys}
        assert first[f"container/{CONTAINER}"]["drums"] == 1
        # Asked again with nothing changed: the same rendering.
        assert {k: body(live, k) for k in keys} == first
        assert set(renders.values()) == {1}

        probe.publish(topics.state_container(CONTAINER), encode(_state(CONTAINER, 2)))
        await _until(lambda: live.containers[CONTAINER].drums == 2, "the new drum count")
        again = {k: body(live, k) for k in keys}
        # The container, the list and the stock (which counts drums in containers) are
        # rendered anew, with the new count; the other container and the stations not.
        assert again[f"container/{CONTAINER}"] == {
            "render": 2,
            "drums": 2,
            "key": f"container/{CONTAINER}",
        }
        assert again["containers"]["render"] == again["stock"]["render"] == 2
        assert again[f"container/{CONTAINER_2}"] == first[f"container/{CONTAINER_2}"]
        assert again["stations"] == first["stations"]

        view = StationViewV1(station=STATION, mode="loading", active_container=CONTAINER)
        probe.publish(topics.state_station(STATION), encode(view))
        await _until(lambda: STATION in live.stations, "the station")
        assert body(live, "stations")["render"] == 2
        assert body(live, "containers")["render"] == 2

    _run_live(settings, scenario)


def test_a_burst_of_state_messages_is_applied_in_order(settings: Settings) -> None:
    """Messages handed over from paho's thread in bursts: every one applied, the last wins."""
    topics = Topics(settings.site.name)
    burst = 1500  # several turns of the event loop (APPLY_PER_TURN)

    async def scenario(live: LiveState, _probe: Probe) -> None:
        await _until(lambda: live.link.ready, "the API's link")
        events = live.subscribe()
        for drums in range(1, burst + 1):
            live.link.publish(
                topics.state_container(CONTAINER),
                encode(_state(CONTAINER, drums)),
                qos=1,
                retain=True,
            )
        await _until(lambda: live.counters["container_changes"] >= burst, "every message applied")
        assert live.counters["container_changes"] == burst
        assert live.containers[CONTAINER].drums == burst
        # The stream saw the newest changes (a slow reader loses the oldest ones).
        assert events.qsize() > 0

    _run_live(settings, scenario)


def test_polled_gets_follow_every_change(stack: Stack) -> None:
    """GET container, list, stock and stations between scans: each shows the new drum."""
    stack.open_and_point()
    for n, label in enumerate(("CB-JMB-L-000101", "CB-JMB-L-000102", "CB-JMB-M-000201"), 1):
        stack.scan(label, 9.5)
        c = stack.wait_drums(n)
        assert c["drums"] == n
        listed = {x["container_no"]: x["drums"] for x in stack.get("/api/v1/containers").json()}
        assert listed == {CONTAINER: n}
        stock = stack.get("/api/v1/stock").json()
        in_container = sum(i["drums"] for i in stock["items"] if i["location"] == CONTAINER)
        assert in_container == n
        # The station's view (its scan count) comes in a message of its own, just after.
        wait_for(lambda n=n: _station_scans(stack) >= n, what=f"{STATION} showing {n} scans")


def _station_scans(stack: Stack) -> int:
    stations = {s["station"]: s["scans"] for s in stack.get("/api/v1/stations").json()}
    return int(stations.get(STATION, 0))


def test_formatted_container_number_is_stdnum_s() -> None:
    for number in (CONTAINER, CONTAINER_2, "csqu 305438-3"):
        parsed = ContainerNo.parse(number)
        assert parsed.formatted == iso6346.format(parsed.value)
    # The cached parse gives the same value for the same text, and refuses what it refused.
    assert ContainerNo.parse("CSQU 305438 3") == ContainerNo.parse("CSQU3054383")
