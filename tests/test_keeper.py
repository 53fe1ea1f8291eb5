"""The chat keeper: a streaming reply written at its pace, failures once per kind, nothing lost.

Most tests build the keeper without its thread and step it: the clock is a number the test
moves, and ``pump()`` does what the thread would do at that moment. Those that run the thread
wait on ``flush()`` (an event) or on the database's state, never on time. The last test kills a
process mid-reply (SIGKILL) and reopens what it left.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from rigtui.llm.ollama import ChatOptions
from rigtui.sim.clock import ManualClock
from rigtui.sim.ollama import SimulatedOllama
from rigtui.sim.rig import GpuSlot, SimulatedRig
from rigtui.store.chats import DATABASE_NAME, ChatStore, StoreError, Turn
from rigtui.store.keeper import STREAM_WRITE_S, ChatKeeper

REPOSITORY = Path(__file__).resolve().parents[1]
DEADLINE_S = 60.0
"""Only a broken test waits this long: it fails instead of hanging."""


class SteppedClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Heard:
    """What the keeper reported, in order."""

    def __init__(self) -> None:
        self.errors: list[StoreError] = []
        self.recovered = 0
        self.error_seen = threading.Event()

    def error(self, error: StoreError) -> None:
        self.errors.append(error)
        self.error_seen.set()

    def recover(self) -> None:
        self.recovered += 1


@pytest.fixture
def store(tmp_path):
    made = ChatStore.open(tmp_path, busy_timeout_s=0.05)
    yield made
    made.close()


@pytest.fixture
def heard():
    return Heard()


@pytest.fixture
def stepped(store, heard):
    clock = SteppedClock()
    keeper = ChatKeeper(store, heard.error, clock=clock, on_recovered=heard.recover, thread=False)
    return keeper, clock


def saved_turns(path: Path) -> list[tuple]:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return db.execute(
            "SELECT position, content, state FROM turns ORDER BY conversation_id, position"
        ).fetchall()
    finally:
        db.close()


def streamed(text: str) -> Turn:
    return Turn("assistant", text, state="streaming")


def test_a_streaming_turn_is_written_at_once_then_at_most_every_interval(store, stepped):
    keeper, clock = stepped
    conversation = store.start("m", ChatOptions())
    keeper.streaming(conversation, 1, streamed("It"))
    assert keeper.pump() is None  # the first text at once: nothing waits
    assert saved_turns(store.path) == [(1, "It", "streaming")]

    clock.now += 0.2
    keeper.streaming(conversation, 1, streamed("It runs"))
    keeper.streaming(conversation, 1, streamed("It runs partly"))
    assert keeper.pump() == pytest.approx(STREAM_WRITE_S - 0.2)
    assert saved_turns(store.path) == [(1, "It", "streaming")]
    assert keeper.unsaved_turns == 1

    clock.now += STREAM_WRITE_S - 0.2
    assert keeper.pump() is None  # written; nothing waits
    assert saved_turns(store.path) == [(1, "It runs partly", "streaming")]


def test_a_finished_turn_is_written_at_once_over_what_streamed(store, stepped):
    keeper, clock = stepped
    conversation = store.start("m", ChatOptions())
    keeper.streaming(conversation, 1, streamed("It"))
    keeper.pump()
    clock.now += 0.1
    keeper.streaming(conversation, 1, streamed("It runs"))
    keeper.finished(conversation, 1, Turn("assistant", "It runs.", stats="40 t/s"))
    assert keeper.pump() is None
    assert saved_turns(store.path) == [(1, "It runs.", "done")]
    clock.now += 10
    assert keeper.pump() is None
    assert saved_turns(store.path) == [(1, "It runs.", "done")]  # no late streaming write


def test_truncate_drops_turns_still_waiting_to_be_written(store, stepped):
    keeper, clock = stepped
    conversation = store.start("m", ChatOptions())
    keeper.finished(conversation, 0, Turn("user", "Why?"))
    keeper.streaming(conversation, 1, streamed("Be"))
    keeper.pump()
    clock.now += 0.1
    keeper.streaming(conversation, 1, streamed("Because"))  # waits for its turn
    keeper.truncate(conversation, 1)  # regenerate
    clock.now += 10
    keeper.pump()
    keeper.pump()
    assert saved_turns(store.path) == [(0, "Why?", "done")]


def test_a_lock_is_reported_once_and_the_turn_is_written_when_it_goes(store, stepped, heard):
    keeper, clock = stepped
    conversation = store.start("m", ChatOptions())
    other = sqlite3.connect(store.path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    keeper.finished(conversation, 0, Turn("user", "Why?"))
    keeper.streaming(conversation, 1, streamed("Be"))
    assert keeper.pump() == STREAM_WRITE_S  # both failed: tried again then
    for _ in range(3):
        clock.now += STREAM_WRITE_S
        keeper.pump()
    assert [error.kind for error in heard.errors] == ["locked"]  # once, not twice a second
    assert "locked by another program" in str(heard.errors[0])
    assert keeper.unsaved_turns == 2 and heard.recovered == 0
    keeper.streaming(conversation, 1, streamed("Because"))  # newer text replaces the retry

    other.execute("ROLLBACK")
    other.close()
    clock.now += STREAM_WRITE_S
    assert keeper.pump() is None
    assert saved_turns(store.path) == [(0, "Why?", "done"), (1, "Because", "streaming")]
    assert keeper.unsaved_turns == 0 and heard.recovered == 1


def test_a_full_disk_is_reported_again_after_a_recovery(store, stepped, heard):
    keeper, clock = stepped
    conversation = store.start("m", ChatOptions())
    pages = store._db.execute("PRAGMA page_count").fetchone()[0]
    store._db.execute(f"PRAGMA max_page_count = {pages}")  # SQLITE_FULL, as on a full disk
    keeper.finished(conversation, 0, Turn("user", "x" * 100_000))
    keeper.pump()
    assert [error.kind for error in heard.errors] == ["full"]
    assert keeper.flush() is False  # still unsaved, and it says so
    keeper.truncate(conversation, 0)  # the user gives up on it; a small one goes through
    keeper.finished(conversation, 0, Turn("user", "short"))
    keeper.pump()
    assert heard.recovered == 1
    store._db.execute(f"PRAGMA max_page_count = {pages}")
    keeper.finished(conversation, 1, Turn("assistant", "y" * 100_000))
    clock.now += 1
    keeper.pump()
    assert [error.kind for error in heard.errors] == ["full", "full"]
    assert saved_turns(store.path) == [(0, "short", "done")]


def test_a_turn_of_a_purged_conversation_is_dropped_not_retried(store, stepped, heard):
    keeper, _ = stepped
    conversation = store.start("m", ChatOptions())
    keeper.streaming(conversation, 1, streamed("It"))
    keeper.submit(lambda: store.delete(conversation))
    keeper.submit(store.purge)
    assert keeper.pump() is None  # nothing waits: the turn had nowhere to go
    assert keeper.unsaved_turns == 0 and heard.errors == []
    assert saved_turns(store.path) == []


def test_a_job_that_raises_is_reported_and_the_thread_goes_on(store, heard):
    keeper = ChatKeeper(store, heard.error)
    conversation = store.start("m", ChatOptions())
    keeper.submit(lambda: 1 / 0)
    keeper.finished(conversation, 0, Turn("user", "after the fault"))
    assert keeper.flush(timeout_s=DEADLINE_S) is True
    assert [error.kind for error in heard.errors] == ["other"]
    assert "ZeroDivisionError" in str(heard.errors[0])
    assert saved_turns(store.path) == [(0, "after the fault", "done")]
    keeper.close()


def test_a_listener_that_raises_does_not_stop_the_writes(store):
    def gone(error: StoreError) -> None:
        raise RuntimeError("the app is gone")

    keeper = ChatKeeper(store, gone)
    conversation = store.start("m", ChatOptions())
    keeper.submit(lambda: 1 / 0)
    keeper.finished(conversation, 0, Turn("user", "still saved"))
    assert keeper.flush(timeout_s=DEADLINE_S) is True
    assert saved_turns(store.path) == [(0, "still saved", "done")]
    keeper.close()


def test_the_thread_writes_a_streaming_turn_on_its_own(store, heard):
    keeper = ChatKeeper(store, heard.error)
    conversation = store.start("m", ChatOptions())
    keeper.streaming(conversation, 1, streamed("It"))
    deadline = time.monotonic() + DEADLINE_S
    while saved_turns(store.path) != [(1, "It", "streaming")]:  # the state is the event
        assert time.monotonic() < deadline, "the keeper never wrote the turn"
        time.sleep(0.01)
    keeper.streaming(conversation, 1, streamed("It runs"))
    keeper.close()  # writes what is pending, then closes the store
    reopened = ChatStore.open(store.path.parent)
    assert [t.content for t in reopened.load(conversation).turns] == ["It runs"]
    reopened.close()
    assert heard.errors == []


def test_flush_and_close_without_a_thread_write_everything(tmp_path, heard):
    store = ChatStore.open(tmp_path)
    keeper = ChatKeeper(store, heard.error, clock=SteppedClock(), thread=False)
    conversation = store.start("m", ChatOptions())
    keeper.streaming(conversation, 1, streamed("a"))
    keeper.pump()
    keeper.streaming(conversation, 1, streamed("ab"))
    assert keeper.flush() is True
    assert saved_turns(store.path) == [(1, "ab", "streaming")]
    keeper.streaming(conversation, 1, streamed("abc"))
    keeper.close()
    assert saved_turns(tmp_path / DATABASE_NAME) == [(1, "abc", "streaming")]


# --- kill -9 in the middle of a reply ---------------------------------------------------------

STREAMING_CHILD = """
import asyncio, sys, time
from pathlib import Path
from rigtui.llm.ollama import ChatOptions, OllamaClient, parse_ollama_host
from rigtui.llm.reply import Reply
from rigtui.sim.clock import ManualClock
from rigtui.sim.ollama import SimulatedOllama
from rigtui.sim.rig import GpuSlot, SimulatedRig
from rigtui.store.chats import ChatStore, Turn
from rigtui.store.keeper import ChatKeeper

