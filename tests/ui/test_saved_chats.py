"""Saved chats through the UI: saved as they happen, listed, reopened and continued, renamed,
deleted and brought back, searched, exported; and a store that cannot be used."""

from __future__ import annotations

import os
import signal
import sqlite3
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from textual.widgets import Input, OptionList, Static

from rigtui.llm.ollama import ChatOptions
from rigtui.store.chats import DATABASE_NAME, ChatStore, Turn
from rigtui.ui.messages import (
    ChatExported,
    ChatStoreFailed,
    ChatStoreOpened,
    ConversationLoaded,
    ConversationsListed,
)
from rigtui.ui.screens.conversation_picker import ConversationPickerScreen
from rigtui.ui.screens.rename_chat import RenameChatScreen
from rigtui.ui.staging import fill_saved_chats
from rigtui.ui.widgets.chat_message import CUT_OFF_NOTE, ChatMessage
from rigtui.ui.widgets.conversation_list import ConversationList

from .helpers import Heard, handled_by, rendered_text, until
from .test_chat import last_reply, open_chat, send, turns_finished

SIZES = [(80, 24), (120, 40), (160, 50)]


def with_data_dir(app, data_dir: Path | None):
    app.settings = replace(app.settings, data_dir=data_dir)
    return app


def saved(data_dir: Path):
    """The saved chats as another program sees them (a connection of its own)."""
    store = ChatStore.open(data_dir)
    try:
        return [store.load(summary.id) for summary in store.conversations()]
    finally:
        store.close()


async def store_open(pilot, heard: Heard) -> ChatStoreOpened:
    return await heard.arrival(pilot, ChatStoreOpened)


def sidebar(app) -> ConversationList:
    return app.dashboard.query_one("#chat-sidebar", ConversationList)


def picker_list(app) -> ConversationList:
    return app.screen.query_one(ConversationList)


async def picker_open(pilot) -> ConversationList:
    """Until Ctrl+F's picker is the screen; its list. (Looked for before, the dashboard's
    own list, beside the chat, was found.)"""
    app = pilot.app
    await until(pilot, lambda: isinstance(app.screen, ConversationPickerScreen), "the picker")
    return picker_list(app)


def titles(listing: ConversationList) -> list[str]:
    return [summary.title for summary in listing.summaries]


async def written(pilot) -> None:
    """Until the keeper has written everything handed to it so far."""
    assert pilot.app.keeper.flush()


async def test_a_chat_is_saved_as_it_happens_and_reopens_whole_and_goes_on(chat_app, tmp_path):
    app = with_data_dir(chat_app(), tmp_path)
    server = app.environment.ollama
    heard = Heard()
    async with app.run_test(size=(160, 50), message_hook=heard) as pilot:
        await store_open(pilot, heard)
        chat = await open_chat(pilot)
        system = ChatOptions(system_prompt="Answer in one line.", temperature=0.2)
        chat.apply_options(system)
        await send(pilot, chat, "Why is my GPU slow?")
        await turns_finished(pilot, chat, 1)
        first_reply = chat.conversation[1]["content"]
        await written(pilot)
        [conversation] = saved(tmp_path)
        assert conversation.summary.title == "Why is my GPU slow?"
        assert conversation.model == "llama3.1:8b"
        assert conversation.options == system
        assert [(turn.role, turn.content, turn.state) for turn in conversation.turns] == [
            ("user", "Why is my GPU slow?", "done"),
            ("assistant", first_reply, "done"),
        ]
        assert "tok/s" in conversation.turns[1].stats
        # The list beside the chat shows it: title, then date, length and model.
        listing = sidebar(app)
        await until(pilot, lambda: titles(listing) == ["Why is my GPU slow?"], "listed")
        entry = listing.options.get_option_at_index(0).prompt.plain
        assert "2 turns" in entry
        assert entry.startswith("▸ Why is my GPU slow?")  # the chat on screen is marked

        # A new chat forgets the options; reopening the saved one brings everything back.
        await pilot.press("ctrl+n")
        chat.apply_options(ChatOptions())
        await until(pilot, lambda: not chat.conversation, "a new chat")
        listing.options.focus()
        await pilot.press("enter")
        await heard.arrival(pilot, ConversationLoaded)
        assert chat.options == system
        assert chat.current_model == "llama3.1:8b"
        assert chat.saved.id == conversation.id
        drawn = list(chat.query(ChatMessage))
        assert [message.role for message in drawn] == ["user", "assistant"]
        assert drawn[1].content == first_reply
        # The next prompt continues it: Ollama is sent the whole history, system prompt first.
        chat.query_one("#prompt").focus()
        await send(pilot, chat, "And the fans?")
        await turns_finished(pilot, chat, 2)
        last = [entry for entry in server.requests if entry["path"] == "/api/chat"][-1]
        assert last["messages"] == [
            {"role": "system", "content": "Answer in one line."},
            {"role": "user", "content": "Why is my GPU slow?"},
            {"role": "assistant", "content": first_reply},
            {"role": "user", "content": "And the fans?"},
        ]
        await written(pilot)
        [conversation] = saved(tmp_path)
        assert [turn.content for turn in conversation.turns][2] == "And the fans?"
        assert len(conversation.turns) == 4


