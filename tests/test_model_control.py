"""Model control without Textual: rigtui's client unloads, loads, deletes and pulls over the
simulated Ollama, and the pull's speed and time left are worked out from stamped steps.

The server runs real HTTP on 127.0.0.1 with its clock fixed (``server_time``); the pull meter
has no clock of its own: each step carries the moment it arrived, which the tests choose.
"""

from __future__ import annotations

import asyncio
import itertools
import math
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rigtui.llm.keep_alive import FieldError, describe_keep_alive, parse_keep_alive
from rigtui.llm.ollama import (
    ModelNotFoundError,
    NotInLibraryError,
    OllamaClient,
    OllamaUnreachableError,
    PullStep,
    parse_ollama_host,
)
from rigtui.llm.pulling import WINDOW_S, PullMeter
from rigtui.sim.clock import ManualClock
from rigtui.sim.ollama import SimulatedOllama
from rigtui.sim.rig import GpuSlot, SimulatedRig

FAST = 1000.0
EPOCH = 1_795_000_000.0
MB = 1_000_000


@pytest.fixture
def server() -> Iterator[SimulatedOllama]:
    rig = SimulatedRig(ManualClock(), (GpuSlot(),))
    sim = SimulatedOllama(rig, speed=FAST, clock=lambda: EPOCH)
    sim.start()
    yield sim
    sim.stop()


@pytest.fixture
async def client(server):
    made = OllamaClient(parse_ollama_host(server.url))
    yield made
    await made.close()


# --- unload, load, delete ------------------------------------------------------------------


async def test_unload_sends_what_ollama_stop_sends_and_the_model_leaves_ps(client, server):
    server.load("llama3.1:8b", keep_alive_s=600)
    assert [model.name for model in await client.running()] == ["llama3.1:8b"]
    await client.unload("llama3.1:8b")
    assert await client.running() == []
    generate = [entry for entry in server.requests if entry["path"] == "/api/generate"]
    assert (generate[-1]["method"], generate[-1]["status"]) == ("POST", 200)


async def test_load_with_a_keep_alive_sets_when_it_unloads(client, server):
    await client.load("deepseek-r1:14b", "30m")
    (loaded,) = await client.running()
    assert loaded.name == "deepseek-r1:14b"
    assert loaded.expires_at_s == pytest.approx(EPOCH + 30 * 60)
    await client.load("deepseek-r1:14b", "-1s")  # forever: ~292 years, as Ollama's MaxInt64
    (loaded,) = await client.running()
    assert loaded.expires_at_s - EPOCH > 200 * 365 * 86400


async def test_delete_unloads_first_as_ollama_rm_does(client, server):
    server.load("llama3.1:8b", keep_alive_s=600)
    await client.delete("llama3.1:8b")
    assert await client.running() == []  # the bare DELETE would have left it loaded
    assert "llama3.1:8b" not in [model.name for model in await client.installed()]


async def test_errors_say_what_is_wrong_in_words(client, server):
    with pytest.raises(ModelNotFoundError, match="'nosuch:1b' is not installed"):
        await client.unload("nosuch:1b")
    with pytest.raises(ModelNotFoundError, match="'nosuch:1b' is not installed"):
        await client.delete("nosuch:1b")
    with pytest.raises(ModelNotFoundError):
        await client.load("nosuch:1b", "5m")
    server.stop()
    with pytest.raises(OllamaUnreachableError, match="Cannot reach Ollama"):
        await client.unload("llama3.1:8b")


# --- pull: an unknown name, cancelling ----------------------------------------------------------


async def test_pulling_a_misspelt_name_says_it_is_not_in_the_library(client):
    steps = []
    with pytest.raises(NotInLibraryError, match="'lama3:8b' does not exist in the Ollama library"):
        async for step in client.pull("lama3:8b"):
            steps.append(step)
    assert [step.status for step in steps] == ["pulling manifest"]


