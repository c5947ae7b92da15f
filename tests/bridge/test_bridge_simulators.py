"""The simulators on ptys: every protocol, every fault, read back with the real parsers.

A fault a protocol has no words for must not kill the simulated device: "busy" reads as
a moving weight, anything else as silence, and the device answers again afterwards.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import serial

from firmware_bridge.protocols import SCALE_PROTOCOLS
from firmware_bridge.protocols.base import ScaleReading, ScaleStatus
from firmware_bridge.simulators import ScaleSimulator, ScannerSimulator

FAULTS = (ScaleStatus.OVERLOAD, ScaleStatus.UNDERLOAD, ScaleStatus.ERROR, ScaleStatus.BUSY)
SILENT = None
# What each simulated scale sends for each fault, read back by the protocol's parser.
EXPECTED: dict[str, dict[ScaleStatus, ScaleStatus | None]] = {
    "mt-sics": {f: f for f in FAULTS},
    "sma": {f: f for f in FAULTS},
    "and": {**{f: f for f in FAULTS}, ScaleStatus.BUSY: ScaleStatus.MOTION},
    "mt-continuous": {**{f: f for f in FAULTS}, ScaleStatus.BUSY: ScaleStatus.MOTION},
    "cas": {
        ScaleStatus.OVERLOAD: ScaleStatus.OVERLOAD,
        ScaleStatus.UNDERLOAD: ScaleStatus.UNDERLOAD,
        ScaleStatus.ERROR: SILENT,
        ScaleStatus.BUSY: ScaleStatus.MOTION,
    },
    # No stable flag: a load read back frame by frame always reads as moving.
    "xk3190-a12": {
        ScaleStatus.OVERLOAD: ScaleStatus.OVERLOAD,
        ScaleStatus.UNDERLOAD: ScaleStatus.UNDERLOAD,
        ScaleStatus.ERROR: SILENT,
        ScaleStatus.BUSY: ScaleStatus.MOTION,
    },
    "xk3190-tf0": {
        ScaleStatus.OVERLOAD: SILENT,
        ScaleStatus.UNDERLOAD: SILENT,
        ScaleStatus.ERROR: SILENT,
        ScaleStatus.BUSY: ScaleStatus.MOTION,
    },
    "ohaus": {
        ScaleStatus.OVERLOAD: SILENT,
        ScaleStatus.UNDERLOAD: SILENT,
        ScaleStatus.ERROR: ScaleStatus.ERROR,
        ScaleStatus.BUSY: ScaleStatus.MOTION,
    },
}
# Long enough for a reply, or two streamed frames (7 Hz), on a busy machine.
LISTEN_S = 0.6


@pytest.fixture
def port_of() -> Iterator[dict[str, serial.Serial]]:
    opened: dict[str, serial.Serial] = {}
    yield opened
    for port in opened.values():
        port.close()


def _reading(sim: ScaleSimulator, port: serial.Serial) -> ScaleReading | None:
    """Ask (or listen to) the simulated scale once; None when it says nothing."""
    protocol = sim.protocol
    splitter = protocol.make_splitter()
    port.reset_input_buffer()
    if protocol.poll_command is not None:
        port.write(protocol.poll_command)
    deadline = time.monotonic() + LISTEN_S
    frames: list[bytes] = []
    while time.monotonic() < deadline:
        frames += splitter.feed(port.read(64))
        if protocol.streaming and len(frames) >= 2:
            return protocol.parse(frames[1])  # the first may be a frame cut by the reset
        if not protocol.streaming and frames:
            return protocol.parse(frames[0])
    return None


def test_matrix_covers_every_protocol() -> None:
    assert set(EXPECTED) == set(SCALE_PROTOCOLS)


@pytest.mark.parametrize("protocol", sorted(SCALE_PROTOCOLS))
def test_every_fault_is_sent_or_withheld_and_the_scale_keeps_running(
    protocol: str, tmp_path: Path, port_of: dict[str, serial.Serial]
) -> None:
    sim = ScaleSimulator(protocol, settle_s=0.0, link=tmp_path / "ttyScale")
    try:
        port_of[protocol] = port = serial.Serial(sim.path, timeout=0.05)
        sim.place(3.5)
        first = _reading(sim, port)
        at_rest = ScaleStatus.STABLE if sim.protocol.flags_stability else ScaleStatus.MOTION
        assert first == ScaleReading(at_rest, 3.5, first.net if first else None)
        silent = 0
        for fault in FAULTS:
            sim.fault(fault)
            got = _reading(sim, port)
            expected = EXPECTED[protocol][fault]
            if expected is SILENT:
                silent += 1
                assert got is None, f"{fault}: {got}"
            else:
                assert got is not None, f"{protocol} sent nothing for {fault}"
                assert got.status is expected, f"{fault}: {got}"
                if expected is ScaleStatus.MOTION:
                    assert got.weight_kg == 3.5  # the load, still moving
            assert sim.alive
        assert (sim.unsent > 0) == (silent > 0)
        sim.fault(None)
        back = _reading(sim, port)
        assert back is not None
        assert (back.status, back.weight_kg) == (at_rest, 3.5)
    finally:
        sim.close()


def test_replug_moves_the_stable_link_to_a_new_pty(tmp_path: Path) -> None:
    link = tmp_path / "ttyScanner"
    sim = ScannerSimulator(link=link)
    try:
        sim.unplug()
        assert not link.exists()  # the by-id name goes away with the device
        sim.replug()
        with serial.Serial(str(link), timeout=0.5) as port:
            sim.scan("CB-JMB-L-000501")
            assert port.read_until(b"\r\n") == b"CB-JMB-L-000501\r\n"
    finally:
        sim.close()


def test_a_scale_nobody_reads_does_not_block(tmp_path: Path) -> None:
    sim = ScaleSimulator("mt-continuous", settle_s=0.0)
    try:
        sim.place(5.0)
        for _ in range(2000):  # far more than a pty buffers
            sim.pty.write(b"\x02" + b"x" * 30 + b"\r")
        assert sim.pty.dropped > 0
        assert sim.alive
    finally:
        sim.close()


def test_a_scripted_scale_sends_its_script_then_carries_on(tmp_path: Path) -> None:
    sim = ScaleSimulator("xk3190-a12", settle_s=0.0, interval_s=0.02)
    try:
        sim.place(2.0)
        with serial.Serial(sim.path, timeout=0.05) as port:
            protocol = sim.protocol
            splitter = protocol.make_splitter()
            script: list[ScaleReading | bytes] = [
                b"WG004.139kg00\r\n",  # a bad checksum
                ScaleReading(ScaleStatus.STABLE, 9.5, net=True),
                ScaleReading(ScaleStatus.OVERLOAD, None),
            ]
            port.reset_input_buffer()
            sim.play(script)
            frames: list[bytes] = []
            deadline = time.monotonic() + 10
            while sim.script_left or len(frames) < 20:
                assert time.monotonic() < deadline, "the script was not played"
                frames += splitter.feed(port.read(64))
            assert sim.played == 3
            start = frames.index(b"WG004.139kg00")
            readings = [protocol.parse(f) for f in frames[start + 1 : start + 4]]
            assert readings[0] == ScaleReading(ScaleStatus.MOTION, 9.5, net=True)
            assert readings[1].status is ScaleStatus.OVERLOAD
            assert readings[2] == ScaleReading(ScaleStatus.MOTION, 2.0, net=False)
    finally:
        sim.close()
    polled = ScaleSimulator("mt-sics")
    try:
        with pytest.raises(ValueError, match="polls"):
            polled.play(script)
    finally:
        polled.close()
