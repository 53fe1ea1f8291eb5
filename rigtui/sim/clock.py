"""Clocks for the simulated rig: scripted time in tests, scaled wall time in the demo."""

from __future__ import annotations

import threading
import time
from typing import Protocol


class SimClock(Protocol):
    def now(self) -> float:
        """Seconds of simulated time since the scenario began."""
        ...


class ManualClock:
    """Time moves only when a test moves it, so every reading is reproducible."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> float:
        with self._lock:
            self._now += seconds
            return self._now

    def set(self, seconds: float) -> None:
        with self._lock:
            self._now = seconds


class ScaledClock:
    """Wall time, optionally sped up, starting at ``start`` seconds of the scenario."""

    def __init__(self, speed: float = 1.0, start: float = 0.0) -> None:
        self.speed = speed
        self._start = start
        self._origin = time.monotonic()

    def now(self) -> float:
        return self._start + (time.monotonic() - self._origin) * self.speed
