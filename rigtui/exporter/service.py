"""The headless exporter's engines: one sampling thread and one Ollama thread, feeding the board.

The same engines as the dashboard's: :class:`~rigtui.telemetry.pacing.SamplingLoop` (a reading
every interval, the ten-a-second power rounds while a GPU works) and
:class:`~rigtui.llm.watch.OllamaWatch` (told of each reading, so it polls often only while the
GPUs' memory moves). Nothing here serves HTTP; nothing here knows Prometheus.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading

from rigtui.exporter.board import MetricsBoard
from rigtui.llm.ollama import OllamaAddress
from rigtui.telemetry.model import RigSnapshot
from rigtui.telemetry.pacing import PaceClock, SamplingLoop
from rigtui.telemetry.sampler import RigSampler

STOP_WAIT_S = 5.0
"""How long :meth:`SamplingService.stop` waits for each thread (a slow NVML call, a poll)."""


class SamplingService:
    """Samples the rig onto ``board`` and watches Ollama at ``ollama_address`` (if any).

    :meth:`start` opens the sampler and takes the first reading on the caller's thread (so the
    board has it before anyone is told to scrape); :meth:`stop` ends both threads.
    """

    def __init__(
        self,
        sampler: RigSampler,
        board: MetricsBoard,
        *,
        interval_s: float,
        ollama_address: OllamaAddress | None = None,
        clock: PaceClock | None = None,
    ) -> None:
        self.board = board
        self.ollama_address = ollama_address
        self.loop = SamplingLoop(
            sampler,
            interval_s=interval_s,
            on_snapshot=self._took,
            on_failure=board.failed,
            clock=clock,
        )
        self._sampling_thread: threading.Thread | None = None
        self._ollama_thread: threading.Thread | None = None
        self._ollama_loop: asyncio.AbstractEventLoop | None = None
        self._ollama_task: asyncio.Task | None = None
        self._watch = None
        self._ollama_ready = threading.Event()

    @property
    def sampler(self) -> RigSampler:
        return self.loop.sampler

    def start(self) -> RigSnapshot | None:
        """Open the sampler, take the first reading, start the threads; the first reading (None
        if it failed: the failure is counted and the loop tries again)."""
        self.sampler.open()
        first_at = self.loop.clock.now()
        first = None
        try:
            first = self.sampler.sample()
        except Exception as error:  # noqa: BLE001 - counted; the loop goes on trying
            self.board.failed(f"sampling failed: {error}")
        else:
            self.board.took(first)
        self._sampling_thread = threading.Thread(
            target=self.loop.run,
            args=(first, first_at if first is not None else None),
            name="rigtui-sampling",
            daemon=True,
        )
        self._sampling_thread.start()
        if self.ollama_address is not None:
            self._ollama_thread = threading.Thread(
                target=self._watch_ollama, name="rigtui-ollama", daemon=True
            )
            self._ollama_thread.start()
            self._ollama_ready.wait(STOP_WAIT_S)
        return first

    def stop(self) -> None:
        """End both threads (the sampling loop closes the sampler as it ends)."""
        self.loop.stop()
        loop, task = self._ollama_loop, self._ollama_task
        if loop is not None and task is not None:
            with contextlib.suppress(RuntimeError):  # the loop has ended already
                loop.call_soon_threadsafe(task.cancel)
        for thread in (self._sampling_thread, self._ollama_thread):
            if thread is not None:
                thread.join(STOP_WAIT_S)

    # --- the sampling thread ------------------------------------------------------------------

    def _took(self, snapshot: RigSnapshot) -> None:
        self.board.took(snapshot)
        loop, watch = self._ollama_loop, self._watch
        if loop is not None and watch is not None:
            # The watch's event belongs to its loop: tell it there, not from this thread.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(watch.observe, snapshot)

    # --- the Ollama thread --------------------------------------------------------------------

    def _watch_ollama(self) -> None:
        try:
            asyncio.run(self._watch_events())
        finally:
            self._ollama_ready.set()

    async def _watch_events(self) -> None:
        # Imported here: the Ollama client (httpx, pydantic) is a fifth of a second to import.
        from rigtui.llm.ollama import OllamaClient
        from rigtui.llm.watch import OllamaWatch

        client = OllamaClient(self.ollama_address)
        watch = OllamaWatch(client)
        snapshot = self.board.view().snapshot
        if snapshot is not None:
            watch.observe(snapshot)
        self._ollama_task = asyncio.current_task()
        self._watch = watch
        self._ollama_loop = asyncio.get_running_loop()
        self._ollama_ready.set()
        try:
            async for event in watch.events():
                self.board.heard(event)
        except asyncio.CancelledError:
            pass
        finally:
            with contextlib.suppress(Exception):
                await client.close()
