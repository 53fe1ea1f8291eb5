"""Writes to the chat store on a thread of their own, so the screen never waits for the disk.

A streaming reply offers its text with every batch; the keeper writes the newest text of each
turn at most every ``STREAM_WRITE_S`` (and at once when the turn ends), so ``kill -9`` loses at
most that much of a reply. A failed write is handed to ``on_error`` once per kind of failure,
and the conversation goes on in memory.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable

from rigtui.store.chats import ChatStore, StoreError, Turn

STREAM_WRITE_S = 0.5
"""How often a streaming reply is written: twice the issue's once a second, at a few hundred
microseconds a commit (WAL, no fsync)."""


class ChatKeeper:
    def __init__(
        self,
        store: ChatStore,
        on_error: Callable[[StoreError], None],
        *,
        stream_write_s: float = STREAM_WRITE_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self._on_error = on_error
        self._stream_write_s = stream_write_s
        self._clock = clock
        self._jobs: queue.Queue[Callable[[], None] | None] = queue.Queue()
        self._lock = threading.Lock()
        self._streaming: dict[tuple[int, int], Turn] = {}
        """The newest text of each streaming turn, not yet written."""
        self._written_at: dict[tuple[int, int], float] = {}
        self._reported: set[str] = set()
        self._thread = threading.Thread(target=self._run, name="rigtui-chat-keeper", daemon=True)
        self._thread.start()

    def submit(self, job: Callable[[], None]) -> None:
        """Run ``job`` (a call on the store) on the keeper's thread, after those before it."""
        self._jobs.put(job)

    def streaming(self, conversation: int, position: int, turn: Turn) -> None:
        """The newest text of a streaming turn: written within ``stream_write_s``."""
        with self._lock:
            waiting = bool(self._streaming)
            self._streaming[(conversation, position)] = turn
        if not waiting:
            self._jobs.put(_wake)  # the thread waits without a timeout while nothing streams

    def finished(self, conversation: int, position: int, turn: Turn) -> None:
        """The turn is whole: written now, replacing what streamed."""
        with self._lock:
            self._streaming.pop((conversation, position), None)
        self.submit(lambda: self._put(conversation, position, turn))

    def flush(self, timeout_s: float = 5.0) -> bool:
        """Write everything handed in so far (streaming turns too); False if it timed out."""
        done = threading.Event()
        self._jobs.put(lambda: self._write_streaming(force=True))
        self._jobs.put(done.set)
        return done.wait(timeout_s)

    def close(self, timeout_s: float = 5.0) -> None:
        self.flush(timeout_s)
        self._jobs.put(None)
        self._thread.join(timeout_s)
        self.store.close()

    def _put(self, conversation: int, position: int, turn: Turn) -> None:
        self._written_at.pop((conversation, position), None)
        self.store.put_turn(conversation, position, turn)

    def _write_streaming(self, *, force: bool) -> None:
        now = self._clock()
        with self._lock:
            due = {
                key: turn
                for key, turn in self._streaming.items()
                if force or now - self._written_at.get(key, -1e18) >= self._stream_write_s
            }
            for key in due:
                del self._streaming[key]
        for (conversation, position), turn in due.items():
            self._written_at[(conversation, position)] = now
            self.store.put_turn(conversation, position, turn)

    def _run(self) -> None:
        while True:
            try:
                job = self._jobs.get(timeout=self._stream_write_s / 4 if self._streaming else None)
            except queue.Empty:
                job = _wake
            if job is None:
                return
            self._guarded(job)
            if self._streaming:
                self._guarded(lambda: self._write_streaming(force=False))

    def _guarded(self, job: Callable[[], None]) -> None:
        try:
            job()
        except StoreError as error:
            # Once per kind of failure: a full disk would otherwise say so twice a second.
            kind = type(error).__name__ + str(error)[:40]
            if kind not in self._reported:
                self._reported.add(kind)
                self._on_error(error)


def _wake() -> None:
    """A job that does nothing: it wakes the thread to look at the streaming turns."""
