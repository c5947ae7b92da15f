"""Scans from the station's command topic (a phone's camera) over a real broker and ptys.

The bridge takes them as a scanner's reads: the scale's next stable weight, the spool,
the scan topic, with the phone's id and time; a resend or a redelivery is not scanned
again; one that waited in the bridge's session is not paired with today's drum.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from firmware_bridge.simulators import ScaleSimulator
from gudang.settings import Settings
from gudang.wire import QOS_COMMAND, ScanKind, StationScanCommandV1, WeightStatus, encode
from tests.bridge.station_kit import STATION, Station, running_station
from tests.harness import wait_for


def _command(label: str, sent_at: datetime | None = None) -> StationScanCommandV1:
    now = datetime.now(UTC)
    return StationScanCommandV1(
        id=f"phone-{uuid.uuid4().hex}",
        ts=now - timedelta(milliseconds=250),  # the phone's time: before the bridge hears it
        barcode=label,
        sent_at=sent_at or now,
    )


def _send(st: Station, cmd: StationScanCommandV1 | bytes) -> None:
    payload = cmd if isinstance(cmd, bytes) else encode(cmd)
    st.recorder.link.publish_and_wait(st.topics.station_command(STATION), payload, qos=QOS_COMMAND)


def _settled_drum(st: Station, kg: float) -> ScaleSimulator:
    """A drum of `kg` settled on the station's scale, its command topic subscribed."""
    scale = st.require_scale()
    assert st.bridge.link.wait_subscribed(10)
    scale.place(kg)
    wait_for(lambda: scale.reading().stable, what=f"a {kg} kg drum settled")
    return scale


def test_phone_scan_pairs_with_the_next_stable_weight_once(
    settings: Settings, tmp_path: Path
) -> None:
    with running_station(settings, tmp_path, "mt-sics") as st:
        scale = _settled_drum(st, 5.0)

        # The next drum goes on while the first still reads 5.0 kg: only a reading taken
        # after the phone's scan reached the bridge counts.
        scale.place(9.25)
        cmd = _command("CB-JMB-L-000001")
        _send(st, cmd)
        (scan,) = st.recorder.wait_scans(1)
        assert (scan.id, scan.ts, scan.barcode, scan.station) == (
            cmd.id,
            cmd.ts,
            cmd.barcode,
            STATION,
        )
        assert scan.kind is ScanKind.DRUM
        assert (scan.weight_kg, scan.weight_stable, scan.weight_status) == (
            9.25,
            True,
            WeightStatus.STABLE,
        )

        # The phone heard nothing back and sends it again, twice: not weighed, not spooled.
        _send(st, cmd)
        _send(st, cmd)
        wait_for(lambda: st.bridge.counters["command_scans_repeated"] == 2, what="resends seen")
        # A container label from the phone is context, as from the scanner: not weighed.
        label = _command("CSQU 305438 3")
        _send(st, label)
        scans = st.recorder.wait_scans(2)
        assert [s.id for s in scans] == [cmd.id, label.id]
        assert scans[1].kind is ScanKind.CONTAINER
        assert scans[1].weight_status is WeightStatus.NO_SCALE
        assert st.bridge.counters["command_scans"] == 4
        assert st.bridge.counters["scans"] == 2


def test_late_bad_and_serial_scans_beside_phone_scans(settings: Settings, tmp_path: Path) -> None:
    with running_station(settings, tmp_path, "mt-sics") as st:
        _settled_drum(st, 7.5)

        # Undecodable or empty: dropped with a count; the bridge carries on.
        _send(st, b"{not json")
        _send(st, b'{"command": "scan", "id": "abc", "ts": "2026-01-01T00:00:00Z"}')
        _send(st, b'{"command": "reboot"}')
        wait_for(lambda: st.bridge.counters["bad_commands"] == 3, what="bad commands counted")

        # Held in the bridge's session for a minute (it was away): the drum on the scale
        # now is another one, so the scan is spooled without a weight.
        late = _command("CB-JMB-L-000002", sent_at=datetime.now(UTC) - timedelta(minutes=1))
        _send(st, late)
        (scan,) = st.recorder.wait_scans(1)
        assert scan.id == late.id
        assert (scan.weight_kg, scan.weight_status) == (None, WeightStatus.NO_STABLE)

        # The serial scanner still works beside the phone, with an id of the bridge's own.
        st.scanner.scan("CB-JMB-L-000003")
        scans = st.recorder.wait_scans(2)
        assert scans[1].barcode == "CB-JMB-L-000003"
        assert scans[1].weight_kg == 7.5
        assert scans[1].id != late.id
        assert st.bridge.counters["scans"] == 2