MODEL, PROMPT = "llama3.1:8b", sys.argv[2]
server = SimulatedOllama(SimulatedRig(ManualClock(), (GpuSlot(),)), speed=1000.0)
server.faults.tokens_per_s = 40  # a reply of about six seconds
server.start()
keeper = ChatKeeper(ChatStore.open(Path(sys.argv[1])), lambda error: print("error", error))
conversation = keeper.store.start(MODEL, ChatOptions())
keeper.finished(conversation, 0, Turn("user", PROMPT))


async def reply() -> None:
    client = OllamaClient(parse_ollama_host(server.url))
    text = ""
    async for piece in Reply(client, MODEL, [{"role": "user", "content": PROMPT}],
                             ChatOptions()).pieces():
        text += piece.content
        keeper.streaming(conversation, 1, Turn("assistant", text, model=MODEL, state="streaming"))
        print(f"{time.monotonic():.6f} {len(text)}", flush=True)


asyncio.run(reply())
print("finished", flush=True)
"""


def test_kill_9_mid_reply_leaves_the_reply_cut_off_and_at_most_a_second_old(tmp_path):
    prompt = "Why is my model slow?"
    child = subprocess.Popen(
        [sys.executable, "-c", STREAMING_CHILD, str(tmp_path), prompt],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPOSITORY)},
    )
    path = tmp_path / DATABASE_NAME
    seen: set[str] = set()
    deadline = time.monotonic() + DEADLINE_S
    try:
        # The event: the database holds a part of the reply, rewritten a few times (two seconds
        # of it, so that a second before the kill is well into the reply).
        while len(seen) < 5:
            assert child.poll() is None, child.communicate()
            assert time.monotonic() < deadline, "no part of the reply was ever saved"
            # The file exists before its tables do.
            with contextlib.suppress(sqlite3.OperationalError):
                if path.exists():
                    seen |= {text for position, text, _ in saved_turns(path) if position == 1}
            time.sleep(0.02)
        killed_at = time.monotonic()
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        out, err = child.communicate(timeout=DEADLINE_S)
    assert child.returncode == -signal.SIGKILL
    assert "finished" not in out and "error" not in out, (out, err)
    progress = [(float(t), int(n)) for t, n in (line.split() for line in out.splitlines())]

    store = ChatStore.open(tmp_path)
    (conversation,) = store.conversations()
    user, assistant = store.load(conversation.id).turns
    assert (user.content, user.state) == (prompt, "done")
    assert assistant.cut_off and assistant.state == "streaming"
    full = SimulatedOllama(SimulatedRig(ManualClock(), (GpuSlot(),))).reply_for(prompt)
    assert full.startswith(assistant.content) and len(assistant.content) < len(full)
    # No older than about a second: it holds at least what the child had a second before.
    a_second_before = [n for t, n in progress if t <= killed_at - 1.0]
    assert a_second_before, "the kill came less than a second into the reply"
    assert len(assistant.content) >= a_second_before[-1]
    assert len(assistant.content) <= progress[-1][1]
    store.close()


def test_turns_and_jobs_are_done_in_the_order_they_were_handed_in(store, stepped):
    keeper, clock = stepped
    conversation = store.start("m", ChatOptions())
    keeper.streaming(conversation, 1, streamed("It"))
    keeper.pump()
    clock.now += 0.1  # the next streaming write is not due yet
    keeper.finished(conversation, 1, Turn("assistant", "It is done."))
    read: list[tuple] = []
    keeper.submit(lambda: read.extend((t.content, t.state) for t in store.load(conversation).turns))
    keeper.pump()
    keeper.truncate(conversation, 1)
    keeper.finished(conversation, 1, Turn("assistant", "Again."))
    keeper.pump()
    assert read == [("It is done.", "done")]  # a list handed in after the end reads the end
    assert saved_turns(store.path) == [(1, "Again.", "done")]  # after the truncate: it stays
