"""The sampling loop: a reading every interval, power rounds between, on a clock that is handed in.

The loop knows nothing of Textual. It calls ``on_snapshot`` with each reading and ``on_failure``
with what went wrong; the dashboard turns those into messages, a headless command could write
them out. Time comes from a :class:`PaceClock`, so tests step it instead of sleeping.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol

from rigtui.telemetry.model import RigSnapshot
from rigtui.telemetry.power import spikes_possible
from rigtui.telemetry.sampler import RigSampler

FAST_POWER_S = 0.1
"""Power alone is read this often between readings, to catch spikes the 1 s average hides."""
SAME_MOMENT_S = 1e-6
"""Times this close are one moment: power rounds are due on a running sum of 0.1 s, which lands
a hair before or after each whole second, and a round a hair after a reading would be a second
round for the same moment."""


class PaceClock(Protocol):
    """Where the loop reads the time and waits."""

    def now(self) -> float:
        """Seconds on a clock that never goes back (the first reading's time handed to
        :meth:`SamplingLoop.run` must be on the same clock)."""

    def wait(self, timeout_s: float) -> bool:
        """Sleep up to ``timeout_s``; True if :meth:`wake` cut the sleep short."""

    def wake(self) -> None:
        """End the current (or the next) :meth:`wait` at once."""


class MonotonicClock:
    """The real one: ``time.monotonic`` and a ``threading.Event``."""

    def __init__(self) -> None:
        self._woken = threading.Event()

    def now(self) -> float:
        return time.monotonic()

    def wait(self, timeout_s: float) -> bool:
        woken = self._woken.wait(timeout_s)
        if woken:
            self._woken.clear()
        return woken

    def wake(self) -> None:
        self._woken.set()


class NewestWins:
    """Hands readings from the sampling thread to a consumer that may fall behind: a backlog
    collapses to the newest reading instead of growing a queue of stale ones."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: RigSnapshot | None = None

    def put(self, snapshot: RigSnapshot) -> bool:
        """Keep ``snapshot`` as the newest; True if the consumer must be told (it had taken the
        previous one), False if it has been told already and will find this one."""
        with self._lock:
            told = self._pending is not None
            self._pending = snapshot
        return not told

    def take(self) -> RigSnapshot | None:
        """The newest reading not taken yet, if any."""
        with self._lock:
            snapshot, self._pending = self._pending, None
        return snapshot


class SamplingLoop:
    """Takes a reading every ``interval_s`` and, while a GPU works, power ten times a second.

    ``interval_s``, ``paused`` and ``generating`` are set from another thread (the event loop);
    each setter wakes the loop so the change applies now, not after the current wait.
    """

    def __init__(
        self,
        sampler: RigSampler,
        *,
        interval_s: float,
        on_snapshot: Callable[[RigSnapshot], None],
        on_failure: Callable[[str], None],
        clock: PaceClock | None = None,
    ) -> None:
        self.sampler = sampler
        self._interval_s = interval_s
        self._paused = False
        self._generating = False
        self._stopped = False
        self.power_rounds = True
        """Whether power is read ten times a second: not while every GPU rests (unless a chat
        reply is being generated)."""
        self.on_snapshot = on_snapshot
        self.on_failure = on_failure
        self.clock = clock or MonotonicClock()

    # --- set from the event loop -----------------------------------------------------------

    @property
    def interval_s(self) -> float:
        return self._interval_s

    @interval_s.setter
    def interval_s(self, value: float) -> None:
        self._interval_s = value
        self.clock.wake()

    @property
    def paused(self) -> bool:
        return self._paused

    @paused.setter
    def paused(self, value: bool) -> None:
        resumed = self._paused and not value
        self._paused = value
        if resumed:
            self.clock.wake()  # a reading now

    @property
    def generating(self) -> bool:
        return self._generating

    @generating.setter
    def generating(self, value: bool) -> None:
        was_resting = value and not self._generating and not self.power_rounds
        self._generating = value
        if was_resting:
            # The GPU rested until now: power ten times a second from the first token, not
            # from the next reading that shows it at work (the reply's peak and energy).
            self.clock.wake()

    def stop(self) -> None:
        """End :meth:`run` after the step under way (the sampler is closed by ``run``)."""
        self._stopped = True
        self.clock.wake()

    # --- the loop, on its own thread ---------------------------------------------------------

    def run(self, first: RigSnapshot | None = None, first_at: float | None = None) -> None:
        """Until :meth:`stop`. ``first``: a reading already taken at ``first_at`` (clock time),
        so the next is due an interval after it."""
        clock = self.clock
        next_due = next_power = clock.now()
        if first is not None:
            self.power_rounds = spikes_possible(first.gpus)
            if first_at is not None:
                next_due = first_at + self._interval_s
        try:
            while not self._stopped:
                next_due, next_power = self._step(next_due, next_power)
                wake_at = min(next_due, next_power) if self._fast() else next_due
                if clock.wait(max(0.0, wake_at - clock.now())):
                    next_due = next_power = clock.now()
        finally:
            self.sampler.close()

    def _fast(self) -> bool:
        busy = self.power_rounds or self._generating
        return self.sampler.fast_power and busy and not self._paused

    def _step(self, next_due: float, next_power: float) -> tuple[float, float]:
        """Whatever is due now: a power round, a reading, or both. Returns the next due times."""
        now = self.clock.now()
        reading_due = now >= next_due - SAME_MOMENT_S
        if now >= next_power - SAME_MOMENT_S:
            # A whole reading takes a power round of its own.
            if self._fast() and not reading_due:
                self._sample_power()
            next_power = max(next_power + FAST_POWER_S, now)
        if reading_due:
            if not self._paused:
                self._sample()
            next_due += self._interval_s
            if next_due <= now:
                # The wait overran (a suspended laptop, a starved thread): one reading, and
                # count afresh from it rather than catch up with a burst.
                next_due = now + self._interval_s
            else:
                # A slow reading (a slow NVML call): the next one when it has ended at least.
                next_due = max(next_due, self.clock.now())
        return next_due, next_power

    def _sample(self) -> None:
        try:
            snapshot = self.sampler.sample()
        except Exception as error:  # noqa: BLE001 - the dashboard says what broke, sampling goes on
            self.on_failure(f"sampling failed: {error}")
            return
        self.power_rounds = spikes_possible(snapshot.gpus)
        self.on_snapshot(snapshot)

    def _sample_power(self) -> None:
        try:
            self.sampler.sample_power()
        except Exception as error:  # noqa: BLE001
            self.on_failure(f"power sampling failed: {error}")
