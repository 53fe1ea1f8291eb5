"""Textual's Linux/macOS terminal driver, with an input thread that sleeps until there is input.

Textual's input thread wakes ten times a second whether or not a key was pressed (a
``select`` with a 0.1 s timeout, so that it notices when to stop and when a lone Escape has
waited long enough to be a key). On an idle dashboard those wake-ups were 0.1% of a core, a
fifteenth of what rigtui costs. Here the thread waits for input, for the moment a pending escape
sequence times out, or for the app to stop (a byte down a pipe): nothing else wakes it.

It also reads Alt+digit as ``alt+1``..``alt+9``, the keys that switch tabs while typing. Linux
terminals (xterm, VTE, Konsole, tmux) send Alt+2 as Escape then ``2``, and Textual 8.2.8 turns
that into ``™`` (the character WezTerm on macOS means by it), so no binding could see Alt+2. Any
other Alt+key is read without its character, so a text field does not type it (Alt+S exports).

Suspending (Ctrl+Z, ``kill -TSTP``) closes the driver and resuming starts application mode again
with a new input thread: the pipe lives as long as one application mode, not as the driver.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import threading
from codecs import getincrementaldecoder

from textual import events
from textual._loop import loop_last
from textual._time import get_time
from textual._xterm_parser import XTermParser
from textual.drivers.linux_driver import LinuxDriver

_UNKNOWN = object()
FALLBACK_WAIT_S = 0.1
"""Textual's own wait, should its parser no longer say when a timeout is pending."""


META_DIGITS = {f"\x1b{digit}": f"alt+{digit}" for digit in "0123456789"}
"""Escape then a digit: what a terminal sends for Alt (Meta) and the digit."""


class _MetaDigitParser(XTermParser):
    def _sequence_to_key_events(self, sequence: str, alt: bool = False):
        if sequence in META_DIGITS:
            yield events.Key(META_DIGITS[sequence], None)
            return
        for key in super()._sequence_to_key_events(sequence, alt):
            if key.key.startswith("alt+") and key.character is not None:
                # Alt+S arrives as alt+s carrying the character "s": a text field typed the
                # "s" and the key never reached its binding. Alt with a key is not text.
                key = events.Key(key.key, None)
            yield key


class _WakingEvent(threading.Event):
    """An event that also writes a byte down a pipe when set, to wake a ``select``."""

    def __init__(self) -> None:
        super().__init__()
        self._wake_fd = -1
        self._drain_fd = -1

    def use(self, wake_fd: int, drain_fd: int) -> None:
        """The pipe of the application mode now starting (-1: none)."""
        self._wake_fd = wake_fd
        self._drain_fd = drain_fd

    def set(self) -> None:
        super().set()
        # OSError: the pipe is full (woken already) or closed (the driver is done).
        with contextlib.suppress(OSError):
            os.write(self._wake_fd, b"\0")

    def clear(self) -> None:
        super().clear()
        with contextlib.suppress(OSError):  # empty, or closed
            while os.read(self._drain_fd, 64):
                pass


class QuietLinuxDriver(LinuxDriver):
    """Waits for input instead of polling for it; everything else is Textual's driver."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._wake_read = self._wake_write = -1
        self.exit_event = _WakingEvent()

    def start_application_mode(self) -> None:
        # Also on resuming from a suspend, which closed the last pipe.
        if self._wake_read < 0:
            self._wake_read, self._wake_write = os.pipe()
            os.set_blocking(self._wake_read, False)
            os.set_blocking(self._wake_write, False)
            self.exit_event.use(self._wake_write, self._wake_read)
        super().start_application_mode()

    def run_input_thread(self) -> None:
        """Textual's input loop, waiting only as long as the parser needs."""
        fileno = self.fileno
        selector = selectors.SelectSelector()
        selector.register(fileno, selectors.EVENT_READ)
        selector.register(self._wake_read, selectors.EVENT_READ)
        parser = _MetaDigitParser(self._debug)
        decode = getincrementaldecoder("utf-8")().decode

        def process(events, final: bool = False) -> None:
            reads = [mask for key, mask in events if key.fd == fileno]
            for last, mask in loop_last(reads):
                if mask & selectors.EVENT_READ:
                    text = decode(os.read(fileno, 1024 * 4), final=final and last)
                    if not text:
                        break  # stdin is a pipe that was closed
                    for event in parser.feed(text):
                        self.process_message(event)
            for event in parser.tick():
                self.process_message(event)

        def wait_s() -> float | None:
            timeout_at = getattr(parser, "_timeout_time", _UNKNOWN)
            if timeout_at is _UNKNOWN:
                return FALLBACK_WAIT_S
            if timeout_at is None:
                return None  # until input, or the wake-up pipe
            return max(0.0, timeout_at - get_time())

        try:
            while not self.exit_event.is_set():
                process(selector.select(wait_s()))
            selector.unregister(fileno)
            process(selector.select(FALLBACK_WAIT_S), final=True)
        finally:
            selector.close()
            with contextlib.suppress(Exception):  # as Textual's loop, the parser's end errors
                for _event in parser.feed(""):
                    pass

    def close(self) -> None:
        super().close()
        self.exit_event.use(-1, -1)
        for fd in (self._wake_read, self._wake_write):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._wake_read = self._wake_write = -1
