"""Live weight readings on the weight topic: QoS 0, on change only, at most weight_publish_hz."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import msgspec

from gudang.settings import Settings
from gudang.wire import WeightReadingV1
from tests.bridge.station_kit import Station, running_station
from tests.harness import wait_for

HZ = 2.0
# The bridge stamps ts when it publishes; the throttle counts from frame arrival.
STAMP_SLACK_S = 0.05


def _weights(st: Station) -> list[WeightReadingV1]:
    return [msgspec.json.decode(m.payload, type=WeightReadingV1) for m in st.recorder.on("weight")]


def test_weight_readings_are_throttled_sent_on_change_and_qos0(
    settings: Settings, tmp_path: Path
) -> None:
    with running_station(settings, tmp_path, "cas", weight_publish_hz=HZ) as st:
        assert st.scale is not None
        st.scale.place(5.0)
        wait_for(
            lambda: any(w.weight_kg == 5.0 and w.stable for w in _weights(st)),
            what="5.0 kg stable on the weight topic",
        )
        settled = len(_weights(st))
        time.sleep(1.0)  # about 7 more identical frames from the scale
        assert len(_weights(st)) == settled  # an unchanged reading is not sent again

        st.scale.settle_s = 1.5
        st.scale.place(7.0)  # about 10 moving frames, each a little different
        wait_for(
            lambda: any(w.weight_kg == 7.0 and w.stable for w in _weights(st)),
            what="7.0 kg stable on the weight topic",
        )
        moving = _weights(st)[settled:]
        assert any(not w.stable for w in moving)
        # At most HZ a second, though the scale streams 7 frames a second.
        gaps = [(b.ts - a.ts).total_seconds() for a, b in itertools.pairwise(moving)]
        assert all(gap >= 1 / HZ - STAMP_SLACK_S for gap in gaps), gaps
        assert {m.qos for m in st.recorder.on("weight")} == {0}
        assert {w.station for w in _weights(st)} == {"load-1"}
        # Live readings are no scans: nothing was scanned, nothing was published as one.
        assert st.recorder.on("scan") == []
