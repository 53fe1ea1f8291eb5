"""Waiting in Pilot tests for what happens, never for a stretch of time.

- :class:`Heard` records the messages the app dispatches (``run_test(message_hook=heard)``);
  a test waits until the one it expects arrives.
- :class:`SteppedPace` is the sampling loop's clock (``RigApp(pace_clock=...)``): a reading or a
  power round happens when the test steps it, so the test decides when each one happens.
- :func:`until` waits for a state no message announces (the simulated server's, a widget's).

Every wait has a deadline, :data:`LONG_S`, far beyond what it needs: it turns a hang into a
failure and sets no pace.
"""

from __future__ import annotations

import asyncio
import io
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from rich.console import Console
from textual.app import App, ComposeResult
from textual.message import Message
from textual.notifications import Notification, Notify
from textual.widget import Widget

from rigtui.telemetry.model import RigSnapshot
from rigtui.telemetry.pacing import SAME_MOMENT_S
from rigtui.ui.messages import SnapshotTaken

if TYPE_CHECKING:
    from rigtui.ui.app import RigApp

LONG_S = 30.0
"""How long any wait may take before the test fails."""
STATE_POLL_S = 0.01
"""How often :func:`until` looks at its condition (it sets no pace: the deadline is LONG_S)."""

M = TypeVar("M", bound=Message)


async def until(pilot, condition: Callable[[], object], what: str = "", timeout_s=LONG_S) -> None:
    """Let the app run until ``condition()`` holds: ``what`` says which state that is.

    For states no message announces; where one does, wait for it with :class:`Heard`. It looks
    again after each Pilot pause of :data:`STATE_POLL_S`, which also runs the screen's pending
    update, as Pilot's own waits do (a plain sleep would leave the refreshes, and what waits for
    them, to the screen's timer).
    """
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"never came: {what or 'the state the test waits for'}")
        await pilot.pause(STATE_POLL_S)
    await caught_up(pilot.app)


async def caught_up(app: App) -> None:
    """Until the app has handled every message posted to it so far, from any thread."""
    # A message posted from another thread reaches the queue by call_soon_threadsafe: one turn.
    await asyncio.sleep(0)
    handled = asyncio.Event()
    app.call_later(handled.set)
    await asyncio.wait_for(handled.wait(), LONG_S)


async def first_reading_shown(pilot) -> None:
    """Until the first reading (taken while the sampler opened) is on the screen and drawn."""
    await until(pilot, lambda: pilot.app.snapshots_shown > 0, "the first reading on screen")
    await pilot.pause()


