"""Shared pieces of the scale protocols: the reading, the error, the splitters, the protocol.

Everything here is pure: bytes in, values out, no I/O and no logging. A transport feeds
received bytes to a splitter, hands each frame to a protocol's `parse`, and logs and counts
any `ParseError` before carrying on. The frames' text fields are read and written with
`protocols.fields`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from gudang.wire import ScaleStatus

MAX_BUFFER = 4096  # bytes kept while waiting for a terminator; a real frame is under 100
CR = 0x0D
STX = 0x02
LF = 0x0A
WEIGHT_DECIMALS = 6  # ScaleReading.weight_kg is rounded to the milligram

WEIGHED = frozenset({ScaleStatus.STABLE, ScaleStatus.MOTION})  # the statuses that carry a weight


class ParseError(ValueError):
    """A frame that does not follow the protocol; the message says what is wrong, with the frame."""


@dataclass(frozen=True, slots=True)
class ScaleReading:
    """One weight report, in kilograms, as the scale gave it.

    A stable or moving reading always carries a weight; every other status never does.
    """

    status: ScaleStatus
    weight_kg: float | None
    net: bool | None = None  # True net, False gross, None when the protocol does not say
    detail: str = ""  # why an error, e.g. "MT-SICS error ES: syntax error"

    def __post_init__(self) -> None:
        if self.status in WEIGHED:
            if self.weight_kg is None:
                raise ValueError(f"a {self.status} reading needs a weight")
            if not math.isfinite(self.weight_kg):
                raise ValueError(f"weight {self.weight_kg!r} is not a finite number")
            # slots + frozen: object.__setattr__ is the documented way to normalise a field
            object.__setattr__(self, "weight_kg", round(self.weight_kg, WEIGHT_DECIMALS))
        elif self.weight_kg is not None:
            raise ValueError(f"a {self.status} reading carries no weight, got {self.weight_kg!r}")

    @property
    def stable(self) -> bool:
        """True when the scale reports a weight at rest."""
        return self.status is ScaleStatus.STABLE


class Splitter(Protocol):
    """Cuts a byte stream into frames; what `ScaleProtocol.make_splitter` returns."""

    @property
    def dropped(self) -> int:
        """How many times the buffer overflowed and was thrown away."""
        ...

    def feed(self, data: bytes) -> list[bytes]:
        """Add received bytes; return the frames they completed."""
        ...

    def flush(self) -> bytes | None:
        """Hand back and forget the pending partial frame, if any (for idle timeouts)."""
        ...


class FrameSplitter:
    """Splits a byte stream into line frames, without their terminators.

    With `terminator=None` any of CR, LF and CRLF ends a frame and empty frames are skipped, so
    a CRLF cut in two by the transport does no harm. With a terminator such as b"\\r\\n" only
    that exact sequence ends a frame, for protocols whose frames may hold a lone CR or LF.
    """

    def __init__(self, terminator: bytes | None = None, max_buffer: int = MAX_BUFFER) -> None:
        if terminator == b"":
            raise ValueError("terminator must not be empty; use None for any of CR, LF, CRLF")
        self._terminator = terminator
        self._max_buffer = max_buffer
        self._buffer = b""
        self.dropped = 0

    def feed(self, data: bytes) -> list[bytes]:
        """Add received bytes; return the complete frames, terminators removed."""
        buffer = self._buffer + data
        if self._terminator is None:
            pieces = re.split(rb"[\r\n]", buffer)
        else:
            pieces = buffer.split(self._terminator)
        self._buffer = pieces.pop()
        if len(self._buffer) > self._max_buffer:
            self._buffer = b""
            self.dropped += 1
        return [piece for piece in pieces if piece]

    def flush(self) -> bytes | None:
        """Hand back and forget the pending partial frame (a scanner with no suffix)."""
        pending, self._buffer = self._buffer, b""
        return pending or None

    @property
    def pending(self) -> int:
        """Bytes waiting for a terminator."""
        return len(self._buffer)


class StxSplitter:
    """Finds fixed-length frames that start with STX and end with `end`; whole frames out.

    Bytes before an STX are skipped (line noise); an STX whose frame does not end with `end`
    is a stray one and is skipped too. Subclasses may tell a longer frame by `_frame_length`.
    """

    def __init__(self, length: int, end: int, max_buffer: int = MAX_BUFFER) -> None:
        self._length = length
        self._end = end
        self._max_buffer = max_buffer
        self._buffer = bytearray()
        self.dropped = 0  # buffer overflows
        self.skipped = 0  # bytes thrown away while looking for a frame (line noise)

    def feed(self, data: bytes) -> list[bytes]:
        """Add received bytes; return the complete frames."""
        self._buffer += data
        frames: list[bytes] = []
        while True:
            start = self._buffer.find(STX)
            if start < 0:
                self.skipped += len(self._buffer)
                self._buffer.clear()
                break
            if start:
                self.skipped += start
                del self._buffer[:start]
            if len(self._buffer) < self._length:
                break
            if self._buffer[self._length - 1] != self._end:
                self.skipped += 1  # a stray STX: look for the next one
                del self._buffer[:1]
                continue
            length = self._frame_length()
            if length is None:
                break
            frames.append(bytes(self._buffer[:length]))
            del self._buffer[:length]
        if len(self._buffer) > self._max_buffer:
            self._buffer.clear()
            self.dropped += 1
        return frames

    def _frame_length(self) -> int | None:
        """The length of the frame at the start of the buffer, None until that can be told."""
        return self._length

    def flush(self) -> bytes | None:
        """Hand back and forget the pending bytes."""
        pending = bytes(self._buffer)
        self._buffer.clear()
        return pending or None


@dataclass(frozen=True)
class ScaleProtocol:
    """How to talk to one kind of scale: what to send, how to split and read the replies.

    `encode` and `respond` are the device's side, for simulators and tests. Built with
    `polled` or `streamed`, so a streaming protocol has neither a poll command nor a reply.
    """

    name: str
    streaming: bool  # True: the device talks continuously and the bridge only reads
    poll_command: bytes | None  # what the bridge sends to ask for a weight; None when streaming
    parse: Callable[[bytes], ScaleReading]  # raises ParseError and nothing else
    encode: Callable[[ScaleReading], bytes]  # the bytes a device sends, terminator included
    # Device side of a request/response protocol: the reply to a command (b"" for none).
    respond: Callable[[bytes, ScaleReading], bytes] | None = None
    # Frames end at CR LF, CR or LF unless the protocol says otherwise.
    make_splitter: Callable[[], Splitter] = FrameSplitter
    # False: the frames carry no stable flag (every weight parses as moving) and stability
    # is judged from equal consecutive frames (protocols.stability.StabilityJudge).
    flags_stability: bool = True

    @classmethod
    def polled(
        cls,
        name: str,
        poll_command: bytes,
        *,
        parse: Callable[[bytes], ScaleReading],
        encode: Callable[[ScaleReading], bytes],
        respond: Callable[[bytes, ScaleReading], bytes],
    ) -> ScaleProtocol:
        """A request/response protocol: the bridge sends `poll_command`, the device replies."""
        return cls(name, False, poll_command, parse, encode, respond)

    @classmethod
    def streamed(
        cls,
        name: str,
        *,
        parse: Callable[[bytes], ScaleReading],
        encode: Callable[[ScaleReading], bytes],
        make_splitter: Callable[[], Splitter] = FrameSplitter,
        flags_stability: bool = True,
    ) -> ScaleProtocol:
        """A protocol whose device talks on its own: nothing to send, nothing to reply."""
        return cls(name, True, None, parse, encode, None, make_splitter, flags_stability)
