"""What the chat store costs: a streaming write, loading a long conversation, the list and search.

    python benchmarks/store.py [--conversations 1000] [--turns 50] [--repeat 30]

A database of ``--conversations`` conversations of ``--turns`` turns each (user prompts of about
200 characters, replies of about 1,500: roughly 40 MB at the defaults) is built in a temporary
directory, then measured through rigtui's real ChatStore (SQLite, WAL, synchronous=NORMAL):

- one streaming write: ``put_turn`` of a growing reply, what the keeper does twice a second;
- loading a conversation of 2,000 turns;
- the conversation list, and a search that matches one conversation and one that matches all;
- ``PRAGMA quick_check`` over the whole file, and opening it (the check bounded by its budget).

Medians of ``--repeat`` runs. The file lives on this machine's disk (tmpfs is faster).
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from rigtui.llm.ollama import ChatOptions
from rigtui.store.chats import DATABASE_NAME, ChatStore, Turn

TEXT = (
    "the model offloads layers to the CPU when the context does not fit in VRAM so tokens per "
    "second fall; a smaller quantization or a shorter num_ctx brings it back onto the GPU"
)
WORDS = TEXT.split()


def sentence(rng: random.Random, characters: int) -> str:
    words: list[str] = []
    length = 0
    while length < characters:
        words.append(rng.choice(WORDS))
        length += len(words[-1]) + 1
    return " ".join(words)


def fill(data_dir: Path, conversations: int, turns: int, long_turns: int) -> int:
    """The database, written in one transaction beside the store; the id of the long one."""
    ChatStore.open(data_dir).close()  # the schema, as rigtui makes it
    rng = random.Random(15)
    db = sqlite3.connect(data_dir / DATABASE_NAME, isolation_level=None)
    db.execute("BEGIN")
    now = time.time() - conversations * 60
    for number in range(conversations + 1):
        count = long_turns if number == conversations else turns
        title = sentence(rng, 40)
        if number == conversations // 2:
            title += " zebracorn"  # the rare word, in one conversation
        cursor = db.execute(
            "INSERT INTO conversations (title, model, options, created_at, updated_at)"
            " VALUES (?, 'llama3.1:8b', '{}', ?, ?)",
            (title, now + number * 60, now + number * 60),
        )
        rows = [
            (
                cursor.lastrowid,
                position,
                "user" if position % 2 == 0 else "assistant",
                sentence(rng, 200 if position % 2 == 0 else 1500),
                now + number * 60 + position,
            )
            for position in range(count)
        ]
        db.executemany(
            "INSERT INTO turns (conversation_id, position, role, content, created_at)"
            " VALUES (?, ?, ?, ?, ?)",
            rows,
        )
    db.execute("COMMIT")
    db.close()
    return conversations + 1


def median_ms(action: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=1000)
    parser.add_argument("--turns", type=int, default=50)
    parser.add_argument("--long", type=int, default=2000, help="turns in the long conversation")
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--dir", type=Path, help="where to build it (default: a temporary one)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(dir=args.dir) as folder:
        data_dir = Path(folder)
        started = time.perf_counter()
        long_id = fill(data_dir, args.conversations, args.turns, args.long)
        size_mb = (data_dir / DATABASE_NAME).stat().st_size / 1e6
        print(
            f"built {args.conversations} conversations x {args.turns} turns + one of "
            f"{args.long}: {size_mb:.1f} MB in {time.perf_counter() - started:.1f} s"
        )

        store = ChatStore.open(data_dir)
        conversation = store.start("llama3.1:8b", ChatOptions())
        store.put_turn(conversation, 0, Turn("user", "Why is my model slow?"))
        reply = sentence(random.Random(1), 4000)
        growing = iter(range(10**9))

        def stream_write() -> None:
            length = 200 + next(growing) * 40 % 3800
            store.put_turn(conversation, 1, Turn("assistant", reply[:length], state="streaming"))

        write_ms = median_ms(stream_write, args.repeat * 10)
        print(f"one streaming write (put_turn, up to 4,000 characters): {write_ms * 1000:.0f} µs")
        load_ms = median_ms(lambda: store.load(long_id), args.repeat)
        print(f"load a conversation of {args.long} turns: {load_ms:.1f} ms")
        list_ms = median_ms(store.conversations, args.repeat)
        count = len(store.conversations())
        print(f"list {count} conversations: {list_ms:.1f} ms")
        rare_ms = median_ms(lambda: store.conversations("zebracorn"), args.repeat)
        rare = len(store.conversations("zebracorn"))
        print(f"search a word in one title ({rare} found): {rare_ms:.1f} ms")
        absent_ms = median_ms(lambda: store.conversations("no such words"), args.repeat)
        print(f"search text found nowhere (reads every turn): {absent_ms:.1f} ms")
        common_ms = median_ms(lambda: store.conversations("quantization"), args.repeat)
        common = len(store.conversations("quantization"))
        print(f"search a word in every conversation ({common} found): {common_ms:.1f} ms")
        store.close()

        path = data_dir / DATABASE_NAME
        db = sqlite3.connect(path)
        check_ms = median_ms(lambda: db.execute("PRAGMA quick_check").fetchone(), 3)
        db.close()
        print(f"PRAGMA quick_check over {size_mb:.1f} MB: {check_ms:.0f} ms")
        open_ms = median_ms(lambda: ChatStore.open(data_dir).close(), 3)
        print(f"open it (quick_check within its budget): {open_ms:.0f} ms")


if __name__ == "__main__":
    main()
