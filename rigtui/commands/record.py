"""``rigtui record``: sample the rig to a file until Ctrl-C, SIGTERM or ``--duration``."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from rigtui.config import Settings
from rigtui.llm.ollama import NotOllamaError, OllamaClient, OllamaError
from rigtui.recording import RecordingError, RecordingWriter, format_for
from rigtui.sources import DemoOptions, open_rig
from rigtui.telemetry.power import FAST_SAMPLE_S, spikes_possible
from rigtui.telemetry.sampler import RigSampler

STOP_CHECK_S = 1.0
"""The longest the loop sleeps without looking at a stop request: a signal delivered to a
worker thread runs its handler only when the main thread next wakes."""


@dataclass(frozen=True)
class RecordOptions:
    path: Path
    duration_s: float | None = None
    """None: until interrupted."""
    format: str | None = None
    """"jsonl" or "csv"; None: by the file's name."""
    append: bool = False
    force: bool = False


def run(settings: Settings, demo: DemoOptions | None, options: RecordOptions) -> int:
    """Record every ``settings.interval_s`` until stopped; the exit code."""
    path = options.path
    stops = StopRequests()
    # Before the file exists: from then on, Ctrl-C or SIGTERM ends with the summary, whenever
    # it comes (while the rig opens too), never with a traceback.
    stops.install()
    try:
        return _record_to(path, settings, demo, options, stops)
    finally:
        stops.restore()


def _record_to(
    path: Path,
    settings: Settings,
    demo: DemoOptions | None,
    options: RecordOptions,
    stops: StopRequests,
) -> int:
    try:
        writer = RecordingWriter(
            path, format_for(path, options.format), append=options.append, force=options.force
        )
    except RecordingError as error:
        print(f"rigtui: error: {error}", file=sys.stderr)
        return 2

    status = 0
    try:
        with open_rig(settings, demo, ollama=settings.ollama) as rig:
            if not stops.requested:

                async def go():
                    address = rig.ollama_address
                    client = OllamaClient(address) if address is not None else None
                    stop = stops.watch(asyncio.get_running_loop())
                    try:
                        await record(
                            rig.sampler,
                            writer,
                            interval_s=settings.interval_s,
                            duration_s=options.duration_s,
                            client=client,
                            progress=sys.stderr if sys.stderr.isatty() else None,
                            stop=stop,
                        )
                    finally:
                        stops.unwatch()
                        if client is not None:
                            await client.close()

                asyncio.run(go())
    except RecordingError as error:
        print(f"\nrigtui: error: {error}", file=sys.stderr)
        status = 1
    except KeyboardInterrupt:
        pass  # a second Ctrl-C: stop at once, with what was written
    finally:
        stops.finishing()
        try:
            writer.close()
        except OSError as error:
            # What a failed write left in the buffer cannot be written either; the error was
            # said once (or is said now, if it first showed on closing).
            if status == 0:
                print(f"\nrigtui: error: cannot write {path}: {error.strerror}", file=sys.stderr)
                status = 1
    print(f"\nrecorded {writer.samples} samples to {path} ({writer.format})", file=sys.stderr)
    return status


class StopRequests:
    """Ctrl-C and SIGTERM ask the recorder to stop: the sample being taken is finished and
    written, then the recording ends with its summary. A second one stops at once.

    Nothing is raised at whatever line the signal lands on (a write, the event loop's own
    bookkeeping, a sample running on a worker thread that a cancelled task would leave behind
    while the sampler closes under it): the request is a flag the recording loop waits on.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.requested = False
        self._previous: dict[int, Any] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._finishing = False

    def install(self) -> None:
        for signum in self.SIGNALS:
            self._previous[signum] = signal.signal(signum, self._on_signal)

    def restore(self) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)

    def watch(self, loop: asyncio.AbstractEventLoop) -> asyncio.Event:
        """The event the recording loop waits on, set by a request from now on.

        The handler installed first stays for the whole recording: handing over to the loop's
        ``add_signal_handler`` and back would leave an instant with the default handlers (a
        SIGTERM then kills without the summary)."""
        self._stop = asyncio.Event()
        self._loop = loop
        if self.requested:
            self._stop.set()
        return self._stop

    def unwatch(self) -> None:
        self._loop = self._stop = None

    def finishing(self) -> None:
        """The recording is being closed and summed up: a request from now on has nothing left
        to stop, and is let pass (raised in the middle of the summary, it lost it)."""
        self._finishing = True

    def _on_signal(self, _signum: int, _frame: object) -> None:
        if self._finishing:
            return
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None:
            # The handler runs between two lines of the main thread, perhaps inside the loop's
            # own bookkeeping: hand the event over as another thread would.
            with contextlib.suppress(RuntimeError):  # the loop has just closed
                loop.call_soon_threadsafe(stop.set)


async def record(
    sampler: RigSampler,
    writer,
    *,
    interval_s: float,
    duration_s: float | None,
    client=None,
    progress: TextIO | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Sample every ``interval_s`` until ``duration_s`` or until ``stop`` is set, writing each.

    A stop waits for the sample being taken: the sampler never closes under a running read."""
    stop = stop or asyncio.Event()
    not_ollama = await _not_ollama(client)
    if not_ollama is not None:
        client = None
    await asyncio.to_thread(sampler.open)
    try:
        started = time.monotonic()
        next_due = started
        while not stop.is_set():
            snapshot = await asyncio.to_thread(sampler.sample)
            models, error = None, not_ollama
            if client is not None:
                try:
                    models = await client.running()
                except OllamaError as failure:
                    error = str(failure)
            writer.write(snapshot, models, error)
            if progress is not None:
                elapsed = time.monotonic() - started
                progress.write(
                    f"\rrecording {writer.path}: {writer.samples} samples, {elapsed:.0f} s "
                    "(Ctrl-C stops)  "
                )
                progress.flush()
            if duration_s is not None and time.monotonic() - started >= duration_s:
                return
            next_due += interval_s
            # Between samples, power alone ten times a second while a GPU works: the recorded
            # peaks are real (a resting GPU does not spike).
            fast = sampler.fast_power and spikes_possible(snapshot.gpus)
            while (wait := next_due - time.monotonic()) > 0 and not stop.is_set():
                if fast:
                    await asyncio.to_thread(sampler.sample_power)
                    wait = next_due - time.monotonic()
                wait = min(max(wait, 0), FAST_SAMPLE_S) if fast else wait
                await _wait_for(stop, min(wait, STOP_CHECK_S))
    finally:
        await asyncio.to_thread(sampler.close)


async def _not_ollama(client) -> str | None:
    """Why the server at the Ollama address is not Ollama (said once, then recorded with each
    sample instead of its 404s), or None."""
    if client is None:
        return None
    try:
        await client.ollama_version()
    except NotOllamaError as error:
        print(f"rigtui: {error} Recording the rig without it.", file=sys.stderr)
        return str(error)
    except OllamaError:
        pass  # not up (yet): each sample says so, and picks it up once it is
    return None


async def _wait_for(event: asyncio.Event, timeout_s: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), timeout_s)
