"""``rigtui chats list`` and ``rigtui chats export`` as a user and a script meet them."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest

from rigtui.cli import main
from rigtui.llm.ollama import ChatOptions
from rigtui.store.chats import DATABASE_NAME, SCHEMA_VERSION, ChatStore, Turn


@pytest.fixture(autouse=True)
def _no_config(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.delenv("RIGTUI_DATA_DIR", raising=False)


@pytest.fixture
def data_dir(tmp_path) -> Path:
    """Two saved chats: 1 (a cut-off reply, a title with an escape sequence) and 2."""
    folder = tmp_path / "data"
    store = ChatStore.open(folder, clock=iter(range(1_800_000_000, 1_900_000_000)).__next__)
    first = store.start("llama3.1:8b", ChatOptions(system_prompt="Be brief.", temperature=0.2))
    store.put_turn(first, 0, Turn("user", "Why is my model \x1b[31mslow\x1b[0m?"))
    store.put_turn(
        first, 1, Turn("assistant", "It runs partly on the CPU.", state="streaming", stats="9 t/s")
    )
    second = store.start("qwen3:8b", ChatOptions())
    store.put_turn(second, 0, Turn("user", "Hello"))
    store.put_turn(second, 1, Turn("assistant", "Hi! How can I help?"))
    store.close()
    return folder


def chats(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["chats", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_no_database_yet_is_said_and_nothing_is_created(tmp_path, capsys):
    folder = tmp_path / "nothing-here"
    assert chats(capsys, "--data-dir", str(folder)) == (
        0,
        f"no saved chats yet in {folder}\n",
        "",
    )
    assert chats(capsys, "list", "--json", "--data-dir", str(folder)) == (0, "[]\n", "")
    code, _, err = chats(capsys, "export", "1", "--data-dir", str(folder))
    assert code == 1 and "no saved chats yet" in err
    assert not folder.exists()


def test_the_list_is_a_table_newest_first_with_titles_escaped(data_dir, capsys):
    code, out, err = chats(capsys, "list", "--data-dir", str(data_dir))
    assert (code, err) == (0, "")
    header, newest, oldest = out.splitlines()
    assert header.split() == ["ID", "TITLE", "MODEL", "UPDATED", "TURNS"]
    assert newest.split()[:3] == ["2", "Hello", "qwen3:8b"] and newest.endswith(" 2")
    assert "\x1b" not in out and "\\x1b[31mslow" in oldest
    assert oldest.split()[0] == "1" and "llama3.1:8b" in oldest


def test_the_data_dir_is_honoured_before_the_command_too(data_dir, capsys):
    code, out, _ = chats(capsys)  # the default directory: empty
    assert code == 0 and out.startswith("no saved chats yet in ")
    assert main(["--data-dir", str(data_dir), "chats", "list", "--json"]) == 0
    assert [row["id"] for row in json.loads(capsys.readouterr().out)] == [2, 1]


def test_the_list_as_json_and_searched(data_dir, capsys):
    code, out, _ = chats(
        capsys, "list", "--json", "--search", "PARTLY", "--data-dir", str(data_dir)
    )
    (row,) = json.loads(out)
    assert code == 0
    assert row == {
        "id": 1,
        "title": "Why is my model \x1b[31mslow\x1b[0m?",
        "model": "llama3.1:8b",
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "turns": 2,
        "characters": len("Why is my model \x1b[31mslow\x1b[0m?It runs partly on the CPU."),
    }
    assert row["updated_at"] > row["created_at"] >= 1_800_000_000
    code, out, _ = chats(capsys, "list", "--search", "zebra", "--data-dir", str(data_dir))
    assert (code, out) == (0, "no saved chat mentions 'zebra'\n")


def test_export_as_markdown_and_as_json_to_stdout(data_dir, capsys):
    code, out, _ = chats(capsys, "export", "1", "--data-dir", str(data_dir))
    assert code == 0
    assert out.startswith("# Why is my model")
    assert "> Be brief." in out and "## You" in out and "## llama3.1:8b" in out
    assert "*cut off: rigtui was closed while this reply streamed · 9 t/s*" in out
    code, out, _ = chats(capsys, "export", "1", "--format", "json", "--data-dir", str(data_dir))
    document = json.loads(out)
    assert code == 0
    assert (document["format"], document["id"], document["model"]) == (
        "rigtui-chat",
        1,
        "llama3.1:8b",
    )
    assert document["options"]["temperature"] == 0.2
    assert [turn["cut_off"] for turn in document["turns"]] == [False, True]
    assert document["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Why is my model \x1b[31mslow\x1b[0m?"},
        {"role": "assistant", "content": "It runs partly on the CPU."},
    ]


def test_an_unknown_id_is_said_with_exit_1(data_dir, capsys):
    code, out, err = chats(capsys, "export", "7", "--data-dir", str(data_dir))
    assert (code, out) == (1, "")
    assert err == (
        f"rigtui: error: no saved chat with id 7 in {data_dir} (rigtui chats list shows them)\n"
    )
    with pytest.raises(SystemExit) as raised:
        main(["chats", "export", "seven", "--data-dir", str(data_dir)])
    assert raised.value.code == 2
    assert "expected a chat's number" in capsys.readouterr().err


def test_output_is_written_whole_and_never_over_a_file_without_force(data_dir, tmp_path, capsys):
    target = tmp_path / "chat.md"
    code, out, err = chats(
        capsys, "export", "2", "--output", str(target), "--data-dir", str(data_dir)
    )
    assert (code, out, err) == (0, "", f"wrote chat 2 to {target}\n")
    assert target.read_text().startswith("# Hello\n")

    target.write_text("my notes")
    code, _, err = chats(
        capsys,
        "export",
        "1",
        "--output",
        str(target),
        "--format",
        "json",
        "--data-dir",
        str(data_dir),
    )
    assert code == 1 and err == f"rigtui: error: {target} exists: use --force to replace it\n"
    assert target.read_text() == "my notes"

    code, _, _ = chats(
        capsys, "export", "1", "--format", "json", "--output", str(target), "--force",
        "--data-dir", str(data_dir),
    )  # fmt: skip
    assert code == 0 and json.loads(target.read_text())["id"] == 1
    assert [name for name in os.listdir(tmp_path) if name.startswith(".")] == []  # no leftovers


def test_output_that_cannot_be_written_is_said_with_exit_1(data_dir, tmp_path, capsys):
    code, _, err = chats(
        capsys,
        "export",
        "1",
        "--output",
        str(tmp_path / "no" / "x.md"),
        "--data-dir",
        str(data_dir),
    )
    assert (
        code == 1
        and err
        == f"rigtui: error: cannot write {tmp_path / 'no' / 'x.md'}: No such file or directory\n"
    )
    code, _, err = chats(
        capsys, "export", "1", "--output", str(tmp_path), "--force", "--data-dir", str(data_dir)
    )
    assert code == 1 and err == f"rigtui: error: {tmp_path} is a directory\n"


def test_a_damaged_database_is_said_and_left_as_it_is(tmp_path, capsys):
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / DATABASE_NAME).write_bytes(b"this is not a database" * 300)
    code, out, err = chats(capsys, "list", "--data-dir", str(folder))
    assert (code, out) == (1, "")
    assert "is not an SQLite database" in err and "left as it is" in err
    assert (folder / DATABASE_NAME).read_bytes() == b"this is not a database" * 300


def test_a_newer_database_is_said_and_left_as_it_is(data_dir, capsys):
    path = data_dir / DATABASE_NAME
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    db.close()
    before = path.read_bytes()
    code, _, err = chats(capsys, "export", "1", "--data-dir", str(data_dir))
    assert code == 1 and "written by a newer rigtui" in err
    assert path.read_bytes() == before


def test_a_locked_database_is_said_with_exit_1(tmp_path, capsys):
    folder = tmp_path / "data"
    folder.mkdir()
    holder = sqlite3.connect(folder / DATABASE_NAME, isolation_level=None)
    holder.execute("CREATE TABLE t (a)")  # not in WAL mode: an exclusive lock stops readers
    holder.execute("BEGIN EXCLUSIVE")
    try:
        code, _, err = chats(capsys, "list", "--data-dir", str(folder))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert code == 1 and "is locked by another program" in err