class Heard:
    """The messages the app and its widgets dispatch, in order: ``run_test(message_hook=this)``.

    Meant for the app's own messages (``rigtui.ui.messages``): each is dispatched once, by the
    app, so "heard" means the app is handling it (a widget's message is heard at every widget
    it bubbles through).
    """

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self._news: asyncio.Event | None = None

    def __call__(self, message: Message) -> None:
        self.messages.append(message)
        if self._news is not None:
            self._news.set()

    def mark(self) -> int:
        """Where the record stands: pass it as ``since`` to hear only what comes after."""
        return len(self.messages)

    def of(self, kind: type[M], since: int = 0) -> list[M]:
        return [message for message in self.messages[since:] if isinstance(message, kind)]

    def notified(self, words: str = "", since: int = 0) -> list[Notification]:
        """Every notification posted (that says ``words``), in order. Not ``app._notifications``:
        a toast leaves that when its timeout ends, and a starved machine can take longer than
        that to get from the notice to the test's check."""
        return [
            message.notification
            for message in self.of(Notify, since)
            if words in message.notification.message
        ]

    async def arrival(
        self,
        pilot,
        kind: type[M],
        where: Callable[[M], object] | None = None,
        *,
        since: int = 0,
    ) -> M:
        """The first ``kind`` message (that ``where`` accepts) heard after ``since``, waited for
        if need be; returned once the app has handled it."""
        deadline = time.monotonic() + LONG_S
        looked = since
        while True:
            for message in self.messages[looked:]:
                if isinstance(message, kind) and (where is None or where(message)):
                    await caught_up(pilot.app)
                    return message
            looked = len(self.messages)
            self._news = asyncio.Event()
            try:
                await asyncio.wait_for(self._news.wait(), max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                raise AssertionError(f"no {kind.__name__} came") from None


def handled_by(widget: Widget, kind: type[M]) -> list[M]:
    """The ``kind`` messages ``widget`` finishes handling from now on (a list that grows)."""
    handled: list[M] = []

    def note(message: Message) -> None:
        if isinstance(message, kind):
            handled.append(message)

    widget.message_signal.subscribe(widget, note, immediate=True)
    return handled


class SteppedPace:
    """The sampling loop's clock (a ``PaceClock``), on which time passes only when the test says.

    Each wait the loop begins lasts until the test ends it (:meth:`step`, :meth:`advance`), as
    if the time it asked for had passed, or until the app wakes the loop (resume, a new interval,
    a reply on a resting GPU, quitting), as the real clock would. Its time is ``time.monotonic``'s
    when it was made, before the sampler takes its first reading, and moves on only by the waits
    the test ends: no reading happens unless the test steps.

    The loop runs on its own thread; :meth:`step` holds the event loop until that thread waits
    again, so that what the step did (a reading, a power round) is done and posted, and nothing
    on the event loop (a wake) comes in between.
    """

    def __init__(self) -> None:
        self._now = time.monotonic()
        self._state = threading.Condition()
        self._asked_s: float | None = None
        """The wait under way: how long the loop asked for. None while it works."""
        self._to_end = 0
        self._woken = False
        self.waits = 0
        """Waits the loop has begun."""

    # --- the loop's side, on the sampling thread -----------------------------------------------

    def now(self) -> float:
        with self._state:
            return self._now

    def wait(self, timeout_s: float) -> bool:
        with self._state:
            if not self._woken and timeout_s < SAME_MOMENT_S:
                self._now += timeout_s
                return False
            self.waits += 1
            self._asked_s = timeout_s
            self._state.notify_all()
            self._state.wait_for(lambda: self._woken or self._to_end)
            self._asked_s = None
            if self._woken:
                self._woken = False
                return True
            self._to_end -= 1
            self._now += timeout_s
            return False

    def wake(self) -> None:
        with self._state:
            self._woken = True
            self._state.notify_all()

    # --- the test's side -------------------------------------------------------------------------

    def _waiting(self) -> bool:
        with self._state:
            return self._asked_s is not None and not self._woken and not self._to_end

    async def until_waiting(self) -> None:
        """Until the loop runs and waits for the test (with no wake pending)."""
        deadline = time.monotonic() + LONG_S
        while not self._waiting():
            if time.monotonic() > deadline:
                raise AssertionError("the sampling loop never came to wait")
            await asyncio.sleep(STATE_POLL_S)

    async def step(self) -> None:
        """End the loop's wait as if its time had passed; back when the loop waits again."""
        # The loop may not have started: its thread is started from the event loop.
        await self.until_waiting()
        with self._state:
            begun = self.waits
            self._to_end += 1
            self._state.notify_all()
            # The loop's step needs nothing from the event loop held here.
            if not self._state.wait_for(lambda: self.waits > begun, timeout=LONG_S):
                raise AssertionError("the sampling loop did not come back to wait")
        await asyncio.sleep(0)  # what the step posted reaches the app's queue

    async def advance(self, seconds: float) -> None:
        """End the loop's waits, one after another, until ``seconds`` of its time have passed."""
        await self.until_waiting()
        end = self.now() + seconds - SAME_MOMENT_S
        while self.now() < end:
            await self.step()


async def sampling_started(pilot, pace: SteppedPace) -> None:
    """Until the sampling loop runs and waits for the test, and the app has handled what the
    loop did before that (starting the loop, the app wakes it: a reading at once)."""
    await pace.until_waiting()
    await caught_up(pilot.app)


async def stepped_until(pilot, pace: SteppedPace, heard: Heard, kind: type[M], since: int) -> M:
    """Step the sampling loop, one wait at a time, until the app has handled a ``kind``
    message heard after ``since``; returns it. No step if it came already."""
    deadline = time.monotonic() + LONG_S
    await caught_up(pilot.app)
    while not heard.of(kind, since):
        if time.monotonic() > deadline:
            raise AssertionError(f"the sampling loop sent no {kind.__name__}")
        await pace.step()
        await caught_up(pilot.app)
    return heard.of(kind, since)[0]


async def next_reading(pilot, pace: SteppedPace, heard: Heard) -> RigSnapshot:
    """Step the sampling loop until it takes a reading; back once the app has shown it."""
    await caught_up(pilot.app)  # what is on its way to the app counts as taken before
    await stepped_until(pilot, pace, heard, SnapshotTaken, heard.mark())
    return pilot.app.snapshot


def nvml_calls(app, function: str) -> int:
    """How often the simulated NVML library's ``function`` has been called so far."""
    return app.environment.nvml_library.calls.get(function, 0)


def on_stepped_pace(staged: RigApp) -> tuple[RigApp, SteppedPace]:
    """The app ``staged_app`` made, rebuilt on the same source with a :class:`SteppedPace` for
    its sampling loop (and the same Ollama watch); returns the new app and its pace."""
    from rigtui.ui.app import RigApp

    pace = SteppedPace()
    app = RigApp(staged.settings, staged.source, pace_clock=pace, ollama_watch=staged._make_watch)
    app.environment = staged.environment
    return app, pace


def rendered_text(widget, width: int = 120) -> str:
    """What a widget draws, as plain text."""
    from textual.widgets import Static

    console = Console(width=width, record=True, color_system=None, file=io.StringIO())
    console.print(widget.content if isinstance(widget, Static) else widget.render())
    return console.export_text()


class Hosting(App):
    """An app that shows one widget, to try it on its own."""

    def __init__(self, widget: Widget) -> None:
        super().__init__()
        self.hosted = widget

    def compose(self) -> ComposeResult:
        yield self.hosted
