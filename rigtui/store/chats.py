"""Saved conversations in SQLite (stdlib ``sqlite3``), in ``data_dir/chats.db``.

WAL mode with ``synchronous=NORMAL``: a committed write survives the process being killed (only
a power cut can take the last ones), readers never wait for the writer, and a commit costs no
fsync, so a streaming reply can be written twice a second. The schema has a version
(``PRAGMA user_version``) and migrations; a database made by a newer rigtui is refused, never
written, so nothing it saved is overwritten.

Every failure is a :class:`StoreError` in words: the chat goes on unsaved and says so.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rigtui.llm.ollama import ChatOptions
from rigtui.store.conversation import (  # noqa: F401 - the store's values, named from here too
    TITLE_LENGTH,
    Conversation,
    ConversationSummary,
    Turn,
    title_from,
)

DATABASE_NAME = "chats.db"
BUSY_TIMEOUT_MS = 2000
"""How long a write waits for another program's lock before it fails in words."""
QUICK_CHECK_BUDGET_S = 0.2
"""The most that opening spends on ``PRAGMA quick_check``. The check reads every page (about
40 ms for 10 MB here, 0.3 s at 100 MB; see benchmarks/store.py), so a large database is checked
only as far as this allows; damage further on is met by the query that reads it, in the same
words."""

# Each entry takes the schema from the version before it to its own number, in one transaction.
MIGRATIONS: dict[int, str] = {
    1: """
        CREATE TABLE conversations (
            id INTEGER PRIMARY KEY,
            title TEXT NOT NULL DEFAULT '',
            model TEXT NOT NULL DEFAULT '',
            options TEXT NOT NULL DEFAULT '{}',
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            deleted_at REAL
        );
        CREATE TABLE turns (
            conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            role TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant')),
            content TEXT NOT NULL,
            thinking TEXT NOT NULL DEFAULT '',
            model TEXT NOT NULL DEFAULT '',
            state TEXT NOT NULL DEFAULT 'done'
                CHECK (state IN ('streaming', 'done', 'stopped', 'failed')),
            stats TEXT NOT NULL DEFAULT '',
            created_at REAL NOT NULL,
            PRIMARY KEY (conversation_id, position)
        );
        CREATE INDEX conversations_by_update ON conversations (updated_at);
    """,
}
SCHEMA_VERSION = max(MIGRATIONS)


class StoreError(Exception):
    """The chat database cannot be used or written; the message says why, in words.

    ``kind`` names the failure for whoever reports it once per kind: ``full``, ``locked``,
    ``damaged``, ``newer``, ``read-only``, ``unavailable`` (the directory or file cannot be
    opened), ``io``, ``gone`` (a write to a conversation purged meanwhile) or ``other``."""

    def __init__(self, message: str, kind: str = "other") -> None:
        super().__init__(message)
        self.kind = kind


class StoreUnavailableError(StoreError):
    """It cannot be opened at all (damaged, locked, newer, unwritable): nothing is saved."""


class StoreWriteError(StoreError):
    """A write failed (disk full, locked by another program): that write is not saved."""


def options_to_json(options: ChatOptions) -> str:
    return json.dumps(
        {
            "system_prompt": options.system_prompt,
            "temperature": options.temperature,
            "num_ctx": options.num_ctx,
            "num_gpu": options.num_gpu,
            "keep_alive": options.keep_alive,
            "think": options.think,
            "extra": options.extra,
        }
    )


def options_from_json(text: str) -> ChatOptions:
    """What was saved, each field checked: a value of the wrong kind is left at its default."""
    try:
        raw = json.loads(text)
    except (ValueError, TypeError):
        return ChatOptions()
    if not isinstance(raw, dict):
        return ChatOptions()

    def pick(name: str, *kinds: type) -> Any:
        value = raw.get(name)
        if isinstance(value, bool) and bool not in kinds:
            return None
        return value if isinstance(value, kinds) else None

    temperature = pick("temperature", int, float)
    extra = raw.get("extra")
    return ChatOptions(
        system_prompt=pick("system_prompt", str) or "",
        temperature=(
            float(temperature) if temperature is not None and math.isfinite(temperature) else None
        ),
        num_ctx=pick("num_ctx", int),
        num_gpu=pick("num_gpu", int),
        keep_alive=pick("keep_alive", str),
        think=pick("think", bool),
        extra=extra if isinstance(extra, dict) else {},
    )


