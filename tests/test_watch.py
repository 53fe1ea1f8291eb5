"""Watching Ollama without Textual: the real client against the simulated server, on fake time.

Every test runs a fresh simulated Ollama (real HTTP on 127.0.0.1) and rigtui's own
``OllamaClient``. The watch's only ways to wait, ``sleep`` and ``wait``, are replaced by
:class:`Pauses`, which notes what was asked and returns at once, moving the watch's clock by as
much: so the tests read the pacing the watch chose instead of living through it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from rigtui.llm.ollama import OllamaClient, parse_ollama_host
from rigtui.llm.watch import (
    BACKOFF_MAX_S,
    MOVED_BYTES,
    Connected,
    Disconnected,
    FactsRead,
    Listed,
    OllamaWatch,
    Running,
    vram_used,
)
from rigtui.sim.clock import ManualClock
from rigtui.sim.ollama import SimulatedOllama
from rigtui.sim.ollama.models import DEFAULT_INSTALLED
from rigtui.sim.rig import MIB, GpuSlot, SimulatedRig
from rigtui.telemetry.model import CpuReading, GpuReading, MemoryReading, NvmlStatus, RigSnapshot

FAST = 1000.0
EPOCH = 1_795_000_000.0
"""The server's clock (keep-alive, expires_at) and the readings' ``taken_at``."""
GIB = 2**30


class Pauses:
    """Noted and skipped: the watch's sleeps and waits, and the time they would have taken."""

    def __init__(self) -> None:
        self.t = 0.0
        self.sleeps: list[float] = []
        self.waits: list[float] = []
        self.events_set: list[bool] = []
        """For each wait: whether its event was set already (it would have ended at once)."""

    def clock(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += seconds

    async def wait(self, event: asyncio.Event, timeout_s: float) -> None:
        self.waits.append(timeout_s)
        self.events_set.append(event.is_set())
        self.t += timeout_s


class CountingClient(OllamaClient):
    """rigtui's client, noting which models it was asked the facts of."""

    def __init__(self, url: str) -> None:
        super().__init__(parse_ollama_host(url))
        self.facts_asked: list[str] = []

    async def facts(self, model: str):
        self.facts_asked.append(model)
        return await super().facts(model)


def reading(vram_bytes: int | None, taken_at: float = EPOCH, *, gpus=None) -> RigSnapshot:
    if gpus is None:
        gpus = (GpuReading(index=0, memory_used_bytes=vram_bytes),)
    return RigSnapshot(
        taken_at=taken_at,
        hostname="rig",
        nvml=NvmlStatus(available=True),
        gpus=gpus,
        cpu=CpuReading(percent=0.0, per_core_pct=()),
        memory=MemoryReading(0, 0, 0, 0, 0),
    )


@pytest.fixture
def server_time() -> list[float]:
    return [EPOCH]


@pytest.fixture
def server(server_time) -> Iterator[SimulatedOllama]:
    rig = SimulatedRig(ManualClock(), (GpuSlot(),))
    sim = SimulatedOllama(rig, speed=FAST, clock=lambda: server_time[0])
    sim.start()
    yield sim
    sim.stop()


@pytest.fixture
async def client(server):
    made = CountingClient(server.url)
    yield made
    await made.close()


@pytest.fixture
def pauses() -> Pauses:
    return Pauses()


@pytest.fixture
async def watching(client, pauses):
    """Make a watch over the client (with the fake pauses) and its events; closed after."""
    made = []

    def make(**settings):
        watch = OllamaWatch(
            client, clock=pauses.clock, sleep=pauses.sleep, wait=pauses.wait, **settings
        )
        events = watch.events()
        made.append(events)
        return watch, events

    yield make
    for events in made:
        await events.aclose()


async def take(events, count: int) -> list:
    return [await anext(events) for _ in range(count)]


# --- what the watch says first -----------------------------------------------------------------


async def test_first_connected_listed_facts_and_running(watching, server, client, pauses):
    _watch, events = watching()
    connected, listed, facts, running = await take(events, 4)
    assert connected == Connected("0.12.6")
    assert isinstance(listed, Listed)
    assert [model.name for model in listed.models] == list(DEFAULT_INSTALLED)
    sizes = {model.name: model.size_bytes for model in listed.models}
    assert all(len(model.digest) == 64 for model in listed.models)
    assert isinstance(facts, FactsRead)
    assert sorted(facts.facts) == sorted(DEFAULT_INSTALLED)
    eight = facts.facts["llama3.1:8b"]
    assert (eight.architecture, eight.parameter_count, eight.block_count) == (
        "llama",
        8_030_261_312,
        32,
    )
    assert (eight.head_count, eight.head_count_kv, eight.context_length) == (32, 8, 131_072)
    assert eight.size_bytes == sizes["llama3.1:8b"]
    assert facts.facts["deepseek-r1:14b"].capabilities[-1] == "thinking"
    assert running == Running([])
    assert client.facts_asked == list(DEFAULT_INSTALLED)
    assert pauses.sleeps == [] and pauses.waits == []  # nothing waited for yet

    server.load("llama3.1:8b", keep_alive_s=60)
    (loaded,) = (await anext(events)).models
    assert (loaded.name, loaded.context_length, loaded.size_vram_bytes) == (
        "llama3.1:8b",
        4096,
        loaded.size_bytes,
    )
    assert loaded.expires_at_s == pytest.approx(EPOCH + 60)
    assert pauses.sleeps == [2.0] and pauses.waits == []


async def test_read_now_gives_the_installed_and_the_loaded_models(watching, server):
    watch, _events = watching()
    server.load("qwen2.5-coder:32b")
    listed, running = await watch.read_now()
    assert [model.name for model in listed.models] == list(DEFAULT_INSTALLED)
    assert [model.name for model in running.models] == ["qwen2.5-coder:32b"]


# --- how often -----------------------------------------------------------------------------------


async def test_without_gpus_to_watch_it_polls_every_poll_s(watching, pauses):
    watch, events = watching()
    await take(events, 4)
    assert watch.observe(reading(None, gpus=())) is False  # no GPUs: nothing moves
    await take(events, 1)
    assert watch.observe(reading(None, gpus=(GpuReading(index=0, lost=True),))) is False
    await take(events, 1)
    await take(events, 1)  # and without any reading at all
    assert pauses.sleeps == [2.0, 2.0, 2.0]
    assert pauses.waits == []


@pytest.mark.parametrize(
    ("poll_s", "quiet_poll_s", "quiet_wait_s"), [(2.0, 10.0, 8.0), (1.5, 6.0, 4.5), (5.0, 3.0, 0.0)]
)
async def test_an_unchanged_gpu_reading_waits_out_the_quiet_poll(
    watching, pauses, poll_s, quiet_poll_s, quiet_wait_s
):
    watch, events = watching(poll_s=poll_s, quiet_poll_s=quiet_poll_s)
    assert watch.observe(reading(10 * GIB)) is False  # no poll to compare with yet
    await take(events, 4)
    assert watch.observe(reading(10 * GIB)) is False
    await take(events, 1)
    assert pauses.sleeps == [poll_s]
    assert pauses.waits == [quiet_wait_s]
    assert pauses.events_set == [False]


async def test_vram_moved_by_128_mib_skips_the_quiet_wait(watching, pauses):
    watch, events = watching()
    watch.observe(reading(10 * GIB))
    await take(events, 4)
    assert watch.observe(reading(10 * GIB + MOVED_BYTES - 1)) is False
    assert watch.observe(reading(10 * GIB + MOVED_BYTES)) is True
    assert watch.observe(reading(11 * GIB)) is False  # asked already
    await take(events, 1)
    assert pauses.sleeps == [2.0] and pauses.waits == []
    # The next poll measures from what that poll saw (11 GiB), down as well as up.
    assert watch.observe(reading(11 * GIB - 100 * MIB)) is False
    await take(events, 1)
    assert pauses.sleeps == [2.0, 2.0] and pauses.waits == [8.0]
    assert watch.observe(reading(11 * GIB - 228 * MIB)) is True
    await take(events, 1)
    assert pauses.sleeps == [2.0, 2.0, 2.0] and pauses.waits == [8.0]


async def test_a_keep_alive_that_ran_out_asks_for_a_poll(watching, server, server_time, pauses):
    server.load("llama3.1:8b", keep_alive_s=60)
    watch, events = watching()
    watch.observe(reading(10 * GIB, EPOCH))
    *_, running = await take(events, 4)
    assert [model.name for model in running.models] == ["llama3.1:8b"]
    assert watch.observe(reading(10 * GIB, EPOCH + 59.5)) is False
    assert watch.observe(reading(10 * GIB, EPOCH + 60.0)) is True
    server_time[0] = EPOCH + 60.0  # the server unloads it too
    assert await anext(events) == Running([])
    assert pauses.sleeps == [2.0] and pauses.waits == []
    # Nothing loaded, nothing to run out: quiet again.
    assert watch.observe(reading(10 * GIB, EPOCH + 61.0)) is False
    await take(events, 1)
    assert pauses.waits == [8.0]


async def test_tags_are_read_again_every_tags_s_and_facts_once_per_model(
    watching, server, client, pauses
):
    watch, events = watching()
    watch.observe(reading(10 * GIB))  # quiet: a poll every 10 s of the watch's clock
    first = await take(events, 6)  # polls at 0 (with the listing), 10 and 20
    server.install("mistral:7b")
    later = await take(events, 7)  # polls at 30 (a new listing), 40, 50 and 60 (another)
    kinds = [type(event).__name__ for event in first + later]
    assert kinds == [
        "Connected",
        "Listed",
        "FactsRead",
        "Running",
        "Running",
        "Running",
        "Listed",
        "FactsRead",
        "Running",
        "Running",
        "Running",
        "Listed",
        "Running",
    ]
    assert pauses.t == 60.0
    relisted = later[0]
    assert [model.name for model in relisted.models] == ["mistral:7b", *DEFAULT_INSTALLED]
    assert sorted(later[1].facts) == ["mistral:7b"]
    # One /api/show per model, however often the list is read.
    assert client.facts_asked == [*DEFAULT_INSTALLED, "mistral:7b"]


# --- a server that goes away -------------------------------------------------------------------


async def test_a_stopped_server_is_tried_again_with_a_growing_pause(watching, server, pauses):
    _watch, events = watching()
    await take(events, 4)
    server.stop()
    gone = await take(events, 6)
    assert all(isinstance(event, Disconnected) for event in gone)
    assert [event.retry_in_s for event in gone] == [1.0, 2.0, 4.0, 8.0, 15.0, BACKOFF_MAX_S]
    assert pauses.sleeps == [2.0, 1.0, 2.0, 4.0, 8.0, 15.0]  # a poll, then five pauses
    assert gone[0].error.startswith(
        f"Cannot reach Ollama at 127.0.0.1:{server.port} (connection refused)."
    )
    assert gone[0].error.endswith("rigtui tries again in 1 s.")
    assert gone[-1].error.endswith("rigtui tries again in 15 s.")

    server.start()
    back = await take(events, 3)
    assert pauses.sleeps[-1] == 15.0
    assert back == [Connected("0.12.6"), back[1], Running([])]
    assert isinstance(back[1], Listed)  # and no FactsRead: the models were read before

    server.stop()
    (again,) = await take(events, 1)
    assert isinstance(again, Disconnected) and again.retry_in_s == 1.0  # counted afresh
    assert pauses.sleeps == [2.0, 1.0, 2.0, 4.0, 8.0, 15.0, 15.0, 2.0]


async def test_a_server_that_is_not_there_at_first(watching, server, client, pauses):
    server.stop()
    _watch, events = watching()
    (gone,) = await take(events, 1)
    assert isinstance(gone, Disconnected) and gone.retry_in_s == 1.0
    server.start()
    back = await take(events, 4)
    assert [type(event) for event in back] == [Connected, Listed, FactsRead, Running]
    assert pauses.sleeps == [1.0]
    assert client.facts_asked == list(DEFAULT_INSTALLED)


def test_vram_used_sums_the_gpus_and_is_none_when_it_cannot():
    two = (
        GpuReading(index=0, memory_used_bytes=3 * GIB),
        GpuReading(index=1, memory_used_bytes=5 * GIB),
    )
    assert vram_used(reading(None, gpus=two)) == 8 * GIB
    lost = (*two, GpuReading(index=2, lost=True))
    assert vram_used(reading(None, gpus=lost)) == 8 * GIB  # a lost GPU is left out
    unknown = (*two, GpuReading(index=2, memory_used_bytes=None))
    assert vram_used(reading(None, gpus=unknown)) is None
    assert vram_used(reading(None, gpus=())) is None
    assert vram_used(None) is None