async def test_a_reply_is_written_while_it_streams(chat_app, tmp_path):
    app = with_data_dir(chat_app(speed=0.5), tmp_path)
    heard = Heard()
    async with app.run_test(size=(120, 40), message_hook=heard) as pilot:
        await store_open(pilot, heard)
        chat = await open_chat(pilot)
        await send(pilot, chat, "Explain the power cap in detail")
        await until(pilot, lambda: chat.reply is not None and len(chat.reply.content) > 40, "text")
        await written(pilot)
        [conversation] = saved(tmp_path)
        streaming = conversation.turns[1]
        assert streaming.state == "streaming" and streaming.cut_off
        assert 0 < len(streaming.content) <= len(chat.reply.content)
        assert chat.reply.content.startswith(streaming.content)
        await pilot.press("escape")  # stop: the reply is kept as stopped
        await until(pilot, lambda: not chat.streaming, "stopped")
        await until(pilot, lambda: len(chat.conversation) == 2, "kept")
        await written(pilot)
        [conversation] = saved(tmp_path)
        assert conversation.turns[1].state == "stopped"
        assert conversation.turns[1].content == chat.conversation[1]["content"]


async def test_turns_dropped_from_the_chat_are_dropped_from_the_saved_one(chat_app, tmp_path):
    """Regenerate and edit-and-resend drop turns from ``conversation``: the position is the
    truth, and the saved conversation follows it."""
    app = with_data_dir(chat_app(), tmp_path)
    heard = Heard()
    async with app.run_test(size=(120, 40), message_hook=heard) as pilot:
        await store_open(pilot, heard)
        chat = await open_chat(pilot)
        for prompt in ("one", "two"):
            await send(pilot, chat, prompt)
            await turns_finished(pilot, chat, 1 if prompt == "one" else 2)
        del chat.conversation[2:]  # as edit-and-resend does, before sending the edited prompt
        await send(pilot, chat, "two, edited")
        await turns_finished(pilot, chat, 2)
        await written(pilot)
        [conversation] = saved(tmp_path)
        assert [turn.content for turn in conversation.turns][::2] == ["one", "two, edited"]
        assert len(conversation.turns) == 4


