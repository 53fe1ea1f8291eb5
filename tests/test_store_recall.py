"""The files of the recall part of the store: prompt history, presets, remembered state.

Each is tried whole, damaged, unwritable and missing; nothing here may ever raise out of a load.
"""

from __future__ import annotations

import json

import pytest

from rigtui.llm.ollama import ChatOptions
from rigtui.store import presets as presets_module
from rigtui.store import prompts as prompts_module
from rigtui.store.files import write_atomically, write_new_file
from rigtui.store.presets import PresetBook
from rigtui.store.prompts import MAX_PROMPTS, TRIM_AT, PromptHistory
from rigtui.store.state import (
    RememberedState,
    options_from_state,
    options_to_state,
    remembered_settings,
)


def block(data_dir):
    """Make ``data_dir`` unusable for writing, for root too: a file where the folder should be."""
    data_dir.write_text("")
    return data_dir


# --- prompt history ---------------------------------------------------------------------------


def test_prompts_are_kept_across_loads_newest_last_without_repeats(tmp_path):
    history = PromptHistory.load(tmp_path)
    assert history.prompts == []
    assert history.add("first") is True
    assert history.add("second\nwith two lines") is True
    assert history.add("second\nwith two lines") is False  # the same as the newest
    assert history.add("   ") is False
    assert history.add("first") is True  # a repeat of an older one is kept: it is newer now
    again = PromptHistory.load(tmp_path)
    assert again.prompts == ["first", "second\nwith two lines", "first"]
    assert again.problem is None and again.skipped == 0


def test_a_damaged_line_is_skipped_and_a_line_cut_by_a_kill_does_not_swallow_the_next(tmp_path):
    path = tmp_path / prompts_module.FILE_NAME
    path.write_text(
        '{"prompt": "kept"}\nnot json\n{"prompt": 3}\n["a list"]\n\n{"prompt": "also kept"}\n'
        '{"prompt": "cut sh',  # the process was killed mid-append
        encoding="utf-8",
    )
    history = PromptHistory.load(tmp_path)
    assert history.prompts == ["kept", "also kept"]
    assert history.skipped == 4
    history.add("after the kill")
    assert PromptHistory.load(tmp_path).prompts == ["kept", "also kept", "after the kill"]


def test_the_file_is_trimmed_to_the_newest_prompts_atomically(tmp_path):
    history = PromptHistory.load(tmp_path)
    for number in range(TRIM_AT):
        history.add(f"prompt {number}")
    path = tmp_path / prompts_module.FILE_NAME
    assert len(path.read_text().splitlines()) == TRIM_AT  # not yet
    history.add("one more")
    lines = path.read_text().splitlines()
    assert len(lines) == MAX_PROMPTS
    assert json.loads(lines[-1]) == {"prompt": "one more"}
    assert PromptHistory.load(tmp_path).prompts == history.prompts
    assert history.prompts[0] == f"prompt {TRIM_AT + 1 - MAX_PROMPTS}"
    assert [p.name for p in tmp_path.iterdir()] == [prompts_module.FILE_NAME]  # no temp left


def test_an_unwritable_directory_keeps_the_history_in_memory_and_says_so_once(tmp_path):
    history = PromptHistory.load(tmp_path / "data")
    block(tmp_path / "data")
    assert history.add("one") is True
    assert history.problem is not None and "session only" in history.problem
    problem = history.problem
    assert history.add("two") is True
    assert history.problem == problem  # said once: no more attempts
    assert history.prompts == ["one", "two"]


def test_an_unreadable_history_is_said_and_not_written_over(tmp_path):
    history = PromptHistory.load(block(tmp_path / "data"))  # data/prompts.jsonl: not a dir
    assert history.problem is not None and "cannot read the prompt history" in history.problem
    history.add("in memory")
    assert history.prompts == ["in memory"]


def test_without_a_data_directory_the_history_is_in_memory_only(tmp_path):
    history = PromptHistory.load(None)
    history.add("x")
    assert history.prompts == ["x"] and history.problem is None
    assert list(tmp_path.iterdir()) == []


# --- presets ----------------------------------------------------------------------------------


def test_presets_are_saved_replaced_and_deleted_in_a_file_written_whole(tmp_path):
    book = PresetBook.load(tmp_path)
    assert book.presets == {} and book.problem is None
    assert book.save("terse", "Answer in one line.") is None
    assert book.save("pirate", "Talk like a pirate.") is None
    assert book.save("terse", "Answer in one word.") is None
    assert PresetBook.load(tmp_path).presets == {
        "terse": "Answer in one word.",
        "pirate": "Talk like a pirate.",
    }
    assert book.delete("pirate") is None
    document = json.loads((tmp_path / presets_module.FILE_NAME).read_text())
    assert document == {"version": 1, "presets": {"terse": "Answer in one word."}}
    with pytest.raises(ValueError):
        book.save("  ", "nameless")


