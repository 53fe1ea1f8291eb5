"""Opening the sampler, on a thread of its own that can start before the dashboard is imported.

Opening waits on the driver more than it computes: ``nvmlInit`` (tens of milliseconds on a real
driver), and in the first reading the PCIe counters, which the driver samples over a 20 ms window
per call. Started before Textual and the dashboard's modules are imported (a fifth of a second),
that waiting overlaps the imports instead of following the first layout, and the first reading
is ready when the dashboard is. NVML's calls release the interpreter lock while they wait.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from rigtui.telemetry.model import NvmlStatus, RigSnapshot
from rigtui.telemetry.sampler import RigSampler


@dataclass(frozen=True)
class Opened:
    """What opening left: an open sampler and its first reading, or what went wrong."""

    history: tuple[RigSnapshot, ...] = ()
    """Earlier snapshots to show at once (the demo's story so far)."""
    sampler: RigSampler | None = None
    status: NvmlStatus | None = None
    first: RigSnapshot | None = None
    first_at: float = 0.0
    """``time.monotonic()`` when the first reading was taken: the next one is due an interval on."""
    error: str = ""
    """Why there is no sampler (``sampler`` is None) or no first reading (``first`` is None)."""


class SamplerOpening:
    """Builds and opens a sampler and takes its first reading, once, on whichever thread runs it:
    its own (``start``), or the first caller's of ``result``."""

    def __init__(
        self,
        factory: Callable[[], RigSampler],
        *,
        history: tuple[RigSnapshot, ...] = (),
        budget_w: float | None = None,
    ) -> None:
        """``history``: earlier snapshots, made by the caller. Not made here: beside the
        dashboard's imports on another thread, the demo's replay took three times as long."""
        self._factory = factory
        self._history = history
        self._budget_w = budget_w
        self._done = threading.Event()
        self._started = False
        self._opened = Opened(error="not opened")

    def start(self) -> SamplerOpening:
        """Open on a thread of its own (a daemon: a failed start-up must not keep the process)."""
        self._started = True
        threading.Thread(target=self._open, name="sampler-opening", daemon=True).start()
        return self

    @property
    def ready(self) -> bool:
        """Whether opening has finished (it was started, and ``result`` will not wait)."""
        return self._done.is_set()

    def result(self, timeout_s: float | None = None) -> Opened | None:
        """What opening left. Not started yet: opens on this thread first. Started on its own
        thread: waits for it, and gives None if it is still under way after ``timeout_s``."""
        if not self._started:
            self._started = True
            self._open()
        return self._opened if self._done.wait(timeout_s) else None

    def _open(self) -> None:
        try:
            self._opened = self._open_and_read()
        finally:
            self._done.set()

    def _open_and_read(self) -> Opened:
        history = self._history
        try:
            sampler = self._factory()
            sampler.power_watch.budget_w = self._budget_w
            status = sampler.open()
        except Exception as error:  # noqa: BLE001 - the dashboard says what broke, not crash
            return Opened(history=history, error=f"could not start sampling: {error}")
        first_at = time.monotonic()
        try:
            first = sampler.sample()
        except Exception as error:  # noqa: BLE001
            return Opened(history, sampler, status, None, first_at, f"sampling failed: {error}")
        return Opened(history, sampler, status, first, first_at)