@pytest.mark.parametrize("size", SIZES, ids=lambda size: f"{size[0]}x{size[1]}")
async def test_the_picker_searches_renames_deletes_and_undoes(chat_app, tmp_path, size):
    fill_saved_chats(tmp_path)
    app = with_data_dir(chat_app(), tmp_path)
    heard = Heard()
    async with app.run_test(size=size, message_hook=heard) as pilot:
        await store_open(pilot, heard)
        chat = await open_chat(pilot)
        # Beside the chat where there is room for both; else the picker only.
        assert sidebar(app).display == (size[0] >= 140)
        await pilot.press("ctrl+f")
        await until(pilot, lambda: isinstance(app.screen, ConversationPickerScreen), "picker")
        listing = picker_list(app)
        await until(pilot, lambda: len(listing.summaries) == 3, "three chats")
        assert titles(listing)[0] == "Fans at full speed"  # newest first
        # Search as you type, in titles and in what was said.
        await pilot.press(*"offload")
        await until(pilot, lambda: titles(listing) == ["Fit a 70B on 24 GB"], "found by text")
        await pilot.press("down")
        await until(pilot, lambda: isinstance(app.focused, OptionList), "the list focused")
        # Rename: an empty name is refused inline, and nothing changes.
        await pilot.press("f2")
        await until(pilot, lambda: isinstance(app.screen, RenameChatScreen), "rename screen")
        field = app.screen.query_one(Input)
        submitted = handled_by(app.screen, Input.Submitted)
        field.value = "   "
        await pilot.press("enter")
        # The error shows as the name is typed too: wait for the Enter to be refused.
        await until(pilot, lambda: submitted, "Enter handled")
        assert "cannot be empty" in rendered_text(app.screen.query_one("#rename-error", Static))
        assert isinstance(app.screen, RenameChatScreen)
        field.value = "70B offload plan"
        await pilot.press("enter")
        await until(pilot, lambda: titles(listing) == ["70B offload plan"], "renamed")
        # Delete, then ctrl+z brings it back.
        listing.options.focus()
        await pilot.press("delete")
        await until(pilot, lambda: titles(listing) == [], "deleted")
        assert [c.summary.title for c in saved(tmp_path) if "70B" in c.summary.title] == []
        await pilot.press("ctrl+z")
        await until(pilot, lambda: titles(listing) == ["70B offload plan"], "brought back")
        assert "70B offload plan" in [c.summary.title for c in saved(tmp_path)]
        # Open it from the picker: the picker closes and the chat shows it.
        await pilot.press("enter")
        loaded = await heard.arrival(pilot, ConversationLoaded)
        assert not isinstance(app.screen, ConversationPickerScreen)
        assert loaded.conversation.summary.title == "70B offload plan"
        assert [m["content"] for m in chat.conversation] == [
            "Will a 70B fit?",
            "Not without offloading.",
        ]


async def test_deleted_chats_go_for_good_when_rigtui_quits(chat_app, tmp_path):
    fill_saved_chats(tmp_path)
    app = with_data_dir(chat_app(), tmp_path)
    heard = Heard()
    async with app.run_test(size=(160, 50), message_hook=heard) as pilot:
        await store_open(pilot, heard)
        await open_chat(pilot)
        listing = sidebar(app)
        await until(pilot, lambda: len(listing.summaries) == 3, "listed")
        listing.options.focus()
        await pilot.press("delete")
        await until(pilot, lambda: len(listing.summaries) == 2, "deleted")
    store = ChatStore.open(tmp_path)
    count = store._read("SELECT COUNT(*) FROM conversations")[0][0]
    store.close()
    assert count == 2


async def test_a_reply_cut_off_by_a_kill_reopens_marked_and_goes_on(chat_app, tmp_path):
    store = ChatStore.open(tmp_path)
    chat_id = store.start("llama3.1:8b", ChatOptions())
    store.put_turn(chat_id, 0, Turn("user", "Tell me about PCIe", model="llama3.1:8b"))
    store.put_turn(chat_id, 1, Turn("assistant", "PCIe Gen4 x4 is", state="streaming"))
    store.close()
    app = with_data_dir(chat_app(), tmp_path)
    server = app.environment.ollama
    heard = Heard()
    async with app.run_test(size=(80, 24), message_hook=heard) as pilot:
        await store_open(pilot, heard)
        chat = await open_chat(pilot)
        await pilot.press("ctrl+f")
        listing = await picker_open(pilot)
        await heard.arrival(pilot, ConversationsListed, lambda m: m.listing is listing)
        await pilot.press("enter")
        await heard.arrival(pilot, ConversationLoaded)
        reply = last_reply(chat)
        assert reply.content == "PCIe Gen4 x4 is"
        assert CUT_OFF_NOTE in rendered_text(reply.query_one(".reply-stats"))
        assert reply.has_class("-cut-off")
        await send(pilot, chat, "Go on")
        await turns_finished(pilot, chat, 2)
        last = [entry for entry in server.requests if entry["path"] == "/api/chat"][-1]
        assert [m["content"] for m in last["messages"]] == [
            "Tell me about PCIe",
            "PCIe Gen4 x4 is",
            "Go on",
        ]