# SQLite's primary result codes (sqlite3.h), read from ``sqlite_errorcode`` & 0xFF.
_SQLITE_BUSY, _SQLITE_LOCKED, _SQLITE_READONLY, _SQLITE_IOERR = 5, 6, 8, 10
_SQLITE_CORRUPT, _SQLITE_FULL, _SQLITE_CANTOPEN, _SQLITE_NOTADB = 11, 13, 14, 26


def _failure(error: BaseException, path: Path) -> tuple[str, str]:
    """(kind, words) for an error that came out of sqlite3 or the file system."""
    if isinstance(error, OSError):
        if error.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
            return "full", f"the disk that holds {path} is full ({error.strerror})"
        if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            return "read-only", f"{path} cannot be written ({error.strerror})"
        return "io", f"{path}: {error.strerror or error}"
    text = str(error)
    code = (getattr(error, "sqlite_errorcode", None) or 0) & 0xFF
    if isinstance(error, sqlite3.IntegrityError) and "FOREIGN KEY" in text:
        return "gone", f"{path}: that conversation is no longer saved (it was deleted for good)"
    if code in (_SQLITE_BUSY, _SQLITE_LOCKED) or "database is locked" in text:
        return "locked", (
            f"{path} is locked by another program (it kept the lock past the wait): "
            "is another rigtui writing to it?"
        )
    if code == _SQLITE_FULL or "disk is full" in text:
        return "full", f"the disk that holds {path} is full ({text})"
    if code == _SQLITE_NOTADB or "not a database" in text:
        return "damaged", f"{path} is not an SQLite database ({text}): it is left as it is"
    if code == _SQLITE_CORRUPT or "malformed" in text:
        return "damaged", f"{path} is damaged ({text}): it is left as it is"
    if code == _SQLITE_READONLY or "readonly" in text:
        return "read-only", f"{path} cannot be written: {_why_not_writable(path)} ({text})"
    if code == _SQLITE_CANTOPEN or "unable to open" in text:
        return "unavailable", f"{path} cannot be opened: {_why_not_writable(path)} ({text})"
    if code == _SQLITE_IOERR or "I/O error" in text:
        return "io", f"{path}: {text} (the disk may be full, failing or gone)"
    if isinstance(error, sqlite3.ProgrammingError) and "closed" in text:
        return "unavailable", f"{path} is closed: nothing more is saved"
    return "other", f"{path}: {text}"


def _why_not_writable(path: Path) -> str:
    """Which of the file or its directory refuses writing, as far as the permissions tell."""
    folder = path.parent
    if not folder.is_dir():
        return f"{folder} is not a directory"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"the directory {folder} is read-only"
    if path.exists() and not os.access(path, os.R_OK):
        return "the file cannot be read (its permissions)"
    if path.exists() and not os.access(path, os.W_OK):
        return "the file is read-only"
    return "the file system refuses it"


def _store_error(kind_of: type[StoreError], error: BaseException, path: Path) -> StoreError:
    kind, words = _failure(error, path)
    return kind_of(words, kind)


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _text(value: str) -> str:
    """Text SQLite can hold: a lone surrogate (JSON's ``"\\ud800"`` from a model) becomes U+FFFD
    instead of an UnicodeEncodeError that would lose the whole turn."""
    return _LONE_SURROGATE.sub("\ufffd", value)


