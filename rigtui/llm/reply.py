"""One chat reply, from the request to its statistics, with no Textual in it.

:class:`Reply` streams the pieces of one answer and keeps what ``ollama run --verbose`` reports
(first token, count, Ollama's final figures) plus what only rigtui can tell: whether it was
stopped, and the energy the model's GPUs used between its first and last token.
:class:`Coalesced` groups pieces for a screen that should not redraw once per token.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Generic, TypeVar

from rigtui.llm.ollama import ChatOptions, OllamaClient, OllamaError, ReplyEnd, ReplyPiece
from rigtui.llm.stats import ReplyStats
from rigtui.telemetry.power import EnergyReading

T = TypeVar("T")

EnergyMeter = Callable[[float, float], "EnergyReading | None"]
"""Energy used between two moments of the sampler's clock (the model's GPUs)."""


class Reply:
    """One answer of ``model`` to ``messages``: iterate :meth:`pieces`, then read :meth:`stats`.

    ``clock`` times the reply (monotonic); ``energy_clock`` stamps the first and last token on
    the sampler's clock, and ``energy`` turns those two stamps into joules.
    """

    def __init__(
        self,
        client: OllamaClient,
        model: str,
        messages: list[dict[str, str]],
        options: ChatOptions,
        *,
        clock: Callable[[], float] = time.monotonic,
        energy_clock: Callable[[], float] = time.time,
        energy: EnergyMeter | None = None,
    ) -> None:
        self.client = client
        self.model = model
        self.messages = messages
        self.options = options
        self._clock = clock
        self._energy_clock = energy_clock
        self._energy = energy
        self._started: float | None = None
        self._finished: float | None = None
        self.first_token_s: float | None = None
        self._first_at: float | None = None
        self._last_at: float | None = None
        self.count = 0
        self.end: ReplyEnd | None = None
        self.stopped = False
        self.error: OllamaError | None = None
        """Why the reply broke off (Ollama's error, mapped); None if it ended or was stopped."""

    async def pieces(self) -> AsyncIterator[ReplyPiece]:
        """The reply's pieces as they arrive. Ends quietly on an Ollama error (kept in
        :attr:`error`); a cancellation marks the reply stopped and goes on up."""
        self._started = self._clock()
        try:
            async for item in self.client.chat(self.model, self.messages, self.options):
                if isinstance(item, ReplyPiece):
                    if self.first_token_s is None:
                        self.first_token_s = self._clock() - self._started
                        self._first_at = self._energy_clock()
                    self._last_at = self._energy_clock()
                    self.count += 1
                    yield item
                else:
                    self.end = item
        except (asyncio.CancelledError, GeneratorExit):
            self.stopped = True
            raise
        except OllamaError as failure:
            self.error = failure
        finally:
            self._finished = self._clock()

    def stats(self) -> ReplyStats:
        started = self._started if self._started is not None else self._clock()
        finished = self._finished if self._finished is not None else self._clock()
        return ReplyStats(
            self.model,
            self.first_token_s,
            finished - started,
            self.count,
            self.end,
            self.stopped,
            energy=self._measured_energy(),
        )

    def _measured_energy(self) -> EnergyReading | None:
        first, last = self._first_at, self._last_at
        if self._energy is None or first is None or last is None or last <= first:
            return None
        return self._energy(first, last)


class Coalesced(Generic[T]):
    """``items`` in batches at most every ``every_s``: the first at once, then whatever arrived
    since, when the time comes even if nothing more arrives. Each Markdown append costs the
    screen about 5 ms whatever its size, so one per token would saturate a core at 200 tok/s.

    When the consumer is cancelled (Esc), what arrived but was not yielded yet stays in
    :meth:`unsent`, so the screen can still show the reply's last words.

    Written here because no maintained library batches an async iterator by time."""

    def __init__(
        self, items: AsyncIterator[T], every_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._items = items
        self._every_s = every_s
        self._clock = clock
        self._batch: list[T] = []
        self._batches = self._run()

    def __aiter__(self) -> Coalesced[T]:
        return self

    def __anext__(self) -> Awaitable[list[T]]:
        return self._batches.__anext__()

    async def aclose(self) -> None:
        await self._batches.aclose()

    def unsent(self) -> list[T]:
        """What arrived but was not yielded (after a cancellation); taken, so given once."""
        left, self._batch = self._batch, []
        return left

    async def _run(self) -> AsyncIterator[list[T]]:
        last_yield = float("-inf")
        source = aiter(self._items)
        pending: asyncio.Future[T] | None = asyncio.ensure_future(anext(source))
        try:
            while pending is not None:
                timeout = None
                if self._batch:
                    timeout = max(0.0, last_yield + self._every_s - self._clock())
                done, _ = await asyncio.wait({pending}, timeout=timeout)
                if done:
                    try:
                        self._batch.append(pending.result())
                    except StopAsyncIteration:
                        pending = None
                    else:
                        pending = asyncio.ensure_future(anext(source))
                        if self._clock() - last_yield < self._every_s:
                            continue
                if self._batch:
                    out, self._batch = self._batch, []
                    last_yield = self._clock()
                    yield out
        finally:
            if pending is not None:
                await self._cancel(pending)
            aclose = getattr(source, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(RuntimeError):
                    await aclose()

    async def _cancel(self, pending: asyncio.Future[T]) -> None:
        """Stopped mid-way: the source sees the cancellation (a reply marks itself stopped)
        before this ends; an item it had produced already joins the unsent ones."""
        if pending.done():
            if not pending.cancelled() and pending.exception() is None:
                self._batch.append(pending.result())
            return
        pending.cancel()
        with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
            await pending
