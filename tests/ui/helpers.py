"""Waiting for the dashboard in Pilot tests, without depending on the wall clock's pace."""

from __future__ import annotations

import io
import time

from rich.console import Console
from textual.app import App, ComposeResult
from textual.widget import Widget


async def wait_for(pilot, condition, timeout_s: float = 10.0) -> None:
    """Let the app run until ``condition()`` holds (or fail after a generous timeout)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("the dashboard did not get there in time")
        await pilot.pause(0.02)


async def shown(pilot) -> None:
    await wait_for(pilot, lambda: pilot.app.snapshots_shown > 0)
    await pilot.pause()


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


async def nvml_calls_during(pilot, app, seconds: float, function: str) -> int:
    """How often the simulated NVML library's ``function`` was called while the app ran on."""
    calls = app.environment.nvml_library.calls
    before = calls.get(function, 0)
    await pilot.pause(seconds)
    return calls.get(function, 0) - before
