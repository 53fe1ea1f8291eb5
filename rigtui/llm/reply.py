"""One chat reply, from the request to its statistics, with no Textual in it.

:class:`Reply` streams the pieces of one answer and keeps what ``ollama run --verbose`` reports
(first token, count, Ollama's final figures) plus what only rigtui can tell: whether it was
stopped, and the energy the model's GPUs used between its first and last token.
:class:`Batches` groups pieces for a screen that should not redraw once per token.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
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


class Batches(Generic[T]):
    """Hands items on in batches, for a screen that must not redraw once per token: at most
    every ``every_s``, and only once the previous batch was :meth:`taken`; what comes meanwhile
    goes in the next one, so a screen that falls behind gets one larger batch, not a queue.
    Each Markdown append costs the screen about 5 ms whatever its size, so one per token would
    saturate a core at 200 tok/s.

    ``call_later(delay, callback)`` (the event loop's) sends a batch that is due when no item
    comes to send it. Written here because no maintained library batches by time with a hand-back.
    """

    def __init__(
        self,
        send: Callable[[list[T]], object],
        every_s: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        call_later: Callable[[float, Callable[[], None]], object] | None = None,
    ) -> None:
        self._send = send
        self._every_s = every_s
        self._clock = clock
        self._call_later = call_later or asyncio.get_running_loop().call_later
        self._batch: list[T] = []
        self._in_flight = False
        self._timer: object | None = None
        self._last_sent = float("-inf")

    def add(self, item: T) -> None:
        self._batch.append(item)
        self._send_if_due()

    def taken(self) -> None:
        """The last batch is on the screen: the next may go."""
        self._in_flight = False
        self._send_if_due()

    def rest(self) -> list[T]:
        """What was not sent (the reply ended or was stopped); nothing is sent after this."""
        if self._timer is not None:
            cancel = getattr(self._timer, "cancel", None)
            if cancel is not None:
                cancel()
            self._timer = None
        left, self._batch = self._batch, []
        self._in_flight = True  # closed: a late taken() or timer sends nothing
        return left

    def _send_if_due(self) -> None:
        if self._in_flight or self._timer is not None or not self._batch:
            return
        delay = self._last_sent + self._every_s - self._clock()
        if delay > 0:
            self._timer = self._call_later(delay, self._timer_ended)
            return
        batch, self._batch = self._batch, []
        self._in_flight = True
        self._last_sent = self._clock()
        self._send(batch)

    def _timer_ended(self) -> None:
        self._timer = None
        self._send_if_due()
