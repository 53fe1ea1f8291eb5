"""Saved conversations in SQLite (stdlib ``sqlite3``), in ``data_dir/chats.db``.

WAL mode with ``synchronous=NORMAL``: a committed write survives the process being killed (only
a power cut can take the last ones), readers never wait for the writer, and a commit costs no
fsync, so a streaming reply can be written twice a second. The schema has a version
(``PRAGMA user_version``) and migrations; a database made by a newer rigtui is refused, never
written, so nothing it saved is overwritten.

Every failure is a :class:`StoreError` in words: the chat goes on unsaved and says so.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rigtui.llm.ollama import ChatOptions

DATABASE_NAME = "chats.db"
SCHEMA_VERSION = 1
BUSY_TIMEOUT_MS = 2000
"""How long a write waits for another program's lock before it fails in words."""
TITLE_LENGTH = 60

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


class StoreError(Exception):
    """The chat database cannot be used or written; the message says why, in words."""


class StoreUnavailableError(StoreError):
    """It cannot be opened at all (damaged, locked, newer, unwritable): nothing is saved."""


class StoreWriteError(StoreError):
    """A write failed (disk full, locked by another program): that write is not saved."""


@dataclass(frozen=True)
class Turn:
    role: str
    content: str
    thinking: str = ""
    model: str = ""
    state: str = "done"
    """``streaming`` while written as it streams; a turn still ``streaming`` when read back was
    cut off (the writer was killed); ``stopped`` by the user; ``failed`` by an error."""
    stats: str = ""
    """The statistics line shown under the reply."""
    created_at: float = 0.0

    @property
    def cut_off(self) -> bool:
        return self.state == "streaming"

    def message(self) -> dict[str, str]:
        """As Ollama's /api/chat expects it in ``messages``."""
        return {"role": self.role, "content": self.content}


@dataclass(frozen=True)
class ConversationSummary:
    id: int
    title: str
    model: str
    created_at: float
    updated_at: float
    turns: int
    characters: int


@dataclass(frozen=True)
class Conversation:
    summary: ConversationSummary
    options: ChatOptions
    turns: tuple[Turn, ...] = field(default_factory=tuple)

    @property
    def id(self) -> int:
        return self.summary.id

    @property
    def model(self) -> str:
        return self.summary.model

    def messages(self) -> list[dict[str, str]]:
        return [turn.message() for turn in self.turns if turn.content]


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
        temperature=float(temperature) if temperature is not None else None,
        num_ctx=pick("num_ctx", int),
        num_gpu=pick("num_gpu", int),
        keep_alive=pick("keep_alive", str),
        think=pick("think", bool),
        extra=extra if isinstance(extra, dict) else {},
    )


def title_from(text: str) -> str:
    """A conversation's first prompt, as its title until it is renamed."""
    line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return line if len(line) <= TITLE_LENGTH else line[: TITLE_LENGTH - 1].rstrip() + "…"


def _words(error: sqlite3.Error, path: Path) -> str:
    text = str(error)
    if isinstance(error, sqlite3.OperationalError) and "locked" in text:
        return f"{path} is locked by another program ({text})"
    if "disk is full" in text or "full" in text.split(":")[-1]:
        return f"the disk that holds {path} is full"
    if isinstance(error, sqlite3.DatabaseError) and (
        "not a database" in text or "malformed" in text
    ):
        return f"{path} is damaged ({text}); it is left as it is"
    return f"{path}: {text}"


