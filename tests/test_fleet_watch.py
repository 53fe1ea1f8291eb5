"""FleetWatch on stepped time: its pauses are noted and skipped, so the tests read the pacing it
chose (a poll every ``poll_s``, a doubling pause while Prometheus cannot be read) instead of
living through it. Prometheus is the recorded one, replayed (see test_fleet_reading.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from rigtui.fleet.model import FleetError
from rigtui.fleet.prometheus import PrometheusClient
from rigtui.fleet.watch import FleetEvent, FleetRead, FleetUnreadable, FleetWatch
from tests.fleet_servers import Answer, TinyServer, closed_port, load_recorded, tiny_server

RECORDED = load_recorded()


class SteppedSleep:
    """The watch's clock and sleep: a sleep moves the clock at once and runs what the test
    scheduled for that sleep."""

    def __init__(self, start: float) -> None:
        self.t = start
        self.sleeps: list[float] = []
        self.on_sleep: dict[int, Callable[[], None]] = {}
        """By the sleep's number (1 is the first)."""

    def clock(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += seconds
        action = self.on_sleep.get(len(self.sleeps))
        if action is not None:
            action()


@pytest.fixture
def server() -> Iterator[TinyServer]:
    with tiny_server() as tiny:
        yield tiny


async def take(watch: FleetWatch, count: int) -> list[FleetEvent]:
    events: list[FleetEvent] = []
    stream = watch.events()
    try:
        async for event in stream:
            events.append(event)
            if len(events) == count:
                break
    finally:
        await stream.aclose()
    return events


async def test_it_reads_the_fleet_every_poll(server: TinyServer) -> None:
    server.replay(RECORDED)
    time = SteppedSleep(RECORDED["read_at"])
    client = PrometheusClient(server.url)
    watch = FleetWatch(client, poll_s=5.0, clock=time.clock, sleep=time.sleep)
    try:
        events = await take(watch, 3)
    finally:
        await client.aclose()
    assert [type(event) for event in events] == [FleetRead] * 3
    assert [event.reading.read_at for event in events] == [
        RECORDED["read_at"] + offset for offset in (0, 5, 10)
    ]
    assert len(events[0].reading.rigs) == 5
    assert time.sleeps == [5.0, 5.0]


async def test_while_prometheus_is_away_the_pause_doubles_then_polls_resume(
    server: TinyServer,
) -> None:
    server.answers["/api/v1/query"] = Answer(502, "text/html", b"<html>Bad Gateway</html>")
    time = SteppedSleep(RECORDED["read_at"])
    time.on_sleep[6] = lambda: server.replay(RECORDED)
    client = PrometheusClient(server.url)
    watch = FleetWatch(client, poll_s=5.0, backoff_max_s=60.0, clock=time.clock, sleep=time.sleep)
    try:
        events = await take(watch, 8)
    finally:
        await client.aclose()
    unreadable = events[:6]
    assert all(isinstance(event, FleetUnreadable) for event in unreadable)
    assert [event.retry_in_s for event in unreadable] == [5, 10, 20, 40, 60, 60]
    assert "answered 502 Bad Gateway" in unreadable[0].error
    assert [type(event) for event in events[6:]] == [FleetRead, FleetRead]
    # After it comes back, the usual poll again.
    assert time.sleeps == [5, 10, 20, 40, 60, 60, 5]


async def test_nothing_listening_is_an_event_not_an_exception() -> None:
    client = PrometheusClient(f"http://127.0.0.1:{closed_port()}")
    time = SteppedSleep(0.0)
    watch = FleetWatch(client, poll_s=2.0, backoff_max_s=5.0, clock=time.clock, sleep=time.sleep)
    try:
        events = await take(watch, 3)
    finally:
        await client.aclose()
    assert [event.retry_in_s for event in events] == [2, 4, 5]
    assert all("is Prometheus running" in event.error for event in events)


async def test_history_ends_now_by_the_watch_clock(server: TinyServer) -> None:
    server.replay(RECORDED)
    asked = RECORDED["history"]
    time = SteppedSleep(asked["end"])
    client = PrometheusClient(server.url)
    watch = FleetWatch(client, clock=time.clock, sleep=time.sleep)
    try:
        history = await watch.history(asked["instance"], asked["window_s"], asked["points"])
    finally:
        await client.aclose()
    assert history.end == asked["end"] // 2 * 2
    assert [line.label for line in history.charts["power"]] == ["GPU 0", "GPU 1"]


async def test_history_that_cannot_be_read_raises_a_fleet_error(server: TinyServer) -> None:
    client = PrometheusClient(server.url)
    watch = FleetWatch(client, clock=lambda: 1000.0)
    try:
        with pytest.raises(FleetError, match="has no /api/v1/query_range"):
            await watch.history("127.0.0.1:9101", 600, 120)
    finally:
        await client.aclose()


async def test_a_fault_of_rigtuis_is_an_event_and_the_watch_goes_on(server: TinyServer) -> None:
    server.replay(RECORDED)
    time = SteppedSleep(RECORDED["read_at"])
    calls = []

    def clock() -> float:
        calls.append(None)
        if len(calls) == 1:  # the first reading's time cannot be had: an unforeseen fault
            raise OverflowError("the clock broke")
        return time.clock()

    client = PrometheusClient(server.url)
    watch = FleetWatch(client, poll_s=5.0, clock=clock, sleep=time.sleep)
    try:
        failed, read = await take(watch, 2)
    finally:
        await client.aclose()
    assert isinstance(failed, FleetUnreadable) and failed.retry_in_s == 5.0
    assert "failed unexpectedly (OverflowError: the clock broke)" in failed.error
    assert isinstance(read, FleetRead) and read.reading.rigs  # the next poll read the fleet
