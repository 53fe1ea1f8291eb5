"""Watching the fleet: read it every ``poll_s``, and say so when Prometheus cannot be read.

:class:`FleetWatch` yields events and knows nothing of Textual, like ``llm.watch.OllamaWatch``.
Time passes only through the injected ``clock`` and ``sleep``, so tests step it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from rigtui.fleet.model import FleetError, FleetReading, RigHistory
from rigtui.fleet.prometheus import PrometheusClient
from rigtui.fleet.reading import read_fleet, read_history

POLL_S = 5.0
"""Prometheus scrapes every 15 s by default: reading it faster shows nothing new."""
BACKOFF_MAX_S = 60.0


@dataclass(frozen=True)
class FleetRead:
    reading: FleetReading


@dataclass(frozen=True)
class FleetUnreadable:
    """Prometheus could not be read: why, in words (without when it is tried again: that is
    ``retry_in_s``, for the reader to show as it likes)."""

    error: str
    retry_in_s: float


FleetEvent = FleetRead | FleetUnreadable


class FleetWatch:
    """The fleet as read from one Prometheus server, from :meth:`events`, until the iteration is
    cancelled. A failure is an event, never an exception, and the pause before the next try
    doubles while it lasts (up to ``backoff_max_s``)."""

    def __init__(
        self,
        client: PrometheusClient,
        *,
        poll_s: float = POLL_S,
        backoff_max_s: float = BACKOFF_MAX_S,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.client = client
        self.poll_s = poll_s
        self.backoff_max_s = backoff_max_s
        self._clock = clock
        self._sleep = sleep

    def now(self) -> float:
        """The time by the watch's clock (Unix seconds), which its readings are stamped with."""
        return self._clock()

    async def events(self) -> AsyncIterator[FleetEvent]:
        backoff = self.poll_s
        while True:
            try:
                reading = await read_fleet(self.client, now=self._clock())
            except FleetError as error:
                failure = str(error)
            except Exception as error:  # noqa: BLE001 - a fault of ours must not end the watch
                failure = _unexpected(error)
            else:
                failure = None
            if failure is not None:
                yield FleetUnreadable(failure, backoff)
                await self._sleep(backoff)
                backoff = min(backoff * 2, self.backoff_max_s)
                continue
            backoff = self.poll_s
            yield FleetRead(reading)
            await self._sleep(self.poll_s)

    async def history(self, instance: str, window_s: float, points: int) -> RigHistory:
        """One rig's history, ending now. Raises FleetError."""
        try:
            return await read_history(
                self.client, instance, end=self._clock(), window_s=window_s, points=points
            )
        except FleetError:
            raise
        except Exception as error:  # said in the history's title, not a crash
            raise FleetError(_unexpected(error)) from error


def _unexpected(error: Exception) -> str:
    """Words for a failure the reading code did not foresee: a fault of rigtui's, which the
    Fleet tab shows like any other, and which the next poll tries again."""
    return f"Reading Prometheus failed unexpectedly ({type(error).__name__}: {error}): a rigtui bug"
