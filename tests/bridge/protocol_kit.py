"""What every scale protocol's tests check the same way: refusals that quote their frame,
and a reading that comes back whole through the encoder, the splitter and the parser."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import strategies as st

from firmware_bridge.protocols.base import ParseError, ScaleProtocol, ScaleReading, ScaleStatus


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
