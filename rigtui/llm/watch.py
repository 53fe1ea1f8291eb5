"""Watching an Ollama server: what is installed, what is loaded, and whether it is there at all.

:class:`OllamaWatch` polls ``/api/ps`` and yields events; it knows nothing of Textual. Polls are
cheap but not free (about 1.5 ms of the main thread each), so it polls every ``poll_s`` only
while something moves, which the owner tells it with :meth:`observe` (each new reading of the
GPUs), and otherwise every ``quiet_poll_s``. A server that is away is tried again with a
growing pause.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, replace

from rigtui.llm.ollama import (
    InstalledModel,
    ModelFacts,
    OllamaClient,
    OllamaError,
    OllamaUnreachableError,
    RunningModel,
)
from rigtui.telemetry.model import RigSnapshot

POLL_S = 2.0
"""How often /api/ps is read while something moves: the GPUs' memory (a model loading,
unloading or spilling over) or a loaded model's keep-alive running out; and always without
GPUs to watch."""
QUIET_POLL_S = 10.0
"""How often while nothing moves: every 2 s was a sixth of what the idle dashboard costs."""
MOVED_BYTES = 128 * 2**20
"""This much more or less memory in use on the GPUs since the last poll asks for the next now."""
TAGS_S = 30.0
"""Re-read the installed models this often."""
BACKOFF_MAX_S = 15.0


@dataclass(frozen=True)
class Connected:
    version: str


@dataclass(frozen=True)
class Disconnected:
    error: str
    retry_in_s: float


@dataclass(frozen=True)
class Listed:
    """``/api/tags``: the installed models."""

    models: list[InstalledModel]


@dataclass(frozen=True)
class FactsRead:
    """``/api/show`` for models not seen before (by digest): their shapes, for fit estimates."""

    facts: dict[str, ModelFacts]


@dataclass(frozen=True)
class Running:
    """``/api/ps``: the loaded models and where they live."""

    models: list[RunningModel]


WatchEvent = Connected | Disconnected | Listed | FactsRead | Running


def vram_used(snapshot: RigSnapshot | None) -> int | None:
    """Memory in use on all the GPUs, or None where there are none to watch."""
    gpus = snapshot.gpus if snapshot is not None else ()
    used = [gpu.memory_used_bytes for gpu in gpus if not gpu.lost]
    if not used or None in used:
        return None
    return sum(used)


async def _wait_event(event: asyncio.Event, timeout_s: float) -> None:
    with contextlib.suppress(asyncio.TimeoutError):  # not TimeoutError before 3.11
        await asyncio.wait_for(event.wait(), timeout_s)


class OllamaWatch:
    """Events about one Ollama server, from :meth:`events`, until the iteration is cancelled.

    ``sleep`` and ``wait`` are the only ways it waits (injected: tests count and skip them).
    """

    def __init__(
        self,
        client: OllamaClient,
        *,
        poll_s: float = POLL_S,
        quiet_poll_s: float = QUIET_POLL_S,
        tags_s: float = TAGS_S,
        backoff_max_s: float = BACKOFF_MAX_S,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        wait: Callable[[asyncio.Event, float], Awaitable[None]] = _wait_event,
    ) -> None:
        self.client = client
        self.poll_s = poll_s
        self.quiet_poll_s = quiet_poll_s
        self.tags_s = tags_s
        self.backoff_max_s = backoff_max_s
        self._clock = clock
        self._sleep = sleep
        self._wait = wait
        self._moved = asyncio.Event()
        self._snapshot: RigSnapshot | None = None
        self._vram_at_poll: int | None = None
        self._running: list[RunningModel] = []
        self._facts_read: set[tuple[str, str]] = set()

    # --- told by the owner ---------------------------------------------------------------------

    def observe(self, snapshot: RigSnapshot) -> bool:
        """A new reading of the rig. True if it asks for a poll now: the GPUs' memory moved
        since the last poll, or a loaded model's keep-alive has run out."""
        self._snapshot = snapshot
        if self._moved.is_set():
            return False
        used, before = vram_used(snapshot), self._vram_at_poll
        moved = used is not None and before is not None and abs(used - before) >= MOVED_BYTES
        expired = any(
            model.expires_at_s is not None and model.expires_at_s <= snapshot.taken_at
            for model in self._running
        )
        if moved or expired:
            self._moved.set()
        return moved or expired

    async def read_now(self) -> tuple[Listed, Running]:
        """The installed and loaded models at once (after a pull or a reply), beside the polls.
        Raises OllamaError."""
        installed = await self.client.installed()
        running = await self.client.running()
        return Listed(installed), Running(running)

    # --- the events -----------------------------------------------------------------------------

    async def events(self) -> AsyncIterator[WatchEvent]:
        backoff = 1.0
        tags_read_at: float | None = None
        connected = False
        while True:
            try:
                self._moved.clear()
                self._vram_at_poll = vram_used(self._snapshot)
                running = await self.client.running()
                now = self._clock()
                if not connected or tags_read_at is None or now - tags_read_at >= self.tags_s:
                    if not connected:
                        yield Connected(await self.client.version())
                    installed = await self.client.installed()
                    tags_read_at = now
                    yield Listed(installed)
                    facts = await self._new_facts(installed)
                    if facts:
                        yield FactsRead(facts)
                connected = True
                backoff = 1.0
                self._running = running
                yield Running(running)
                await self._until_next_poll()
            except OllamaError as error:
                connected = False
                tags_read_at = None
                message = str(error)
                if isinstance(error, OllamaUnreachableError):
                    message += f" rigtui tries again in {backoff:g} s."
                yield Disconnected(message, backoff)
                await self._sleep(backoff)
                backoff = min(backoff * 2, self.backoff_max_s)

    async def _until_next_poll(self) -> None:
        """At least ``poll_s``; then at once if something moved, else when it has or
        ``quiet_poll_s`` has passed. Without GPUs to watch, every ``poll_s``."""
        await self._sleep(self.poll_s)
        if self._moved.is_set() or self._vram_at_poll is None:
            return
        await self._wait(self._moved, max(0.0, self.quiet_poll_s - self.poll_s))

    async def _new_facts(self, installed: Iterable[InstalledModel]) -> dict[str, ModelFacts]:
        new = {}
        for model in installed:
            key = (model.name, model.digest)
            if key in self._facts_read:
                continue
            try:
                facts = await self.client.facts(model.name)
            except OllamaError:
                continue
            self._facts_read.add(key)
            new[model.name] = replace(facts, size_bytes=model.size_bytes)
        return new
