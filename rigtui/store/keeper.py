"""Writes to the chat store on a thread of their own, so the screen never waits for the disk.

A streaming reply offers its text with every batch; the keeper writes the newest text of each
turn at most every ``STREAM_WRITE_S`` (and at once when the turn ends), so ``kill -9`` loses at
most that much of a reply. A turn whose write failed (a lock, a full disk) stays pending and is
written again at the same pace until it goes through, so nothing is lost once the cause goes. A
failure is handed to ``on_error`` once per kind until a write succeeds again (``on_recovered``),
and the conversation goes on in memory.

Turns go through :meth:`ChatKeeper.streaming` and :meth:`ChatKeeper.finished` (a user's prompt
too: it is a finished turn), which are retried; :meth:`ChatKeeper.submit` runs any other call on
the store once, in order.

Time comes from an injected clock, and all the work is in :meth:`ChatKeeper.pump`: the thread
only calls it and sleeps until the next write is due or something is handed in. Tests build the
keeper with ``thread=False`` and call ``pump()`` themselves after stepping the clock.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
from collections import deque
from collections.abc import Callable

from rigtui.store.chats import ChatStore, StoreError, StoreWriteError, Turn

STREAM_WRITE_S = 0.5
"""How often a streaming reply is written: twice the issue's once a second, at about 60
microseconds a commit (WAL, no fsync; benchmarks/store.py)."""

Key = tuple[int, int]


class ChatKeeper:
    def __init__(
        self,
        store: ChatStore,
        on_error: Callable[[StoreError], None],
        *,
        stream_write_s: float = STREAM_WRITE_S,
        clock: Callable[[], float] = time.monotonic,
        on_recovered: Callable[[], None] | None = None,
        thread: bool = True,
    ) -> None:
        self.store = store
        self._on_error = on_error
        self._on_recovered = on_recovered
        self._stream_write_s = stream_write_s
        self._clock = clock
        self._changed = threading.Condition()
        """Guards everything below; notified whenever there is something new to do."""
        self._order = itertools.count()
        """Everything handed in is numbered, and done in that order (a list handed in after a
        finished turn reads it; a finished turn handed in after a truncate survives it)."""
        self._jobs: deque[tuple[int, Callable[[], None]]] = deque()
        self._pending: dict[Key, tuple[int, Turn]] = {}
        """The newest text of each turn not yet written (streaming, or whose write failed),
        with its number in the order of hand-ins."""
        self._written_at: dict[Key, float] = {}
        self._reported: set[str] = set()
        self._news = False
        self._closing = False
        self._thread: threading.Thread | None = None
        if thread:
            self._thread = threading.Thread(
                target=self._run, name="rigtui-chat-keeper", daemon=True
            )
            self._thread.start()

    # --- handed in from any thread ----------------------------------------------------------

    def submit(self, job: Callable[[], None]) -> None:
        """Run ``job`` (a call on the store) on the keeper's thread, after those before it."""
        with self._changed:
            self._jobs.append((next(self._order), job))
            self._notify()

    def streaming(self, conversation: int, position: int, turn: Turn) -> None:
        """The newest text of a streaming turn: written within ``stream_write_s``."""
        with self._changed:
            self._pending[(conversation, position)] = (next(self._order), turn)
            self._notify()

    def finished(self, conversation: int, position: int, turn: Turn) -> None:
        """The turn is whole: written now, replacing what streamed."""
        key = (conversation, position)
        with self._changed:
            self._pending[key] = (next(self._order), turn)
            self._written_at.pop(key, None)  # due at once
            self._notify()

    def truncate(self, conversation: int, keep: int) -> None:
        """Drop the turns from position ``keep`` on, those still waiting to be written too
        (regenerate, edit and resend): a late streaming write would bring them back."""
        with self._changed:
            for key in [key for key in self._pending if key[0] == conversation]:
                if key[1] >= keep:
                    del self._pending[key]
            self._jobs.append((next(self._order), lambda: self.store.truncate(conversation, keep)))
            self._notify()

    def flush(self, timeout_s: float = 5.0) -> bool:
        """Write everything handed in so far (streaming turns too). True when all of it is
        saved; False when a write failed (it stays pending) or ``timeout_s`` ran out."""
        if self._thread is None:
            self.pump(force=True)
            return not self.unsaved_turns
        if not self._thread.is_alive():
            return False
        done = threading.Event()
        self.submit(lambda: self._write_pending(force=True))
        self.submit(done.set)
        return done.wait(timeout_s) and not self.unsaved_turns

    def close(self, timeout_s: float = 5.0) -> None:
        self.flush(timeout_s)
        with self._changed:
            self._closing = True
            self._notify()
        if self._thread is not None:
            self._thread.join(timeout_s)
        self.store.close()

    @property
    def unsaved_turns(self) -> int:
        """Turns handed in and not written yet (streaming, or waiting after a failure)."""
        with self._changed:
            return len(self._pending)

    # --- the work ---------------------------------------------------------------------------

    def pump(self, *, force: bool = False) -> float | None:
        """Run the jobs handed in and write the pending turns that are due (all of them with
        ``force``), in the order they were handed in, on the caller's thread. The seconds
        until the next turn is due; None when nothing waits."""
        with self._changed:
            self._news = False
            jobs = list(self._jobs)
            self._jobs.clear()
            due = self._take_due(force)
        work = [(order, lambda job=job: self._guarded(job) and None) for order, job in jobs]
        work += [(order, self._writer(key, order, turn)) for key, (order, turn) in due.items()]
        for _, job in sorted(work, key=lambda item: item[0]):
            job()
        return self._next_due()

    def _write_pending(self, *, force: bool) -> float | None:
        with self._changed:
            due = self._take_due(force)
        for key, (order, turn) in sorted(due.items(), key=lambda item: item[1][0]):
            self._writer(key, order, turn)()
        return self._next_due()

    def _take_due(self, force: bool) -> dict[Key, tuple[int, Turn]]:
        """Under the lock: the pending turns due now, taken out of ``_pending``."""
        now = self._clock()
        due = {
            key: pending
            for key, pending in self._pending.items()
            if force or now - self._written_at.get(key, -1e18) >= self._stream_write_s
        }
        for key in due:
            del self._pending[key]
            self._written_at[key] = now
        return due

    def _writer(self, key: Key, order: int, turn: Turn) -> Callable[[], None]:
        def write() -> None:
            failure = self._guarded(lambda: self.store.put_turn(*key, turn))
            if failure is not None:
                if failure.kind != "gone":  # a purged conversation's turn has nowhere to go
                    with self._changed:
                        self._pending.setdefault(key, (order, turn))  # unless newer text came
            elif turn.state != "streaming":
                with self._changed:
                    if key not in self._pending:
                        self._written_at.pop(key, None)

        return write

    def _next_due(self) -> float | None:
        with self._changed:
            if not self._pending:
                return None
            next_due = min(
                self._written_at.get(key, -1e18) + self._stream_write_s for key in self._pending
            )
        return max(0.0, next_due - self._clock())

    def _run(self) -> None:
        while True:
            wait = self.pump()
            with self._changed:
                if self._closing and not self._jobs:
                    return
                self._changed.wait_for(lambda: self._news or self._closing, timeout=wait)

    def _notify(self) -> None:
        self._news = True
        self._changed.notify()

    def _guarded(self, job: Callable[[], object]) -> StoreError | None:
        """Run ``job``; a failure goes to ``on_error`` once per kind, never up the thread."""
        try:
            job()
        except Exception as error:  # noqa: BLE001 - the keeper's thread must outlive any write
            if not isinstance(error, StoreError):
                error = StoreWriteError(f"{self.store.path}: not saved ({error!r})", "other")
            # Once per kind of failure: a full disk would otherwise say so twice a second. A
            # conversation deleted for good is what the user asked for, not a failure to show.
            if error.kind not in self._reported and error.kind != "gone":
                self._reported.add(error.kind)
                _tell(self._on_error, error)
            return error
        if self._reported:
            self._reported.clear()
            if self._on_recovered is not None:
                _tell(self._on_recovered)
        return None


def _tell(callback: Callable[..., None], *arguments: object) -> None:
    # A listener that fails (an app already gone: call_from_thread raises) must not end the
    # thread that still has turns to write.
    with contextlib.suppress(Exception):
        callback(*arguments)
