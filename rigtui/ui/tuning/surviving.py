"""An error while updating the screen is reported, not fatal: the dashboard keeps sampling.

Textual ends the app on any exception it catches (``App._handle_exception``). For a tool left
open for days, one bad value in one panel must not take the conversation and the history with
it. Once the app has started:

- an exception in one of the app's own handlers (the routing of readings, replies, keys) is
  caught around the handler: the app's message loop goes on with the next message;
- an exception Textual caught where its loop goes on (a layout or render of the screen, a timer,
  a worker, a callback after a refresh) is reported instead of ending the app;
- an exception that stopped a screen's or a widget's message loop still ends the app: that part
  would take no more messages (keys included), a trap worse than a crash. So does any exception
  before the app started (composing or mounting the dashboard).

Each distinct error is noted once: a notification, and its traceback in the log file under the
XDG state directory (``$XDG_STATE_HOME/rigtui/rigtui.log``, else ``~/.local/state/rigtui/``).
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from collections import deque
from collections.abc import Mapping
from pathlib import Path

from textual.app import App
from textual.message import Message
from textual.worker import WorkerFailed

LOG_NAME = "rigtui.log"
LOOP_ENDED = frozenset({"_process_messages_loop", "_pre_process"})
"""Where Textual catches an exception that has stopped a message loop (or a mount)."""


def error_log_path(environ: Mapping[str, str] = os.environ) -> Path:
    """``$XDG_STATE_HOME/rigtui/rigtui.log``, else ``~/.local/state/rigtui/rigtui.log``."""
    state = environ.get("XDG_STATE_HOME") or str(
        Path(environ.get("HOME") or Path.home()) / ".local" / "state"
    )
    return Path(state) / "rigtui" / LOG_NAME


class SurvivesErrors(App):
    """Mixed into the app: see the module's note."""

    survive_errors: bool | None = None
    """None: survive unless headless. Under Pilot an error must fail the test, as Textual has
    it; the tests of this behaviour turn it on."""

    def __init__(self, *args, error_log: Path | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.error_log = error_log if error_log is not None else error_log_path()
        # The latest only: an error that repeats with every reading must not grow for days.
        self.errors_reported: deque[BaseException] = deque(maxlen=100)
        self._error_keys: set[tuple[str, str]] = set()
        self._started = False

    def _surviving(self) -> bool:
        if not self._started or self._exit:
            return False
        return not self.is_headless if self.survive_errors is None else self.survive_errors

    def _on_started(self) -> None:
        """Call once the first screen is composed and mounted."""
        self._started = True

    async def _on_message(self, message: Message) -> None:
        if not self._surviving():
            await super()._on_message(message)
            return
        try:
            await super()._on_message(message)
        except Exception as error:  # noqa: BLE001 -- the point: reported, and the loop goes on
            self.report_error(error)

    def _handle_exception(self, error: Exception) -> None:
        caught_in = sys._getframe(1).f_code.co_name
        if self._surviving() and caught_in not in LOOP_ENDED:
            self.report_error(error.error if isinstance(error, WorkerFailed) else error)
            return
        super()._handle_exception(error)

    def report_error(self, error: BaseException) -> None:
        """Say it once (a notification) and keep its traceback in the log."""
        self.errors_reported.append(error)
        key = (type(error).__name__, str(error))
        if key in self._error_keys:
            return
        self._error_keys.add(key)
        where = self.error_log
        try:
            where.parent.mkdir(parents=True, exist_ok=True)
            with where.open("a", encoding="utf-8") as log:
                log.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} rigtui kept running after:\n")
                log.writelines(traceback.format_exception(error))
        except OSError as log_error:
            where = f"not written to {self.error_log}: {log_error}"
        self.notify(
            f"{type(error).__name__}: {error}\nThe dashboard goes on; the details are in {where}.",
            title="rigtui: an error on the screen",
            severity="error",
            timeout=10,
            markup=False,
        )