def garbage_database(data_dir: Path) -> None:
    (data_dir / DATABASE_NAME).write_bytes(b"this is not a database at all" * 100)


def newer_database(data_dir: Path) -> None:
    connection = sqlite3.connect(data_dir / DATABASE_NAME)
    connection.execute("CREATE TABLE conversations (id INTEGER PRIMARY KEY, secret TEXT)")
    connection.execute("INSERT INTO conversations (secret) VALUES ('keep me')")
    connection.execute("PRAGMA user_version = 99")
    connection.commit()
    connection.close()


def read_only_directory(data_dir: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root writes into a read-only directory")
    data_dir.chmod(0o500)


def under_a_file(data_dir: Path) -> Path:
    """A data directory that cannot be made: a file stands where its parent should be."""
    (data_dir / "not-a-folder").write_text("a file")
    return data_dir / "not-a-folder" / "rigtui"


@pytest.mark.parametrize(
    ("spoil", "word"),
    [
        (garbage_database, "damaged"),
        (newer_database, "newer schema"),
        (read_only_directory, ""),
        (under_a_file, "cannot create"),
    ],
    ids=["garbage", "newer-schema", "read-only", "unwritable"],
)
async def test_a_store_that_cannot_be_used_leaves_the_chat_working_and_says_so(
    chat_app, tmp_path, spoil, word
):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    store_dir = spoil(data_dir) or data_dir
    before = {path.name: path.read_bytes() for path in data_dir.iterdir()}
    app = with_data_dir(chat_app(), store_dir)
    heard = Heard()
    try:
        async with app.run_test(size=(80, 24), message_hook=heard) as pilot:
            opened = await store_open(pilot, heard)
            assert opened.store is None and opened.error
            chat = await open_chat(pilot)
            state = rendered_text(chat.query_one("#chat-saving", Static))
            assert state.startswith("not saved:") and word in state
            assert len(heard.notified("not saved")) == 1
            await send(pilot, chat, "Does it still work?")
            await turns_finished(pilot, chat, 1)  # the chat goes on, unsaved
            assert not heard.of(ChatStoreFailed)
            await pilot.press("ctrl+f")
            listing = await picker_open(pilot)
            await until(pilot, lambda: listing.problem, "the picker says why")
            assert "not saved" in listing.problem
    finally:
        data_dir.chmod(0o700)
    # The database as it was, and nothing written beside it (other keepers' files aside).
    chats = {p.name: p.read_bytes() for p in data_dir.iterdir() if p.name.startswith("chats")}
    assert chats == {name: data for name, data in before.items() if name.startswith("chats")}


async def test_a_write_that_fails_says_so_once_and_the_chat_goes_on(chat_app, tmp_path):
    app = with_data_dir(chat_app(), tmp_path)
    heard = Heard()
    async with app.run_test(size=(120, 40), message_hook=heard) as pilot:
        await store_open(pilot, heard)
        chat = await open_chat(pilot)
        # Another program holds the database's write lock past the store's patience.
        other = sqlite3.connect(tmp_path / DATABASE_NAME, isolation_level=None)
        other.execute("BEGIN EXCLUSIVE")
        try:
            await send(pilot, chat, "Is this saved?")
            failed = await heard.arrival(pilot, ChatStoreFailed)
            assert "locked" in failed.error
            await turns_finished(pilot, chat, 1)
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert "not saved: locked" in rendered_text(chat.query_one("#chat-saving", Static))
        assert len(heard.notified("not saved")) == 1


async def test_export_writes_a_new_file_each_time_and_says_where(chat_app, tmp_path):
    app = with_data_dir(chat_app(), tmp_path)
    heard = Heard()
    async with app.run_test(size=(80, 24), message_hook=heard) as pilot:
        await store_open(pilot, heard)
        chat = await open_chat(pilot)
        await send(pilot, chat, "Why is my GPU slow?")
        await turns_finished(pilot, chat, 1)
        mark = heard.mark()
        await pilot.press("ctrl+s")
        first = (await heard.arrival(pilot, ChatExported, since=mark)).path
        mark = heard.mark()
        await pilot.press("ctrl+s")
        second = (await heard.arrival(pilot, ChatExported, since=mark)).path
        mark = heard.mark()
        await pilot.press("alt+s")
        as_json = (await heard.arrival(pilot, ChatExported, since=mark)).path
        assert first.parent == tmp_path / "exports"
        assert first != second and second.name.endswith("-2.md")
        text = first.read_text()
        assert text.startswith("# Why is my GPU slow?")
        assert chat.conversation[1]["content"] in text
        assert first.read_text() == second.read_text()
        assert '"role": "assistant"' in as_json.read_text()
        assert heard.notified(str(first))


async def test_an_unsaved_chat_exports_to_the_current_directory(chat_app, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    app = with_data_dir(chat_app(), None)
    heard = Heard()
    async with app.run_test(size=(120, 40), message_hook=heard) as pilot:
        chat = await open_chat(pilot)
        await send(pilot, chat, "Unsaved question")
        await turns_finished(pilot, chat, 1)
        await pilot.press("ctrl+s")
        path = (await heard.arrival(pilot, ChatExported)).path
        assert path.parent == tmp_path and path.name == "chat-unsaved-question.md"
        assert "Unsaved question" in path.read_text()
        await pilot.press("ctrl+f")
        listing = await picker_open(pilot)
        await until(pilot, lambda: "not kept" in listing.problem, "why not kept")


def streamed_so_far(database: Path) -> str | None:
    """The reply rigtui has written while it streams, read as another program would."""
    if not database.exists():
        return None
    try:
        connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=1)
        try:
            row = connection.execute(
                "SELECT content FROM turns WHERE role = 'assistant' AND state = 'streaming'"
                " AND length(content) > 0"
            ).fetchone()
        finally:
            connection.close()
    except sqlite3.Error:
        return None  # not made yet
    return row[0] if row else None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a pty")
async def test_kill_9_in_the_middle_of_a_reply_reopens_it_cut_off(chat_app, tmp_path):
    from .test_terminal import Terminal

    data_dir = tmp_path / "data"
    database = data_dir / DATABASE_NAME
    # At the story's own pace a reply streams for about two seconds: four writes while it does.
    terminal = Terminal("--demo", "--data-dir", str(data_dir))
    try:
        terminal.wait_until(lambda: terminal.shows("Quit"), 30, "the dashboard")
        terminal.send("4")
        terminal.wait_until(lambda: terminal.shows("Ask…"), 30, "the prompt")
        terminal.wait_until(lambda: terminal.shows(" GB · "), 60, "a model in the picker")
        # The prompt takes the focus a frame after the tab shows: until a typed letter shows in
        # it, keys would go to the dashboard ("?" opens the help).
        for _ in range(50):
            terminal.send("x")
            try:
                terminal.wait_until(lambda: terminal.shows("▊ x"), 1, "typed into the prompt")
                break
            except AssertionError:
                continue
        terminal.send("\x15")  # ctrl+u: the prompt empty again
        terminal.wait_until(lambda: terminal.shows("Ask…"), 10, "the prompt emptied")
        terminal.send("Why is my GPU slow?")
        terminal.send("\r")
        try:
            terminal.wait_until(lambda: streamed_so_far(database), 60, "part of the reply saved")
        except AssertionError as error:
            with terminal.lock:
                screen = "\n".join(terminal.screen.display)
            raise AssertionError(f"{error}\n{screen}") from None
        os.killpg(terminal.process.pid, signal.SIGKILL)
        terminal.process.wait()
    finally:
        terminal.close()
    partial = streamed_so_far(database)
    assert partial

    app = with_data_dir(chat_app(), data_dir)
    heard = Heard()
    async with app.run_test(size=(100, 30), message_hook=heard) as pilot:
        await store_open(pilot, heard)
        chat = await open_chat(pilot)
        await pilot.press("ctrl+f")
        listing = await picker_open(pilot)
        await until(pilot, lambda: titles(listing) == ["Why is my GPU slow?"], "listed")
        await pilot.press("enter")
        await heard.arrival(pilot, ConversationLoaded)
        reply = last_reply(chat)
        assert reply.content == partial
        assert CUT_OFF_NOTE in rendered_text(reply.query_one(".reply-stats"))


async def test_quitting_mid_reply_writes_what_streamed_so_far(chat_app, tmp_path):
    app = with_data_dir(chat_app(speed=0.2), tmp_path)
    heard = Heard()
    async with app.run_test(size=(80, 24), message_hook=heard) as pilot:
        await store_open(pilot, heard)
        chat = await open_chat(pilot)
        await send(pilot, chat, "Explain the power cap in detail")
        await until(pilot, lambda: chat.reply is not None and len(chat.reply.content) > 20, "text")
        shown = chat.reply.content
        await pilot.press("ctrl+c")
    [conversation] = saved(tmp_path)
    reply = conversation.turns[1]
    assert reply.cut_off  # it never ended: it reopens marked as cut off
    assert reply.content.startswith(shown)  # all that was on screen, not the last write only


async def test_regenerate_and_edit_by_their_keys_rewrite_the_saved_chat(chat_app, tmp_path):
    app = with_data_dir(chat_app(), tmp_path)
    server = app.environment.ollama
    heard = Heard()
    async with app.run_test(size=(160, 50), message_hook=heard) as pilot:
        await store_open(pilot, heard)
        chat = await open_chat(pilot)
        for count, prompt in enumerate(("one", "two"), start=1):
            await send(pilot, chat, prompt)
            await turns_finished(pilot, chat, count)
        prompt = chat.query_one("#prompt")
        await pilot.press("ctrl+l")
        await until(pilot, lambda: prompt.text == "two", "the last prompt back to edit")
        prompt.text = "two, edited"
        await pilot.press("enter")
        await until(
            pilot,
            lambda: chat.conversation[2:3] == [{"role": "user", "content": "two, edited"}],
            "edited",
        )
        await turns_finished(pilot, chat, 2)
        await written(pilot)
        [conversation] = saved(tmp_path)
        assert [(turn.role, turn.content) for turn in conversation.turns] == [
            ("user", "one"),
            ("assistant", server.reply_for("one")),
            ("user", "two, edited"),
            ("assistant", server.reply_for("two, edited")),
        ]
        # Reopened, then regenerated: the saved chat keeps four turns, the last one answered again.
        await pilot.press("ctrl+n")
        await until(pilot, lambda: not chat.conversation, "a new chat")
        listing = sidebar(app)
        await until(pilot, lambda: len(titles(listing)) == 1, "listed")
        listing.options.focus()
        await pilot.press("enter")
        await heard.arrival(pilot, ConversationLoaded)
        chat.query_one("#prompt").focus()
        requests = len(server.requests)
        await pilot.press("ctrl+g")
        await until(pilot, lambda: len(server.requests) > requests and not chat.streaming, "again")
        await turns_finished(pilot, chat, 2)
        await written(pilot)
        [again] = saved(tmp_path)
        assert [(turn.role, turn.content) for turn in again.turns] == [
            (turn.role, turn.content) for turn in conversation.turns
        ]
        assert again.turns[3].created_at > conversation.turns[3].created_at
        assert len(list(chat.query(ChatMessage))) == 4