class ChatStore:
    """One connection, shared by threads under a lock (the app reads and writes from workers)."""

    def __init__(self, connection: sqlite3.Connection, path: Path, clock: Callable[[], float]):
        self._db = connection
        self.path = path
        self._clock = clock
        self._lock = threading.RLock()

    @classmethod
    def open(cls, data_dir: Path, *, clock: Callable[[], float] = time.time) -> ChatStore:
        """Open (creating or migrating) ``data_dir/chats.db``, else StoreUnavailableError."""
        path = data_dir / DATABASE_NAME
        try:
            data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise StoreUnavailableError(f"cannot create {data_dir}: {error.strerror}") from None
        try:
            connection = sqlite3.connect(
                path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as error:
            raise StoreUnavailableError(_words(error, path)) from None
        try:
            connection.execute("PRAGMA foreign_keys = ON")
            version = connection.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreUnavailableError(
                    f"{path} was written by a newer rigtui (schema {version}; this one knows "
                    f"{SCHEMA_VERSION}): it is left as it is"
                )
            if connection.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                raise StoreUnavailableError(f"{path} is damaged (quick_check); left as it is")
            if connection.execute("PRAGMA journal_mode = WAL").fetchone()[0].lower() != "wal":
                raise StoreUnavailableError(f"{path}: cannot use write-ahead logging here")
            connection.execute("PRAGMA synchronous = NORMAL")
            _migrate(connection, version)
        except sqlite3.Error as error:
            connection.close()
            raise StoreUnavailableError(_words(error, path)) from None
        except StoreUnavailableError:
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
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
                return result
            except sqlite3.Error as error:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise StoreWriteError(_words(error, self.path)) from None

    def start(self, model: str, options: ChatOptions, title: str = "") -> int:
        """A new, empty conversation; its id."""
        now = self._clock()

        def insert(db: sqlite3.Connection) -> int:
            cursor = db.execute(
                "INSERT INTO conversations (title, model, options, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (title, model, options_to_json(options), now, now),
            )
            return int(cursor.lastrowid)

        return self._write(insert)

    def set_model(self, conversation: int, model: str, options: ChatOptions) -> None:
        self._write(
            lambda db: db.execute(
                "UPDATE conversations SET model = ?, options = ? WHERE id = ?",
                (model, options_to_json(options), conversation),
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
                    turn.content,
                    turn.thinking,
                    turn.model,
                    turn.state,
                    turn.stats,
                    turn.created_at or now,
                ),
            )
            if position == 0 and turn.role == "user":
                db.execute(
                    "UPDATE conversations SET title = ? WHERE id = ? AND title = ''",
                    (title_from(turn.content), conversation),
                )
            db.execute("UPDATE conversations SET updated_at = ? WHERE id = ?", (now, conversation))

        self._write(put)

    def truncate(self, conversation: int, keep: int) -> None:
        """Drop the turns from position ``keep`` on (regenerate, edit and resend)."""
        self._write(
            lambda db: db.execute(
                "DELETE FROM turns WHERE conversation_id = ? AND position >= ?",
                (conversation, keep),
            )
        )

    def rename(self, conversation: int, title: str) -> None:
        title = " ".join(title.split())
        if not title:
            raise ValueError("a conversation's name cannot be empty")
        self._write(
            lambda db: db.execute(
                "UPDATE conversations SET title = ? WHERE id = ?", (title, conversation)
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
                raise StoreError(_words(error, self.path)) from None

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
        found = self._read(
            "SELECT c.id, c.title, c.model, c.created_at, c.updated_at, c.options"
            " FROM conversations c WHERE c.id = ?",
            (conversation,),
        )
        if not found:
            raise KeyError(conversation)
        cid, title, model, created, updated, options = found[0]
        rows = self._read(
            "SELECT role, content, thinking, model, state, stats, created_at FROM turns"
            " WHERE conversation_id = ? ORDER BY position",
            (conversation,),
        )
        turns = tuple(Turn(*row) for row in rows)
        summary = ConversationSummary(
            cid, title, model, created, updated, len(turns), sum(len(t.content) for t in turns)
        )
        return Conversation(summary, options_from_json(options), turns)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _migrate(connection: sqlite3.Connection, version: int) -> None:
    for target in range(version + 1, SCHEMA_VERSION + 1):
        connection.execute("BEGIN IMMEDIATE")
        try:
            for statement in _statements(MIGRATIONS[target]):
                connection.execute(statement)
            connection.execute(f"PRAGMA user_version = {target}")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")


def _statements(script: str) -> list[str]:
    # executescript would COMMIT first: each statement runs inside the migration's transaction.
    return [part.strip() for part in script.split(";") if part.strip()]
