"""One reply without Textual: rigtui's client against the simulated Ollama, and `Batches`.

The server is real HTTP on 127.0.0.1 with its pacing sped up; where a test needs the reply to
be under way (to stop it), the server's fault switches hold the stream after a number of tokens,
so the test waits for tokens, never for time. ``Batches`` runs on a clock and timers the test sets.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator

import pytest

from rigtui.llm.ollama import (
    ChatOptions,
    MalformedStreamError,
    ModelNotFoundError,
    OllamaClient,
    OllamaError,
    OllamaResponseError,
    OllamaUnreachableError,
    StreamInterruptedError,
    parse_ollama_host,
)
from rigtui.llm.reply import Batches, Reply
from rigtui.sim.clock import ManualClock
from rigtui.sim.ollama import UNEXPECTED_EOF, SimulatedOllama
from rigtui.sim.ollama.models import tokenize
from rigtui.sim.rig import GpuSlot, SimulatedRig
from rigtui.telemetry.power import EnergyReading

FAST = 1000.0
PROMPT = [{"role": "user", "content": "Why is my model slow?"}]
QUESTION = PROMPT[0]["content"]
SAFETY_S = 30.0
"""Only ever reached by a broken test: it fails instead of hanging."""


@pytest.fixture
def server() -> Iterator[SimulatedOllama]:
    sim = SimulatedOllama(SimulatedRig(ManualClock(), (GpuSlot(),)), speed=FAST)
    sim.start()
    yield sim
    sim.stop()


@pytest.fixture
async def client(server):
    made = OllamaClient(parse_ollama_host(server.url))
    yield made
    await made.close()


def reply_to(client, model: str = "llama3.1:8b", options: ChatOptions | None = None, **kw):
    return Reply(client, model, PROMPT, options or ChatOptions(), **kw)


async def all_pieces(reply: Reply) -> list:
    return [piece async for piece in reply.pieces()]


async def first_pieces(reply: Reply, count: int) -> tuple[asyncio.Task, list]:
    """Iterate ``reply`` in a task until ``count`` pieces came; the task goes on iterating."""
    seen: list = []
    enough = asyncio.Event()

    async def consume() -> None:
        async for piece in reply.pieces():
            seen.append(piece)
            if len(seen) == count:
                enough.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(enough.wait(), SAFETY_S)
    return task, seen


# --- a whole reply ------------------------------------------------------------------------------


async def test_the_pieces_join_to_the_reply_and_the_stats_count_them(server, client):
    reply = reply_to(client)
    pieces = await all_pieces(reply)
    text = server.reply_for(QUESTION)
    assert "".join(piece.content for piece in pieces) == text
    assert all(piece.thinking == "" for piece in pieces)
    stats = reply.stats()
    assert stats.model == "llama3.1:8b"
    assert stats.pieces == reply.count == len(pieces) == len(tokenize(text))
    assert stats.end is not None and stats.end == reply.end
    assert (stats.end.done_reason, stats.end.eval_count) == ("stop", len(pieces))
    assert stats.end.eval_duration_ns > 0 and stats.end.prompt_eval_count > 0
    assert stats.end.total_duration_ns > stats.end.eval_duration_ns
    assert stats.generated_tokens == len(pieces)
    assert 0.0 < stats.time_to_first_token_s <= stats.wall_time_s
    assert stats.stopped is False and reply.error is None
    assert stats.energy is None  # no meter given
    assert pieces == sorted(pieces, key=lambda piece: piece.arrived_at)


async def test_a_thinking_model_counts_its_thinking_pieces(server, client):
    reply = reply_to(client, "deepseek-r1:14b")
    pieces = await all_pieces(reply)
    assert "".join(piece.thinking for piece in pieces) == server.thinking_for(QUESTION)
    assert "".join(piece.content for piece in pieces) == server.reply_for(QUESTION)
    assert reply.stats().pieces == len(pieces) == reply.end.eval_count


async def test_the_options_reach_the_server(server, client):
    # The seed picks the canned reply, num_predict cuts it; a system prompt goes along.
    options = ChatOptions(system_prompt="Be brief.", temperature=0.2, extra={"seed": 3})
    options.extra["num_predict"] = 7
    reply = reply_to(client, options=options)
    pieces = await all_pieces(reply)
    expected = "".join(tokenize(server.reply_for(QUESTION, seed=3))[:7])
    assert "".join(piece.content for piece in pieces) == expected
    assert (reply.end.done_reason, reply.end.eval_count, reply.count) == ("length", 7, 7)


async def test_energy_is_asked_between_the_first_and_the_last_piece(client):
    stamps = itertools.count(100.0)
    asked: list[tuple[float, float]] = []
    measured = EnergyReading(
        joules=42.0,
        seconds=2.0,
        method="counter",
        average_w=21.0,
        peak_w=30.0,
        peak_is_average=False,
    )

    def meter(first: float, last: float) -> EnergyReading:
        asked.append((first, last))
        return measured

    reply = reply_to(client, energy_clock=lambda: next(stamps), energy=meter)
    pieces = await all_pieces(reply)
    stats = reply.stats()
    # Stamped at the first piece (100), then at every piece (101, 102, …).
    assert asked == [(100.0, 100.0 + len(pieces))]
    assert stats.energy is measured


async def test_the_reply_is_timed_on_the_clock_handed_in(client):
    ticks = itertools.count()
    reply = reply_to(client, clock=lambda: float(next(ticks)))
    await all_pieces(reply)
    stats = reply.stats()
    # Started at 0, the first piece seen at 1, finished at 2.
    assert (stats.time_to_first_token_s, stats.wall_time_s) == (1.0, 2.0)


# --- a reply that does not end well -------------------------------------------------------------


async def test_an_unknown_model_is_kept_as_the_error_and_nothing_escapes(client):
    asked = []
    reply = reply_to(client, "nosuch", energy=lambda first, last: asked.append(1))
    assert await all_pieces(reply) == []
    assert isinstance(reply.error, ModelNotFoundError)
    assert reply.error.model == "nosuch"
    assert reply.error.server_message == "model 'nosuch' not found"
    assert str(reply.error) == "Model 'nosuch' is not installed."
    stats = reply.stats()
    assert (stats.pieces, stats.end, stats.stopped, stats.time_to_first_token_s) == (
        0,
        None,
        False,
        None,
    )
    assert stats.energy is None and asked == []


async def test_an_error_mid_reply_keeps_what_arrived(server, client):
    server.faults.error_after_tokens = 5
    reply = reply_to(client)
    pieces = await all_pieces(reply)
    assert len(pieces) == 5 == reply.stats().pieces
    assert isinstance(reply.error, OllamaResponseError)
    assert (reply.error.status, reply.error.server_message) == (-1, UNEXPECTED_EOF)
    assert reply.end is None and reply.stopped is False


async def test_stopping_the_task_mid_reply_marks_it_stopped(server, client):
    server.faults.stall_after_tokens = 3  # the reply holds after three tokens
    reply = reply_to(client)
    task, seen = await first_pieces(reply, 3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    stats = reply.stats()
    assert (stats.stopped, stats.end, stats.pieces, len(seen)) == (True, None, 3, 3)
    assert reply.error is None
    assert stats.time_to_first_token_s is not None


async def test_closing_the_pieces_early_marks_it_stopped(server, client):
    server.faults.stall_after_tokens = 3
    reply = reply_to(client)
    pieces = reply.pieces()
    first = await anext(pieces)
    assert first.content == tokenize(server.reply_for(QUESTION))[0]
    await pieces.aclose()
    assert reply.stopped is True and reply.end is None and reply.count == 1


async def test_stopping_a_batched_reply_keeps_every_piece_that_came(server, client):
    """As the dashboard streams it: pieces in batches, the worker cancelled on Esc."""
    server.faults.stall_after_tokens = 4
    reply = reply_to(client)
    sent: list[list] = []
    four = asyncio.Event()

    async def stream() -> None:
        batches = Batches(sent.append, 10.0)  # after the first, nothing is due before the end
        try:
            async for piece in reply.pieces():
                batches.add(piece)
                if reply.count == 4:
                    four.set()
        finally:
            sent.append(batches.rest())

    task = asyncio.create_task(stream())
    await asyncio.wait_for(four.wait(), SAFETY_S)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert reply.stopped is True and reply.end is None and reply.count == 4
    assert [len(batch) for batch in sent] == [1, 3]  # the first at once, the rest at the end
    words = tokenize(server.reply_for(QUESTION))[:4]
    assert [piece.content for batch in sent for piece in batch] == words


# --- OllamaClient.chat: every failure in rigtui's words ------------------------------------------


def _fault(name: str, value):
    return lambda server: setattr(server.faults, name, value)


def _dropped_with_reset(server) -> None:
    server.faults.drop_after_tokens = 5
    server.faults.drop_with_reset = True


@pytest.mark.parametrize(
    ("setup", "model", "options", "raised", "arrived"),
    [
        pytest.param(
            lambda server: server.stop(), "llama3.1:8b", {}, OllamaUnreachableError, 0, id="refused"
        ),
        pytest.param(None, "nosuch", {}, ModelNotFoundError, 0, id="unknown model"),
        pytest.param(
            _fault("error_status", (500, "llama runner process has terminated: exit status 2")),
            "llama3.1:8b",
            {},
            OllamaResponseError,
            0,
            id="500 before streaming",
        ),
        pytest.param(
            None, "llama3.1:8b", {"think": True}, OllamaResponseError, 0, id="cannot think"
        ),
        pytest.param(
            _fault("error_after_tokens", 5), "llama3.1:8b", {}, OllamaResponseError, 5, id="error"
        ),
        pytest.param(
            _fault("drop_after_tokens", 5), "llama3.1:8b", {}, StreamInterruptedError, 5, id="fin"
        ),
        pytest.param(
            _dropped_with_reset,
            "llama3.1:8b",
            {},
            StreamInterruptedError,
            5,
            id="rst",
        ),
        pytest.param(
            _fault("malformed_after_tokens", 3),
            "llama3.1:8b",
            {},
            MalformedStreamError,
            3,
            id="not json",
        ),
    ],
)
async def test_chat_failures_are_mapped(server, client, setup, model, options, raised, arrived):
    if setup is not None:
        setup(server)
    received = []
    with pytest.raises(OllamaError) as caught:
        async for item in client.chat(model, PROMPT, ChatOptions(**options)):
            received.append(item)
    assert type(caught.value) is raised
    assert len(received) == arrived


async def test_the_mapped_failures_say_what_happened(server, client):
    async def failure(model: str = "llama3.1:8b", **options) -> OllamaError:
        with pytest.raises(OllamaError) as caught:
            async for _item in client.chat(model, PROMPT, ChatOptions(**options)):
                pass
        return caught.value

    cannot_think = await failure(think=True)
    assert (cannot_think.status, cannot_think.server_message) == (
        400,
        '"llama3.1:8b" does not support thinking',
    )
    assert str(cannot_think) == 'Ollama answered 400: "llama3.1:8b" does not support thinking'
    server.faults.error_after_tokens = 2
    mid_reply = await failure()
    assert str(mid_reply) == f"Ollama reported an error while replying: {UNEXPECTED_EOF}"
    server.faults.clear()
    server.faults.drop_after_tokens = 2
    dropped = await failure()
    assert str(dropped).startswith("The connection to Ollama dropped in the middle of the reply")
    server.faults.clear()
    server.faults.malformed_after_tokens = 2
    malformed = await failure()
    assert str(malformed).startswith("Ollama sent a line that is not JSON: ")
    server.faults.clear()
    server.stop()
    refused = await failure()
    assert isinstance(refused, OllamaUnreachableError)
    assert (refused.cause, refused.address.port) == ("connection refused", server.port)


async def test_every_request_to_a_stopped_server_is_unreachable(server, client):
    server.stop()
    for request in (client.version(), client.installed(), client.running(), client.facts("x")):
        with pytest.raises(OllamaUnreachableError, match="connection refused"):
            await request


async def test_facts_of_an_unknown_model(client):
    with pytest.raises(ModelNotFoundError) as caught:
        await client.facts("nosuch")
    assert caught.value.server_message == "model 'nosuch:latest' not found"


# --- Batches -----------------------------------------------------------------------------------


class SetClock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


class Timers:
    """call_later that the test runs by hand."""

    def __init__(self) -> None:
        self.due: list[tuple[float, object]] = []

    def __call__(self, delay: float, callback):
        self.due.append((delay, callback))
        return self

    def cancel(self) -> None:
        self.due.clear()

    def run(self) -> None:
        (_, callback) = self.due.pop(0)
        callback()


def batches_on(clock, timers):
    sent: list[list] = []
    return sent, Batches(sent.append, 0.05, clock=clock, call_later=timers)


def test_the_first_item_goes_at_once_and_the_next_wait_for_the_first_to_be_taken():
    clock, timers = SetClock(), Timers()
    sent, batches = batches_on(clock, timers)
    batches.add("a")
    assert sent == [["a"]]
    clock.t = 1.0  # long after: due, but the screen has not taken "a" yet
    batches.add("b")
    batches.add("c")
    assert sent == [["a"]] and timers.due == []
    batches.taken()
    assert sent == [["a"], ["b", "c"]]  # all that came meanwhile, in one batch


def test_a_batch_taken_early_waits_out_the_interval_on_a_timer():
    clock, timers = SetClock(), Timers()
    sent, batches = batches_on(clock, timers)
    batches.add("a")
    batches.taken()
    clock.t = 0.01
    batches.add("b")
    assert sent == [["a"]]
    assert [delay for delay, _ in timers.due] == [pytest.approx(0.04)]
    batches.add("c")  # the timer is set already: no second one
    assert len(timers.due) == 1
    clock.t = 0.05
    timers.run()
    assert sent == [["a"], ["b", "c"]]


def test_the_rest_is_given_once_and_nothing_is_sent_after_it():
    clock, timers = SetClock(), Timers()
    sent, batches = batches_on(clock, timers)
    batches.add("a")
    batches.add("b")
    assert batches.rest() == ["b"]
    assert batches.rest() == []
    batches.taken()
    batches.add("late")
    assert sent == [["a"]]
