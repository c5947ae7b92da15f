"""Scanners over ptys: every suffix, AIM identifiers, GS1 with GS, container labels."""

from __future__ import annotations

from pathlib import Path

from gudang.barcodes import parse_drum_label
from gudang.settings import Settings
from gudang.wire import ScanKind, WeightStatus
from tests.bridge.station_kit import running_station

GS1_DATAMATRIX = "010950110153000310ABC123\x1d21SN0001\x1d17261231"


def test_every_suffix_aim_identifiers_gs1_and_container_labels(
    settings: Settings, tmp_path: Path
) -> None:
    with running_station(settings, tmp_path, protocol=None, suffix=b"\r") as st:
        sent: list[tuple[str, str | None]] = []

        def scan(text: str, symbology: str | None = None, suffix: bytes = b"\r\n") -> None:
            st.scanner.suffix = suffix
            st.scanner.scan(text, symbology)
            sent.append((text, symbology))

        scan("CB-JMB-L-000101", suffix=b"\r")
        scan("CB-JMB-L-000102", suffix=b"\n")
        scan("CB-JMB-L-000103", suffix=b"\r\n")
        st.recorder.wait_scans(3)
        # No suffix: the pause after the frame ends it.
        scan("CB-JMB-L-000104", suffix=b"")
        st.recorder.wait_scans(4)
        scan("CB-JMB-M-000105", "]C0")
        scan(GS1_DATAMATRIX, "]d2")
        scan("CSQU 305438 3")
        scan("CSQU3054383", "]C0")
        scan("CSQU 305438 4")  # wrong check digit: not a container, so a drum scan
        scans = st.recorder.wait_scans(len(sent))

    assert [(s.barcode, s.symbology) for s in scans] == sent
    kinds = [s.kind for s in scans]
    assert kinds == [ScanKind.DRUM] * 6 + [ScanKind.CONTAINER] * 2 + [ScanKind.DRUM]
    # A station without a scale says so on every scan.
    assert {s.weight_status for s in scans} == {WeightStatus.NO_SCALE}
    # The GS separators survived the serial line, the bridge and MQTT: biip reads the label.
    label = parse_drum_label(scans[5].barcode, scans[5].symbology)
    assert (label.gtin, label.serial) == ("09501101530003", "SN0001")
    assert len({s.id for s in scans}) == len(sent)


def test_line_noise_is_dropped_and_counted_and_next_scan_goes_through(
    settings: Settings, tmp_path: Path
) -> None:
    with running_station(settings, tmp_path, protocol=None) as st:
        st.scanner.pty.write(b"\x00\x07\xff garbage\r\n")
        st.scanner.scan("CB-JMB-S-000201")
        scans = st.recorder.wait_scans(1)
        assert [s.barcode for s in scans] == ["CB-JMB-S-000201"]
        assert st.bridge.counters["scanner_bad_frames"] == 1