class ChatStore:
    """One connection, shared by threads under a lock (the app reads and writes from workers)."""

    def __init__(self, connection: sqlite3.Connection, path: Path, clock: Callable[[], float]):
        self._db = connection
        self.path = path
        self._clock = clock
        self._lock = threading.RLock()

    @classmethod
    def open(
        cls,
        data_dir: Path,
        *,
        clock: Callable[[], float] = time.time,
        quick_check_budget_s: float = QUICK_CHECK_BUDGET_S,
        busy_timeout_s: float = BUSY_TIMEOUT_MS / 1000,
    ) -> ChatStore:
        """Open (creating or migrating) ``data_dir/chats.db``, else StoreUnavailableError.

        Nothing is written to a file that is refused (damaged, newer, another program's)."""
        path = data_dir / DATABASE_NAME
        try:
            data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise StoreUnavailableError(
                f"cannot create {data_dir}: {error.strerror}", _failure(error, path)[0]
            ) from None
        try:
            connection = sqlite3.connect(
                path, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as error:
            raise _store_error(StoreUnavailableError, error, path) from None
        try:
            _check(connection, path, quick_check_budget_s)
            if connection.execute("PRAGMA journal_mode = WAL").fetchone()[0].lower() != "wal":
                raise StoreUnavailableError(
                    f"{path}: cannot use write-ahead logging here", "unavailable"
                )
            connection.execute("PRAGMA synchronous = NORMAL")
            connection.execute("PRAGMA foreign_keys = ON")
            _migrate(connection, path)
            # A file SQLite could open only for reading fails here, not at the first reply the
            # user believes saved.
            connection.execute("BEGIN IMMEDIATE")
            connection.execute("ROLLBACK")
        except sqlite3.Error as error:
            connection.close()
            raise _store_error(StoreUnavailableError, error, path) from None
        except BaseException:
            connection.close()
            raise
        return cls(connection, path, clock)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # --- writing -----------------------------------------------------------------------------

    def _write(self, statements: Callable[[sqlite3.Connection], Any]) -> Any:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    result = statements(self._db)
                    self._db.execute("COMMIT")
                except BaseException:
                    # SQLite may have rolled back already (a full disk does): a second ROLLBACK
                    # would fail and hide the reason.
                    _rollback(self._db)
                    raise
                return result
            except sqlite3.Error as error:
                raise _store_error(StoreWriteError, error, self.path) from None

    def start(self, model: str, options: ChatOptions, title: str = "") -> int:
        """A new, empty conversation; its id."""
        now = self._clock()

        def insert(db: sqlite3.Connection) -> int:
            cursor = db.execute(
                "INSERT INTO conversations (title, model, options, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (_text(title), _text(model), _text(options_to_json(options)), now, now),
            )
            return int(cursor.lastrowid)

        return self._write(insert)

    def set_model(self, conversation: int, model: str, options: ChatOptions) -> None:
        self._write(
            lambda db: db.execute(
                "UPDATE conversations SET model = ?, options = ? WHERE id = ?",
                (_text(model), _text(options_to_json(options)), conversation),
            )
        )

    def put_turn(self, conversation: int, position: int, turn: Turn) -> None:
        """Write the turn at its position (0 is the first), replacing what was there."""
        now = self._clock()

        def put(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT OR REPLACE INTO turns (conversation_id, position, role, content, thinking,"
                " model, state, stats, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    conversation,
                    position,
                    turn.role,
                    _text(turn.content),
                    _text(turn.thinking),
                    _text(turn.model),
                    turn.state,
                    _text(turn.stats),
                    turn.created_at or now,
                ),
            )
            if position == 0 and turn.role == "user":
                db.execute(
                    "UPDATE conversations SET title = ? WHERE id = ? AND title = ''",
                    (_text(title_from(turn.content)), conversation),
                )
            db.execute("UPDATE conversations SET updated_at = ? WHERE id = ?", (now, conversation))

        self._write(put)

    def truncate(self, conversation: int, keep: int) -> None:
        """Drop the turns from position ``keep`` on (regenerate, edit and resend)."""
        now = self._clock()

        def drop(db: sqlite3.Connection) -> None:
            db.execute(
                "DELETE FROM turns WHERE conversation_id = ? AND position >= ?",
                (conversation, keep),
            )
            db.execute("UPDATE conversations SET updated_at = ? WHERE id = ?", (now, conversation))

        self._write(drop)

    def rename(self, conversation: int, title: str) -> None:
        title = " ".join(title.split())
        if not title:
            raise ValueError("a conversation's name cannot be empty")
        self._write(
            lambda db: db.execute(
                "UPDATE conversations SET title = ? WHERE id = ?", (_text(title), conversation)
            )
        )

    def delete(self, conversation: int) -> None:
        """Put it aside (:meth:`restore` undoes it); :meth:`purge` removes it for good."""
        now = self._clock()
        self._write(
            lambda db: db.execute(
                "UPDATE conversations SET deleted_at = ? WHERE id = ?", (now, conversation)
            )
        )

    def restore(self, conversation: int) -> None:
        self._write(
            lambda db: db.execute(
                "UPDATE conversations SET deleted_at = NULL WHERE id = ?", (conversation,)
            )
        )

    def purge(self) -> int:
        """Remove every conversation put aside; how many."""
        return self._write(
            lambda db: db.execute("DELETE FROM conversations WHERE deleted_at IS NOT NULL").rowcount
        )

    # --- reading -----------------------------------------------------------------------------

    def _read(self, query: str, parameters: Sequence[Any] = ()) -> list[tuple]:
        with self._lock:
            try:
                return self._db.execute(query, parameters).fetchall()
            except sqlite3.Error as error:
                raise _store_error(StoreError, error, self.path) from None

    def conversations(self, search: str = "") -> list[ConversationSummary]:
        """Newest first; ``search`` matches the title or any turn's text, ignoring case."""
        where = "c.deleted_at IS NULL"
        parameters: list[Any] = []
        if search.strip():
            pattern = "%" + _escape_like(search.strip()) + "%"
            where += (
                " AND (c.title LIKE ? ESCAPE '\\' OR EXISTS (SELECT 1 FROM turns s WHERE"
                " s.conversation_id = c.id AND s.content LIKE ? ESCAPE '\\'))"
            )
            parameters = [pattern, pattern]
        rows = self._read(
            "SELECT c.id, c.title, c.model, c.created_at, c.updated_at, COUNT(t.position),"
            " COALESCE(SUM(LENGTH(t.content)), 0) FROM conversations c"
            " LEFT JOIN turns t ON t.conversation_id = c.id"
            f" WHERE {where} GROUP BY c.id ORDER BY c.updated_at DESC, c.id DESC",
            parameters,
        )
        return [ConversationSummary(*row) for row in rows]

    def load(self, conversation: int) -> Conversation:
        """The conversation and its turns (one read: a write between them cannot split it);
        KeyError if there is none with that id."""
        with self._lock:
            self._read("BEGIN")
            try:
                found = self._read(
                    "SELECT id, title, model, created_at, updated_at, options, deleted_at"
                    " FROM conversations WHERE id = ?",
                    (conversation,),
                )
                rows = self._read(
                    "SELECT role, content, thinking, model, state, stats, created_at FROM turns"
                    " WHERE conversation_id = ? ORDER BY position",
                    (conversation,),
                )
            finally:
                _rollback(self._db)
        if not found:
            raise KeyError(conversation)
        cid, title, model, created, updated, options, deleted = found[0]
        turns = tuple(Turn(*row) for row in rows)
        summary = ConversationSummary(
            cid,
            title,
            model,
            created,
            updated,
            len(turns),
            sum(len(t.content) for t in turns),
            deleted,
        )
        return Conversation(summary, options_from_json(options), turns)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _rollback(connection: sqlite3.Connection) -> None:
    # SQLite may have rolled back already (a full disk does): a second ROLLBACK would fail and
    # hide the reason.
    if connection.in_transaction:
        with contextlib.suppress(sqlite3.Error):
            connection.execute("ROLLBACK")


def _user_version(connection: sqlite3.Connection) -> int:
    return int(connection.execute("PRAGMA user_version").fetchone()[0])


def _check(connection: sqlite3.Connection, path: Path, budget_s: float) -> None:
    """Refuse, before anything is written, a file that is damaged, newer or another program's."""
    version = _user_version(connection)  # the first read: "file is not a database" shows here
    latest = max(MIGRATIONS)
    if version > latest:
        raise StoreUnavailableError(
            f"{path} was written by a newer rigtui (schema {version}; this one knows "
            f"{latest}): it is left as it is; update rigtui to open it",
            "newer",
        )
    if version == 0 and connection.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0]:
        raise StoreUnavailableError(
            f"{path} holds tables that rigtui did not make (another program's database?): "
            "it is left as it is",
            "other",
        )
    if budget_s <= 0:
        return
    deadline = time.monotonic() + budget_s
    connection.set_progress_handler(lambda: time.monotonic() > deadline, 10_000)
    try:
        verdict = connection.execute("PRAGMA quick_check(1)").fetchone()[0]
    except sqlite3.OperationalError as error:
        if "interrupted" in str(error):
            return  # out of time: what it did not reach is checked by the queries that read it
        raise
    finally:
        connection.set_progress_handler(None, 0)
    if verdict != "ok":
        raise StoreUnavailableError(
            f"{path} is damaged (quick_check: {verdict}): it is left as it is", "damaged"
        )


def _migrate(connection: sqlite3.Connection, path: Path) -> None:
    """Each step in its own transaction: a step that fails leaves the version before it."""
    for target in range(_user_version(connection) + 1, max(MIGRATIONS) + 1):
        connection.execute("BEGIN IMMEDIATE")
        try:
            # Another rigtui may have taken this step while this one waited for the lock.
            if _user_version(connection) < target:
                for statement in _statements(MIGRATIONS[target]):
                    connection.execute(statement)
                connection.execute(f"PRAGMA user_version = {target}")
            connection.execute("COMMIT")
        except sqlite3.Error as error:
            _rollback(connection)
            kind, words = _failure(error, path)
            raise StoreUnavailableError(
                f"{path} could not be brought to schema {target} ({words}): it is left at "
                f"schema {target - 1}",
                kind,
            ) from None
        except BaseException:
            _rollback(connection)
            raise


def _statements(script: str) -> list[str]:
    # executescript would COMMIT first: each statement runs inside the migration's transaction.
    return [part.strip() for part in script.split(";") if part.strip()]