async def test_cancelling_a_pull_closes_its_stream(client, server):
    server.speed = 5.0  # slow enough to cancel in the middle
    arrived: list[PullStep] = []

    async def pull() -> None:
        async for step in client.pull("mistral:7b"):
            arrived.append(step)

    task = asyncio.create_task(pull())
    while not any(step.completed for step in arrived):
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    for _ in range(500):
        if server.cancelled_requests:
            break
        await asyncio.sleep(0.01)
    assert server.cancelled_requests == 1  # the server saw the client go
    assert "mistral:7b" not in server.installed
    assert all(0 < b.arrived_at - a.arrived_at < 60 for a, b in itertools.pairwise(arrived))


# --- the pull's speed and time left -------------------------------------------------------------


def layer(completed: int | None, at: float, digest: str = "sha256:aa", total: int = 1000 * MB):
    return PullStep(f"pulling {digest[7:19]}", completed, total, digest, arrived_at=at)


def test_speed_is_the_bytes_over_the_last_seconds_and_time_left_follows():
    meter = PullMeter()
    meter.add(PullStep("pulling manifest", arrived_at=0.0))
    meter.add(layer(None, 0.0))
    assert meter.figures().bytes_per_s is None  # not yet known
    for second in range(1, 11):  # 100 MB/s for 10 s
        meter.add(layer(second * 100 * MB, float(second)))
    figures = meter.figures()
    assert figures.bytes_per_s == pytest.approx(100 * MB)
    assert figures.seconds_left == 0.0  # 1000 MB of 1000 done: nothing left
    meter = PullMeter()
    meter.add(layer(0, 0.0))
    for second in range(1, 11):
        meter.add(layer(second * 50 * MB, float(second)))  # 50 MB/s ...
    for second in range(11, 15):
        meter.add(layer(500 * MB + (second - 10) * 10 * MB, float(second)))  # ... then 10
    figures = meter.figures()
    # The window is the last five seconds: 50 MB in second 10, then 10 MB a second.
    assert figures.bytes_per_s == pytest.approx((50 + 4 * 10) * MB / WINDOW_S)
    assert figures.seconds_left == pytest.approx((1000 - 540) * MB / figures.bytes_per_s)
    assert figures.fraction == pytest.approx(0.54)


def test_bytes_a_layer_had_already_are_done_but_not_speed():
    meter = PullMeter()
    meter.add(layer(1000 * MB, 0.0, "sha256:aa"))  # pulled before
    meter.add(layer(0, 0.0, "sha256:bb", total=200 * MB))
    meter.add(layer(600 * MB, 1.0, "sha256:cc", total=2000 * MB))  # resumed at 600 MB
    meter.add(layer(100 * MB, 1.0, "sha256:bb", total=200 * MB))
    figures = meter.figures()
    assert (figures.completed_bytes, figures.total_bytes) == (1700 * MB, 3200 * MB)
    assert figures.bytes_per_s == pytest.approx(100 * MB)


times = st.floats(allow_nan=True, allow_infinity=True)
sizes = st.one_of(st.none(), st.integers(-(2**63), 2**63))


@given(st.lists(st.tuples(sizes, sizes, st.sampled_from(["sha256:a", "sha256:b", ""]), times)))
def test_the_meter_never_raises_and_never_says_a_negative_or_endless_time(steps):
    meter = PullMeter()
    for completed, total, digest, at in steps:
        meter.add(PullStep("pulling", completed, total, digest or None, arrived_at=at))
        figures = meter.figures()
        assert 0 <= figures.completed_bytes <= max(figures.total_bytes, 0)
        assert figures.bytes_per_s is None or figures.bytes_per_s >= 0
        left = figures.seconds_left
        assert left is None or (math.isfinite(left) and left >= 0)


# --- keep_alive as typed (shared with the chat options) ----------------------------------------


@pytest.mark.parametrize(
    ("typed", "sent", "shown"),
    [
        ("5m", "5m", "5m"),
        ("90", "90s", "90s"),
        ("-1", "-1s", "forever"),
        ("1h30m", "1h30m", "1h30m"),
    ],
)
def test_keep_alive_as_typed(typed, sent, shown):
    assert parse_keep_alive(typed) == sent
    assert describe_keep_alive(sent) == shown


@pytest.mark.parametrize("typed", ["10 minutes", "1e3", "inf", "3000000h"])
def test_a_keep_alive_go_would_refuse_is_refused_with_what_would_do(typed):
    with pytest.raises(FieldError, match=r"duration|at most"):
        parse_keep_alive(typed)
