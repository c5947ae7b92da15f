"""What every scale protocol's tests check the same way: refusals that quote their frame,
a reading that comes back whole through the encoder, the splitter and the parser, and the
byte-literal tables each protocol's test file fills in (`ProtocolTables`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import ClassVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware_bridge.protocols.base import ParseError, ScaleProtocol, ScaleReading, ScaleStatus

# Short names for the statuses the byte-literal tables are full of.
STABLE = ScaleStatus.STABLE
MOTION = ScaleStatus.MOTION
ERROR = ScaleStatus.ERROR


def assert_rejects(parse: Callable[[bytes], ScaleReading], frame: bytes, message: str) -> None:
    """`parse` raises ParseError matching `message`, and the error quotes the frame."""
    with pytest.raises(ParseError, match=message) as raised:
        parse(frame)
    assert repr(frame) in str(raised.value)


def readings(max_grams: int, nets: list[bool | None]) -> st.SearchStrategy[ScaleReading]:
    """Stable and moving readings of whole grams within ±`max_grams`, gross/net from `nets`."""
    return st.builds(
        lambda grams, status, net: ScaleReading(status, grams / 1000, net),
        st.integers(min_value=-max_grams, max_value=max_grams),
        st.sampled_from([ScaleStatus.STABLE, ScaleStatus.MOTION]),
        st.sampled_from(nets),
    )


def assert_one_frame_back(protocol: ScaleProtocol, reading: ScaleReading) -> None:
    """`reading` encoded, split and parsed again: one frame, the same reading."""
    frames = protocol.make_splitter().feed(protocol.encode(reading))
    assert len(frames) == 1
    assert protocol.parse(frames[0]) == reading


# Each table test: its parameters, and the class attribute holding its rows.
_TABLES: dict[str, tuple[str | tuple[str, ...], str]] = {
    "test_parse": (("frame", "reading"), "parses"),
    "test_parse_rejects": (("frame", "message"), "rejects"),
    "test_encode": (("reading", "frame"), "encodes"),
    "test_round_trip_without_weight": ("reading", "without_weight"),
    "test_respond": (("command", "reading", "reply"), "responds"),
}


class ProtocolTables:
    """The table-driven tests of one scale protocol; its test file subclasses this as
    ``TestTables`` and fills the tables with its byte literals, a test case a row."""

    protocol: ClassVar[ScaleProtocol]
    # (a frame as the splitter hands it over, the reading it says)
    parses: ClassVar[Sequence[tuple[bytes, ScaleReading]]]
    # (a malformed frame, a pattern of the ParseError's message, which quotes the frame too)
    rejects: ClassVar[Sequence[tuple[bytes, str]]]
    # (a reading, the bytes a device sends for it)
    encodes: ClassVar[Sequence[tuple[ScaleReading, bytes]]]
    # readings without a weight that come back whole through encoder, splitter and parser
    without_weight: ClassVar[Sequence[ScaleReading]]
    # the weighed readings that do the same, drawn by hypothesis
    weights: ClassVar[st.SearchStrategy[ScaleReading]]
    # A stream as the transport reads it, in pieces, line noise in it: (a read, the frames it
    # completes, each with the reading it parses to, or None for noise the parser refuses)
    stream: ClassVar[Sequence[tuple[bytes, Sequence[tuple[bytes, ScaleReading | None]]]]]

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        """The rows of a test's table, as its cases."""
        if metafunc.function.__name__ in _TABLES:
            names, table = _TABLES[metafunc.function.__name__]
            metafunc.parametrize(names, getattr(self, table))

    def test_parse(self, frame: bytes, reading: ScaleReading) -> None:
        assert self.protocol.parse(frame) == reading

    def test_parse_rejects(self, frame: bytes, message: str) -> None:
        assert_rejects(self.protocol.parse, frame, message)

    def test_encode(self, reading: ScaleReading, frame: bytes) -> None:
        assert self.protocol.encode(reading) == frame

    def test_round_trip_without_weight(self, reading: ScaleReading) -> None:
        assert_one_frame_back(self.protocol, reading)

    def test_splitter_on_a_stream_read_in_pieces(self) -> None:
        splitter = self.protocol.make_splitter()
        for data, frames in self.stream:
            assert splitter.feed(data) == [frame for frame, _ in frames]
            for frame, reading in frames:
                if reading is None:
                    with pytest.raises(ParseError):
                        self.protocol.parse(frame)
                else:
                    assert self.protocol.parse(frame) == reading

    # Every protocol's class runs this one test function: hypothesis is told that is meant.
    @settings(deadline=None, suppress_health_check=[HealthCheck.differing_executors])
    @given(data=st.data())
    def test_round_trip_through_the_splitter(self, data: st.DataObject) -> None:
        assert_one_frame_back(self.protocol, data.draw(self.weights))


class PolledProtocolTables(ProtocolTables):
    """`ProtocolTables` of a request/response protocol: its poll, and the device's replies."""

    poll_command: ClassVar[bytes]  # what the bridge sends to ask for a weight
    # (a command, the reading the scale shows, its reply)
    responds: ClassVar[Sequence[tuple[bytes, ScaleReading, bytes]]]

    def test_respond(self, command: bytes, reading: ScaleReading, reply: bytes) -> None:
        assert self.protocol.respond is not None
        assert self.protocol.respond(command, reading) == reply

    def test_poll_command(self) -> None:
        assert self.protocol.poll_command == self.poll_command
        assert not self.protocol.streaming
