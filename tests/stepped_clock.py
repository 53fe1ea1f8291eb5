"""A :class:`~rigtui.telemetry.pacing.PaceClock` whose time moves only when the loop waits.

``wait(timeout)`` advances the clock by ``timeout`` and returns False, unless :meth:`wake` was
called (before or during the wait: then it returns True at once, at the time it was woken).
Actions scheduled with :meth:`at` run inside the wait that crosses their time, on the loop's own
thread, so a test can change the loop's settings, or stop it, at an exact moment of its time.
The loop runs on the test's thread; nothing sleeps.
"""

from __future__ import annotations

from collections.abc import Callable

from rigtui.sim.clock import ManualClock


class SteppedClock:
    def __init__(
        self, start: float = 0.0, *, follow: ManualClock | None = None, max_waits: int = 100_000
    ) -> None:
        """``follow``: a simulated rig's clock, set to this clock's time as it moves, so the
        rig is read at the moment the loop believes it is. ``max_waits``: a loop that waits
        more often than this is stuck (the test fails instead of hanging)."""
        self._follow = follow
        self._now = start
        if follow is not None:
            follow.set(start)
        self._woken = False
        self._actions: list[tuple[float, int, Callable[[], object]]] = []
        self._order = 0
        self.max_waits = max_waits
        self.waits: list[float] = []
        """Every timeout asked for, in order."""

    # --- PaceClock ---------------------------------------------------------------------------

    def now(self) -> float:
        return self._now

    def wait(self, timeout_s: float) -> bool:
        self.waits.append(timeout_s)
        if len(self.waits) > self.max_waits:
            raise AssertionError(f"the loop waited more than {self.max_waits} times")
        if self._take_wake():
            return True
        until = self._now + timeout_s
        while self._actions and self._actions[0][0] <= until:
            at, _, action = self._actions.pop(0)
            self._set(max(self._now, at))
            action()
            if self._take_wake():
                return True
        self._set(max(self._now, until))
        return False

    def wake(self) -> None:
        self._woken = True

    # --- for tests ---------------------------------------------------------------------------

    def at(self, seconds: float, action: Callable[[], object]) -> None:
        """Run ``action`` when the clock reaches ``seconds`` (inside the loop's wait)."""
        self._order += 1
        self._actions.append((seconds, self._order, action))
        self._actions.sort(key=lambda item: (item[0], item[1]))

    def stop_at(self, seconds: float, loop) -> None:
        """Stop ``loop`` (a SamplingLoop) when the clock reaches ``seconds``."""
        self.at(seconds, loop.stop)

    def advance(self, seconds: float) -> None:
        """Time passes outside a wait: a slow sampler call, a suspended laptop."""
        self._set(self._now + seconds)

    def _set(self, seconds: float) -> None:
        self._now = seconds
        if self._follow is not None:
            self._follow.set(seconds)

    def _take_wake(self) -> bool:
        woken, self._woken = self._woken, False
        return woken
