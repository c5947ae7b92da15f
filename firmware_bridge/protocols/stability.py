"""Stability judged from the frames, for indicators whose frames carry no stable flag.

The Yaohua XK3190 streams its display 7-25 times a second and never says whether it is at
rest. A weight counts as stable once `frames` consecutive readings lie within `tolerance_kg`
of each other (largest minus smallest); any other reading, or a garbled frame, starts over.
"""

from __future__ import annotations

from dataclasses import replace

from .base import ScaleReading, ScaleStatus

# Five frames span 0.6 s at 7 Hz and 0.16 s at 25 Hz: longer than a drum settling would
# show one value by chance on a slow indicator, short enough on a fast one.
DEFAULT_FRAMES = 5
# One division of a 0.02 kg indicator: its last digit may flicker at rest.
DEFAULT_TOLERANCE_KG = 0.02


class StabilityJudge:
    """Turns a stream of moving readings into stable ones after N equal frames."""

    def __init__(
        self, frames: int = DEFAULT_FRAMES, tolerance_kg: float = DEFAULT_TOLERANCE_KG
    ) -> None:
        if frames < 1:
            raise ValueError(f"frames must be at least 1, got {frames}")
        if tolerance_kg < 0:
            raise ValueError(f"tolerance_kg must not be negative, got {tolerance_kg}")
        self.frames = frames
        self.tolerance_kg = tolerance_kg
        self._run: list[float] = []
        self._net: bool | None = None

    def judge(self, reading: ScaleReading) -> ScaleReading:
        """The reading as the bridge takes it: stable once the run is long and tight enough."""
        if reading.status is not ScaleStatus.MOTION or reading.weight_kg is None:
            self.reset()  # overload, underload, an error: not a weight at rest
            return reading
        weight = reading.weight_kg
        if self._run and reading.net != self._net:
            self._run = []  # gross to net (tare pressed): a new weight
        self._net = reading.net
        self._run.append(weight)
        # Keep the longest tail whose spread is within the tolerance.
        while max(self._run) - min(self._run) > self.tolerance_kg + 1e-9:
            self._run.pop(0)
        if len(self._run) > self.frames:
            self._run.pop(0)
        if len(self._run) >= self.frames:
            return replace(reading, status=ScaleStatus.STABLE)
        return reading

    def reset(self) -> None:
        """Forget the run (a garbled frame, the device lost)."""
        self._run = []
        self._net = None
