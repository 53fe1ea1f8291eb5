"""How fast a pull downloads and how long it has left, from Ollama's progress lines.

Pure arithmetic over :class:`~rigtui.llm.ollama.PullStep` s, each stamped with when it arrived
(``arrived_at``): no clock of its own, so tests hand in the times. Ollama reports each layer
(``digest``) with its ``total`` and the bytes ``completed`` so far; the speed is the bytes that
arrived over the last few seconds (a moving window, as ``ollama pull`` and browsers show it),
and the time left is what the layers seen so far still lack at that speed.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from rigtui.llm.ollama import PullStep

WINDOW_S = 5.0
"""Long enough to smooth Ollama's bursts (a line every 60 ms), short enough to follow a
download that slows down."""


@dataclass(frozen=True)
class PullFigures:
    """A pull at one moment: bytes done of those known, speed and time left (None: not yet
    known)."""

    completed_bytes: int
    total_bytes: int
    bytes_per_s: float | None
    seconds_left: float | None

    @property
    def fraction(self) -> float | None:
        if self.total_bytes <= 0:
            return None
        return min(1.0, self.completed_bytes / self.total_bytes)


class PullMeter:
    """Speed and time left of one pull: :meth:`add` each step, read :meth:`figures`.

    Bytes a layer already had when it first showed up (a model pulled before, a download
    resumed) count as done but not as speed: only what arrives while it is watched does.
    """

    def __init__(self, window_s: float = WINDOW_S) -> None:
        self.window_s = window_s
        self._layers: dict[str, tuple[int, int]] = {}
        """digest -> (completed, total)."""
        self._arrived = 0
        """Bytes that arrived while watched, all layers together."""
        self._samples: deque[tuple[float, int]] = deque()
        """(when, bytes arrived by then), the oldest one just before the window."""

    def add(self, step: PullStep) -> None:
        if not step.digest or not step.total or step.total <= 0:
            return  # "pulling manifest", "verifying sha256 digest", …: no bytes
        completed = max(0, min(step.completed or 0, step.total))
        before = self._layers.get(step.digest)
        if before is not None:
            self._arrived += max(0, completed - before[0])
        self._layers[step.digest] = (completed, step.total)
        if before is None and self._samples:
            return  # a new layer's bytes so far are not speed
        at = step.arrived_at
        if not math.isfinite(at) or (self._samples and at < self._samples[-1][0]):
            return  # a time out of order says nothing about speed
        self._samples.append((at, self._arrived))
        while len(self._samples) > 2 and self._samples[1][0] <= at - self.window_s:
            self._samples.popleft()

    @property
    def completed_bytes(self) -> int:
        return sum(completed for completed, _ in self._layers.values())

    @property
    def total_bytes(self) -> int:
        return sum(total for _, total in self._layers.values())

    def bytes_per_s(self) -> float | None:
        """Over the window; None until two steps have arrived some time apart."""
        if len(self._samples) < 2:
            return None
        (first_at, first), (last_at, last) = self._samples[0], self._samples[-1]
        span = last_at - first_at
        if span <= 0:
            return None
        return (last - first) / span

    def figures(self) -> PullFigures:
        completed, total = self.completed_bytes, self.total_bytes
        speed = self.bytes_per_s()
        left = None
        if total and completed >= total:
            left = 0.0
        elif speed:
            left = (total - completed) / speed
            if not math.isfinite(left):
                left = None  # a trickle so slow that no time can be told
        return PullFigures(completed, total, speed, left)
