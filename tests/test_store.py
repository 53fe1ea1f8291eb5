"""The chat store over the real sqlite3: what it keeps, and what it does with a bad file.

Every failure is made for real (a damaged file, a newer schema, a lock held by another
connection, a file-size limit, a data directory that cannot be made) and every test checks that
what was saved before is still there, byte for byte or row for row.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rigtui.llm.ollama import ChatOptions
from rigtui.store import chats
from rigtui.store.chats import (
    DATABASE_NAME,
    MIGRATIONS,
    SCHEMA_VERSION,
    ChatStore,
    StoreError,
    StoreUnavailableError,
    StoreWriteError,
    Turn,
)

OPTIONS = ChatOptions(system_prompt="Be brief.", temperature=0.2, num_ctx=8192, think=True)


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        self.now += 1
        return self.now


def saved(data_dir: Path) -> tuple[ChatStore, int]:
    """A store holding one conversation of two turns."""
    store = ChatStore.open(data_dir, clock=Clock())
    conversation = store.start("llama3.1:8b", OPTIONS)
    store.put_turn(conversation, 0, Turn("user", "Why is my model slow?"))
    store.put_turn(conversation, 1, Turn("assistant", "It runs partly on the CPU.", stats="9 t/s"))
    return store, conversation


def closed_copy(tmp_path: Path) -> tuple[Path, bytes]:
    """A database closed cleanly (its WAL folded in) and its bytes."""
    store, _ = saved(tmp_path)
    store.close()
    path = tmp_path / DATABASE_NAME
    assert sorted(os.listdir(tmp_path)) == [DATABASE_NAME]
    return path, path.read_bytes()


def rows(path: Path) -> list[tuple]:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return db.execute(
            "SELECT conversation_id, position, role, content, state FROM turns ORDER BY 1, 2"
        ).fetchall()
    finally:
        db.close()


# --- what it keeps ----------------------------------------------------------------------------


def test_a_conversation_comes_back_as_it_was_saved(tmp_path):
    store, conversation = saved(tmp_path)
    store.put_turn(conversation, 2, Turn("user", "And now?"))
    store.put_turn(conversation, 3, Turn("assistant", "Half a rep", state="streaming"))
    store.close()

    reopened = ChatStore.open(tmp_path)
    loaded = reopened.load(conversation)
    assert loaded.model == "llama3.1:8b"
    assert loaded.options == OPTIONS
    assert loaded.summary.title == "Why is my model slow?"
    assert [(t.role, t.content, t.state) for t in loaded.turns] == [
        ("user", "Why is my model slow?", "done"),
        ("assistant", "It runs partly on the CPU.", "done"),
        ("user", "And now?", "done"),
        ("assistant", "Half a rep", "streaming"),
    ]
    assert [t.cut_off for t in loaded.turns] == [False, False, False, True]
    assert loaded.turns[1].stats == "9 t/s"
    assert loaded.messages()[-1] == {"role": "assistant", "content": "Half a rep"}
    (summary,) = reopened.conversations()
    assert (summary.id, summary.turns) == (conversation, 4)


def test_the_list_is_newest_first_and_search_finds_text_in_any_turn(tmp_path):
    store, first = saved(tmp_path)
    second = store.start("qwen3:8b", ChatOptions())
    store.put_turn(second, 0, Turn("user", "100% sure thing?"))
    assert [c.id for c in store.conversations()] == [second, first]
    assert [c.id for c in store.conversations("PARTLY on")] == [first]  # a reply, any case
    assert [c.id for c in store.conversations("100%")] == [second]
    assert store.conversations("1000%") == []  # % and _ are text, not patterns
    assert store.conversations("sure_thing") == []
    assert [c.id for c in store.conversations("   ")] == [second, first]


def test_truncate_rename_delete_restore_and_purge(tmp_path):
    store, conversation = saved(tmp_path)
    other = store.start("m", ChatOptions(), title="kept")
    store.truncate(conversation, 1)
    assert [t.role for t in store.load(conversation).turns] == ["user"]
    store.rename(conversation, "  Slow   model ")
    assert store.load(conversation).summary.title == "Slow model"
    with pytest.raises(ValueError):
        store.rename(conversation, " \n ")
    store.delete(conversation)
    assert [c.id for c in store.conversations()] == [other]
    assert store.load(conversation).summary.deleted_at is not None
    store.restore(conversation)
    assert {c.id for c in store.conversations()} == {conversation, other}
    store.delete(conversation)
    assert store.purge() == 1
    with pytest.raises(KeyError):
        store.load(conversation)
    assert rows(tmp_path / DATABASE_NAME) == []  # its turns went with it


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(st.characters(codec=None, categories=None), max_size=200))
def test_any_text_a_model_sends_is_kept(tmp_path_factory, text):
    """Lone surrogates (JSON's "\\ud800") and NULs included: the turn is kept, never lost to an
    encoding error."""
    store = ChatStore.open(tmp_path_factory.mktemp("any"))
    conversation = store.start("m", ChatOptions())
    store.put_turn(conversation, 0, Turn("assistant", text + "\ud800", thinking=text))
    (turn,) = store.load(conversation).turns
    expected = "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in text)
    assert turn.content == expected + "\ufffd"
    assert turn.thinking == expected
    store.close()


def test_threads_writing_and_reading_at_once_lose_nothing(tmp_path):
    store = ChatStore.open(tmp_path)
    conversations = [store.start("m", ChatOptions()) for _ in range(4)]
    failures: list[BaseException] = []

    def write(conversation: int) -> None:
        try:
            for position in range(50):
                store.put_turn(conversation, position, Turn("user", f"{conversation}/{position}"))
                store.conversations("/")
        except BaseException as error:  # noqa: BLE001 - reported below
            failures.append(error)

    threads = [threading.Thread(target=write, args=(c,)) for c in conversations]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    for conversation in conversations:
        contents = [t.content for t in store.load(conversation).turns]
        assert contents == [f"{conversation}/{position}" for position in range(50)]


# --- a damaged file ---------------------------------------------------------------------------


def _garbage(path: Path, _: bytes) -> None:
    path.write_bytes(os.urandom(3 * 4096))


def _truncated(path: Path, original: bytes) -> None:
    path.write_bytes(original[: len(original) // 2 + 100])


def _page_overwritten(path: Path, original: bytes) -> None:
    with path.open("r+b") as handle:  # page 3 onward hold the tables' B-trees
        handle.seek(2 * 4096)
        handle.write(b"\xa5" * 4096)


@pytest.mark.parametrize("damage", [_garbage, _truncated, _page_overwritten])
def test_a_damaged_file_is_refused_in_words_and_left_as_it_is(tmp_path, damage):
    path, original = closed_copy(tmp_path)
    damage(path, original)
    damaged = path.read_bytes()
    with pytest.raises(StoreUnavailableError) as raised:
        ChatStore.open(tmp_path)
    assert raised.value.kind == "damaged"
    assert str(path) in str(raised.value) and "left as it is" in str(raised.value)
    assert path.read_bytes() == damaged
    assert sorted(os.listdir(tmp_path)) == [DATABASE_NAME]


def test_damage_past_the_quick_check_budget_is_met_by_the_read_in_the_same_words(tmp_path):
    path, _ = closed_copy(tmp_path)
    _page_overwritten(path, b"")
    damaged = path.read_bytes()
    store = ChatStore.open(tmp_path, quick_check_budget_s=0)  # as if the file were too large
    with pytest.raises(StoreError) as raised:
        store.conversations()
    assert raised.value.kind == "damaged" and "left as it is" in str(raised.value)
    store.close()
    assert path.read_bytes() == damaged


def test_a_quick_check_that_runs_out_of_time_lets_a_sound_file_open(tmp_path):
    store, conversation = saved(tmp_path)
    store.close()
    reopened = ChatStore.open(tmp_path, quick_check_budget_s=1e-9)
    assert len(reopened.load(conversation).turns) == 2


def test_a_newer_schema_is_refused_and_its_bytes_stay_as_they_were(tmp_path):
    path, _ = closed_copy(tmp_path)
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    before = path.read_bytes()
    with pytest.raises(StoreUnavailableError) as raised:
        ChatStore.open(tmp_path)
    assert raised.value.kind == "newer"
    assert "newer rigtui" in str(raised.value) and f"schema {SCHEMA_VERSION + 1}" in str(
        raised.value
    )
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == [DATABASE_NAME]


def test_another_programs_database_is_refused_not_migrated(tmp_path):
    path = tmp_path / DATABASE_NAME
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE notes (text TEXT)")
    db.execute("INSERT INTO notes VALUES ('mine')")
    db.commit()
    db.close()
    before = path.read_bytes()
    with pytest.raises(StoreUnavailableError, match="did not make"):
        ChatStore.open(tmp_path)
    assert path.read_bytes() == before


# --- a lock held by another program -----------------------------------------------------------


def test_a_write_under_another_connections_lock_fails_in_words_and_nothing_is_lost(tmp_path):
    store, conversation = saved(tmp_path)
    path = tmp_path / DATABASE_NAME
    before = rows(path)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    with pytest.raises(StoreWriteError) as raised:
        store.put_turn(conversation, 2, Turn("user", "while locked"))
    assert raised.value.kind == "locked" and "locked by another program" in str(raised.value)
    assert [c.id for c in store.conversations()] == [conversation]  # WAL: reads go on
    other.execute("ROLLBACK")
    other.close()
    assert rows(path) == before
    store.put_turn(conversation, 2, Turn("user", "after the lock"))
    assert rows(path) == [*before, (conversation, 2, "user", "after the lock", "done")]


def test_opening_a_file_another_process_holds_locked_fails_in_words(tmp_path):
    """A database not yet in WAL mode (an empty file, or one from an older tool) held with
    BEGIN EXCLUSIVE by another process cannot even be read."""
    path = tmp_path / DATABASE_NAME
    path.write_bytes(b"")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sqlite3, sys; db = sqlite3.connect(sys.argv[1], isolation_level=None);"
            " db.execute('CREATE TABLE t (a)'); db.execute('DROP TABLE t');"
            " db.execute('BEGIN EXCLUSIVE'); db.execute('PRAGMA user_version = 0');"
            " print('locked', flush=True); sys.stdin.read()",
            str(path),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline() == "locked\n"  # the event: the lock is held
        with pytest.raises(StoreUnavailableError) as raised:
            ChatStore.open(tmp_path, busy_timeout_s=0.1)
        assert raised.value.kind == "locked"
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    store = ChatStore.open(tmp_path)  # the lock is gone: it opens and migrates
    assert store.conversations() == []


# --- a full disk ------------------------------------------------------------------------------


def test_a_full_database_fails_the_write_in_words_and_keeps_what_was_saved(tmp_path):
    store, conversation = saved(tmp_path)
    path = tmp_path / DATABASE_NAME
    before = rows(path)
    # SQLite's own size limit: the same SQLITE_FULL as a full disk, on this connection only.
    pages = store._db.execute("PRAGMA page_count").fetchone()[0]
    store._db.execute(f"PRAGMA max_page_count = {pages}")
    with pytest.raises(StoreWriteError) as raised:
        store.put_turn(conversation, 2, Turn("assistant", "x" * 200_000))
    assert raised.value.kind == "full" and "is full" in str(raised.value)
    assert rows(path) == before
    store.put_turn(conversation, 1, Turn("assistant", "still writable"))  # fits: it goes on
    assert rows(path)[-1][3] == "still writable"


FILE_SIZE_CHILD = """
import resource, signal, sys
from pathlib import Path
from rigtui.store.chats import ChatStore, StoreError, Turn
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write then fails with EFBIG, as on a full disk
store = ChatStore.open(Path(sys.argv[1]))
resource.setrlimit(resource.RLIMIT_FSIZE, (2_000_000, 2_000_000))
try:
    store.put_turn(1, 2, Turn("assistant", "x" * 3_000_000))
    print("written")
except StoreError as error:
    print(error.kind, error, sep="\\n")
store.close()
"""


def test_a_file_size_limit_in_another_process_fails_in_words_and_keeps_what_was_saved(tmp_path):
    store, conversation = saved(tmp_path)
    store.close()
    path = tmp_path / DATABASE_NAME
    before = rows(path)
    child = subprocess.run(
        [sys.executable, "-c", FILE_SIZE_CHILD, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(Path(chats.__file__).parents[2])},
    )
    kind, words = child.stdout.splitlines()[:2]
    assert (kind, child.returncode) in {("io", 0), ("full", 0)}, child.stderr
    assert str(path) in words
    assert rows(path) == before
    reopened = ChatStore.open(tmp_path)
    assert [t.content for t in reopened.load(conversation).turns] == [
        "Why is my model slow?",
        "It runs partly on the CPU.",
    ]


# --- a data directory that cannot be used -----------------------------------------------------


def test_a_data_dir_under_a_file_is_refused_in_words(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StoreUnavailableError) as raised:
        ChatStore.open(blocker / "rigtui")
    assert "cannot create" in str(raised.value) and "Not a directory" in str(raised.value)
    assert blocker.read_text() == "not a directory"


READ_ONLY_CHILD = """
import os, sys
from pathlib import Path
from rigtui.store.chats import ChatStore, StoreError, Turn
if os.geteuid() == 0:  # root writes through permissions: be nobody for the rest
    os.setgid(65534)
    os.setuid(65534)
try:
    store = ChatStore.open(Path(sys.argv[1]))
    store.put_turn(1, 5, Turn("user", "written"))
    print("written")
except StoreError as error:
    print(error.kind, error, sep="\\n")
"""


@pytest.mark.parametrize(
    ("case", "mode_of_dir", "mode_of_file", "words"),
    [
        ("empty", 0o555, None, "the directory {dir} is read-only"),
        ("saved", 0o555, 0o644, "the directory {dir} is read-only"),
        ("saved", 0o755, 0o444, "the file is read-only"),
        ("saved", 0o755, 0o000, "the file cannot be read"),
    ],
)
def test_an_unwritable_data_dir_or_file_is_said_and_left_as_it_is(
    tmp_path, case, mode_of_dir, mode_of_file, words
):
    """Run by an ordinary user (a child that drops root first), with the real permissions."""
    # Under /tmp itself: pytest's own folders are closed to other users.
    base = Path(tempfile.mkdtemp(prefix="rigtui-permissions-"))
    try:
        data_dir = base / "data"
        data_dir.mkdir()
        if case == "saved":
            saved(data_dir)[0].close()
        base.chmod(0o755)
        if os.geteuid() == 0:
            for path in (data_dir, *data_dir.iterdir()):
                os.chown(path, 65534, 65534)
        before = {path.name: path.read_bytes() for path in data_dir.iterdir()}  # WAL folded in
        if mode_of_file is not None:
            (data_dir / DATABASE_NAME).chmod(mode_of_file)
        data_dir.chmod(mode_of_dir)
        child = subprocess.run(
            [sys.executable, "-c", READ_ONLY_CHILD, str(data_dir)],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "PYTHONPATH": str(Path(chats.__file__).parents[2])},
        )
        data_dir.chmod(0o755)
        if mode_of_file is not None:
            (data_dir / DATABASE_NAME).chmod(0o644)
        kind, message = child.stdout.splitlines()[:2]
        assert kind in {"read-only", "unavailable"}, child.stdout + child.stderr
        assert words.format(dir=data_dir) in message
        # SQLite may leave its -wal and -shm beside the file; the file itself is untouched.
        if case == "saved":
            assert (data_dir / DATABASE_NAME).read_bytes() == before[DATABASE_NAME]
        else:
            assert list(data_dir.iterdir()) == []
    finally:
        for path in (base / "data", base / "data" / DATABASE_NAME):
            with contextlib.suppress(OSError):
                path.chmod(0o755)
        shutil.rmtree(base)


# --- migrations -------------------------------------------------------------------------------


def _version(path: Path) -> int:
    db = sqlite3.connect(path)
    try:
        return db.execute("PRAGMA user_version").fetchone()[0]
    finally:
        db.close()


def test_an_empty_file_is_schema_zero_and_is_migrated(tmp_path):
    path = tmp_path / DATABASE_NAME
    path.write_bytes(b"")
    store = ChatStore.open(tmp_path)
    conversation = store.start("m", ChatOptions())
    store.close()
    assert _version(path) == SCHEMA_VERSION
    assert ChatStore.open(tmp_path).load(conversation).model == "m"


def test_each_older_version_is_brought_up_to_date(tmp_path, monkeypatch):
    """A database at each version below the newest migrates and keeps its rows; shown with one
    more migration than the code has today, from each version up to it."""
    monkeypatch.setitem(
        MIGRATIONS,
        SCHEMA_VERSION + 1,
        "ALTER TABLE conversations ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0;"
        "CREATE INDEX conversations_by_pin ON conversations (pinned)",
    )
    for start in range(SCHEMA_VERSION + 1):
        data_dir = tmp_path / f"v{start}"
        data_dir.mkdir()
        path = data_dir / DATABASE_NAME
        db = sqlite3.connect(path, isolation_level=None)
        for version in range(1, start + 1):
            for statement in chats._statements(MIGRATIONS[version]):
                db.execute(statement)
        db.execute(f"PRAGMA user_version = {start}")
        if start:
            db.execute("INSERT INTO conversations (title, created_at, updated_at) VALUES ('x',1,1)")
        db.close()
        store = ChatStore.open(data_dir)
        store.close()
        assert _version(path) == SCHEMA_VERSION + 1
        db = sqlite3.connect(path)
        assert db.execute("SELECT title, pinned FROM conversations").fetchall() == (
            [("x", 0)] if start else []
        )
        db.close()


def test_a_migration_that_fails_half_way_leaves_the_old_version_whole(tmp_path, monkeypatch):
    store, conversation = saved(tmp_path)
    store.close()
    path = tmp_path / DATABASE_NAME
    before = rows(path)
    monkeypatch.setitem(
        MIGRATIONS,
        SCHEMA_VERSION + 1,
        "CREATE TABLE presets (name TEXT);"
        "ALTER TABLE conversations ADD COLUMN pinned INTEGER;"
        "DELETE FROM turns;"
        "INSERT INTO no_such_table VALUES (1)",
    )
    with pytest.raises(StoreUnavailableError) as raised:
        ChatStore.open(tmp_path)
    assert f"left at schema {SCHEMA_VERSION}" in str(raised.value)
    assert _version(path) == SCHEMA_VERSION
    assert rows(path) == before
    db = sqlite3.connect(path)
    tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master")}
    columns = {row[1] for row in db.execute("PRAGMA table_info(conversations)")}
    db.close()
    assert "presets" not in tables and "pinned" not in columns
    monkeypatch.delitem(MIGRATIONS, SCHEMA_VERSION + 1)
    assert len(ChatStore.open(tmp_path).load(conversation).turns) == 2