@pytest.mark.parametrize(
    "content, words",
    [
        ("{not json", "not JSON"),
        ('{"version": 1, "presets": []}', "expected"),
        ('{"version": 9, "presets": {}}', "newer rigtui"),
        ('{"version": 1, "presets": {"a": 1}}', "not text"),
        (b"\xff\xfe", "not UTF-8"),
    ],
)
def test_a_damaged_presets_file_is_reported_and_never_overwritten(tmp_path, content, words):
    path = tmp_path / presets_module.FILE_NAME
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    before = path.read_bytes()
    book = PresetBook.load(tmp_path)
    assert book.problem is not None and words in book.problem
    assert "session only" in book.problem
    assert book.save("new", "kept for the session") is None
    assert book.presets == {"new": "kept for the session"}
    assert path.read_bytes() == before


def test_presets_that_cannot_be_written_stay_for_the_session(tmp_path):
    book = PresetBook.load(tmp_path / "data")
    block(tmp_path / "data")
    problem = book.save("a", "text")
    assert problem is not None and "cannot save the presets" in problem
    assert book.presets == {"a": "text"}


# --- remembered state -------------------------------------------------------------------------


def test_state_is_written_only_when_it_changed(tmp_path):
    state = RememberedState.load(tmp_path)
    path = tmp_path / "state.json"
    assert state.save() is None and not path.exists()  # nothing to remember yet
    assert state.remember(theme="nord", tab="chat-tab") is True
    assert state.save() is None
    assert json.loads(path.read_text()) == {"version": 1, "theme": "nord", "tab": "chat-tab"}
    path.write_text("{}")  # a needless write would replace this
    assert state.remember(theme="nord") is False  # no change
    assert state.remember(theme="gruvbox") is True
    assert state.remember(theme="nord") is False  # back to what was written
    assert state.save() is None
    assert path.read_text() == "{}"


def test_state_round_trips_each_kind_of_value(tmp_path):
    state = RememberedState.load(tmp_path)
    options = ChatOptions(system_prompt="Be brief.", temperature=0.3, num_ctx=8192, think=False)
    state.remember(
        theme="nord",
        interval_s=2.0,
        tab="chat-tab",
        model="llama3.1:8b",
        chat_options=options_to_state(options),
    )
    assert state.save() is None
    again = RememberedState.load(tmp_path)
    assert again.get("model") == "llama3.1:8b" and again.get("tab") == "chat-tab"
    assert options_from_state(again.get("chat_options")) == options
    assert remembered_settings(tmp_path) == {"theme": "nord", "interval_s": 2.0}


@pytest.mark.parametrize("content", ["{broken", "[1, 2]", b"\xff"])
def test_a_damaged_state_file_is_ignored_with_a_notice(tmp_path, content):
    path = tmp_path / "state.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    state = RememberedState.load(tmp_path)
    assert state.values == {}
    assert state.problem is not None and "remembered settings ignored" in state.problem
    assert remembered_settings(tmp_path) == {}
    # Only choices live there: the next change replaces it with a good file.
    state.remember(tab="rig-tab")
    assert state.save() is None
    assert json.loads(path.read_text()) == {"version": 1, "tab": "rig-tab"}


def test_values_of_the_wrong_kind_are_left_out(tmp_path):
    (tmp_path / "state.json").write_text(
        json.dumps(
            {
                "theme": 7,
                "interval_s": True,
                "tab": "chat-tab",
                "chat_options": {"temperature": "hot", "num_ctx": 4096, "think": 1},
            }
        )
    )
    state = RememberedState.load(tmp_path)
    assert state.values == {
        "tab": "chat-tab",
        "chat_options": {"temperature": "hot", "num_ctx": 4096, "think": 1},
    }
    assert options_from_state(state.get("chat_options")) == ChatOptions(num_ctx=4096)


def test_state_that_cannot_be_written_says_why(tmp_path):
    state = RememberedState.load(tmp_path / "data")
    block(tmp_path / "data")
    state.remember(tab="chat-tab")
    problem = state.save()
    assert problem is not None and "cannot remember settings" in problem


def test_an_atomic_write_that_fails_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "x.json"
    path.write_text("old")

    with pytest.raises(TypeError):
        write_atomically(path, 12)  # type: ignore[arg-type]  # fails mid-write
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]


def test_a_new_file_is_never_written_over_another(tmp_path):
    taken = tmp_path / "chat.md"
    taken.write_text("mine")
    with pytest.raises(FileExistsError):
        write_new_file(taken, "new")
    assert taken.read_text() == "mine"
    assert write_new_file(taken, "new", numbered=True) == tmp_path / "chat-2.md"
    assert write_new_file(taken, "newer", numbered=True) == tmp_path / "chat-3.md"
    assert (tmp_path / "chat-2.md").read_text() == "new" and taken.read_text() == "mine"
    with pytest.raises(FileNotFoundError):
        write_new_file(tmp_path / "no-folder" / "chat.md", "x")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["chat-2.md", "chat-3.md", "chat.md"]
