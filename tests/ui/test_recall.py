"""Recall, end to end: prompt history across restarts, edit and resend, regenerate, presets and
remembered settings, over the simulated Ollama server and a data directory of the test's own."""

from __future__ import annotations

import json
from dataclasses import replace

from textual.widgets import Button, Input, Select, TabbedContent, TextArea

from rigtui.ui.app import RigApp
from rigtui.ui.messages import KeptRead, PresetSaved, PromptKept, ReplyStarted
from rigtui.ui.screens.chat_options import ChatOptionsScreen
from rigtui.ui.screens.preset_name import PresetNameScreen
from rigtui.ui.widgets.chat_message import ChatMessage
from rigtui.ui.widgets.prompt_input import PromptInput

from .helpers import Heard, until
from .test_chat import open_chat, send, turns_finished


def kept_in(staged: RigApp, data_dir) -> RigApp:
    """The staged app, rebuilt on the same source with ``data_dir`` to keep things in."""
    app = RigApp(
        replace(staged.settings, data_dir=data_dir), staged.source, ollama_watch=staged._make_watch
    )
    app.environment = staged.environment
    return app


def chats_sent(server) -> list[list[dict]]:
    """The histories the simulated Ollama received, one per /api/chat request."""
    return [entry["messages"] for entry in server.requests if entry["path"] == "/api/chat"]


def user_turns(chat) -> list[str]:
    return [message.content for message in chat.query(ChatMessage).filter(".-user")]


async def kept_read(pilot, heard: Heard) -> KeptRead:
    return await heard.arrival(pilot, KeptRead)


async def test_prompts_sent_are_recalled_with_up_after_a_restart(chat_app, tmp_path):
    staged = chat_app()
    heard = Heard()
    async with kept_in(staged, tmp_path).run_test(size=(120, 40), message_hook=heard) as pilot:
        await kept_read(pilot, heard)
        chat = await open_chat(pilot)
        await send(pilot, chat, "Why is my GPU slow?")
        await turns_finished(pilot, chat, 1)
        await heard.arrival(pilot, PromptKept)
        await until(
            pilot,
            lambda: (
                (tmp_path / "prompts.jsonl").exists()
                and "GPU slow" in (tmp_path / "prompts.jsonl").read_text()
            ),
            "the prompt written",
        )
    heard = Heard()
    async with kept_in(chat_app(), tmp_path).run_test(size=(80, 24), message_hook=heard) as pilot:
        kept = await kept_read(pilot, heard)
        assert kept.prompts == ["Why is my GPU slow?"]
        # The chat was the last tab: it opens there, with the prompt ready.
        prompt = pilot.app.dashboard.chat.query_one(PromptInput)
        await until(pilot, lambda: pilot.app.focused is prompt, "the prompt focused")
        await pilot.press(*"half typed")
        await pilot.press("up")
        await until(pilot, lambda: prompt.text == "Why is my GPU slow?", "the prompt recalled")
        await pilot.press("down")
        await until(pilot, lambda: prompt.text == "half typed", "the typed text back")


async def test_edit_and_resend_replaces_the_last_exchange(chat_app):
    app = chat_app()
    server = app.environment.ollama
    heard = Heard()
    async with app.run_test(size=(120, 40), message_hook=heard) as pilot:
        chat = await open_chat(pilot)
        await send(pilot, chat, "first question")
        await turns_finished(pilot, chat, 1)
        await send(pilot, chat, "secnod question")
        await turns_finished(pilot, chat, 2)
        prompt = chat.query_one(PromptInput)
        await pilot.press("ctrl+l")
        await until(
            pilot,
            lambda: prompt.text == "secnod question" and prompt.has_class("-editing"),
            "the last prompt back to edit",
        )
        prompt.text = "second question"
        before = heard.mark()
        await pilot.press("enter")
        # Two turns before the resend too: wait for its reply to start, then to finish.
        await heard.arrival(pilot, ReplyStarted, since=before)
        await turns_finished(pilot, chat, 2)
        assert [turn["content"] for turn in chat.conversation[::2]] == [
            "first question",
            "second question",
        ]
        assert chat.conversation[3]["content"] == server.reply_for("second question")
        assert chats_sent(server)[-1] == [
            {"role": "user", "content": "first question"},
            {"role": "assistant", "content": server.reply_for("first question")},
            {"role": "user", "content": "second question"},
        ]
        # The log shows what the conversation holds: the replaced exchange is gone.
        await until(pilot, lambda: len(chat.query(ChatMessage)) == 4, "four messages shown")
        assert user_turns(chat) == ["first question", "second question"]
        assert not prompt.has_class("-editing")


async def test_regenerate_drops_the_last_reply_and_asks_again_with_the_same_history(chat_app):
    app = chat_app()
    server = app.environment.ollama
    heard = Heard()
    async with app.run_test(size=(120, 40), message_hook=heard) as pilot:
        chat = await open_chat(pilot)
        await send(pilot, chat, "one")
        await turns_finished(pilot, chat, 1)
        await send(pilot, chat, "two")
        await turns_finished(pilot, chat, 2)
        before = heard.mark()
        await pilot.press("ctrl+g")
        await heard.arrival(pilot, ReplyStarted, since=before)
        await turns_finished(pilot, chat, 2)
        sent = chats_sent(server)
        assert len(sent) == 3
        assert sent[-1] == sent[-2] == chat.conversation[:3]
        assert chat.conversation[2] == {"role": "user", "content": "two"}
        await until(pilot, lambda: len(chat.query(ChatMessage)) == 4, "four messages shown")
        assert user_turns(chat) == ["one", "two"]


async def test_regenerate_and_edit_wait_for_the_reply_and_say_so(chat_app):
    app = chat_app(speed=0.2)
    server = app.environment.ollama
    heard = Heard()
    async with app.run_test(size=(120, 40), message_hook=heard) as pilot:
        chat = await open_chat(pilot)
        await pilot.press("ctrl+g")
        await until(pilot, lambda: heard.notified("No prompt to answer"), "the refusal said")
        assert [n.message for n in heard.notified()] == ["No prompt to answer again yet."]
        await send(pilot, chat, "a long answer please")
        await until(pilot, lambda: chat.streaming, "streaming")
        await pilot.press("ctrl+g", "ctrl+l")
        await until(
            pilot,
            lambda: heard.notified("then regenerate") and heard.notified("then edit the last"),
            "both refusals said",
        )
        said = [n.message for n in heard.notified()]
        assert any("then regenerate" in text for text in said)
        assert any("then edit the last prompt" in text for text in said)
        assert chat.query_one(PromptInput).text == ""
        await turns_finished(pilot, chat, 1)
        assert len(chats_sent(server)) == 1  # nothing more was asked


async def test_editing_refuses_to_drop_typed_text_and_esc_leaves_it_as_a_new_prompt(chat_app):
    app = chat_app()
    heard = Heard()
    async with app.run_test(size=(80, 24), message_hook=heard) as pilot:
        chat = await open_chat(pilot)
        await send(pilot, chat, "first")
        await turns_finished(pilot, chat, 1)
        prompt = chat.query_one(PromptInput)
        await pilot.press(*"typed")
        await pilot.press("ctrl+l")
        await until(pilot, lambda: heard.notified("holds text you typed"), "the refusal said")
        assert prompt.text == "typed" and chat.editing_turn is None
        prompt.clear()
        await pilot.press("ctrl+l")
        await until(pilot, lambda: chat.editing_turn == 0, "editing the first prompt")
        await pilot.press("escape")
        await until(pilot, lambda: heard.notified("Not editing any more"), "editing left")
        assert chat.editing_turn is None and prompt.text == "first"
        await pilot.press("enter")
        await turns_finished(pilot, chat, 2)  # sent as a new turn, nothing replaced
        assert [turn["content"] for turn in chat.conversation[::2]] == ["first", "first"]


async def test_a_preset_is_saved_picked_and_deleted_in_the_options_screen(chat_app, tmp_path):
    staged = chat_app()
    heard = Heard()
    async with kept_in(staged, tmp_path).run_test(size=(80, 24), message_hook=heard) as pilot:
        await kept_read(pilot, heard)
        chat = await open_chat(pilot)
        app = pilot.app
        await pilot.press("ctrl+o")
        await until(pilot, lambda: isinstance(app.screen, ChatOptionsScreen), "options open")
        await pilot.press(*"Answer in one line.")
        options = app.screen
        area = options.query_one("#system-prompt", TextArea)
        await until(pilot, lambda: area.text == "Answer in one line.", "the system prompt typed")
        options.query_one("#preset-save", Button).press()
        await until(pilot, lambda: isinstance(app.screen, PresetNameScreen), "asked a name")
        await pilot.press("enter")  # no name
        await until(
            pilot,
            lambda: "needs a name" in str(app.screen.query_one("#preset-name-error").content),
            "a name asked for",
        )
        await pilot.press(*"terse", "enter")
        await heard.arrival(pilot, PresetSaved)
        await until(pilot, lambda: app.screen is options, "back to the options")
        await until(pilot, lambda: (tmp_path / "presets.json").exists(), "presets written")
        document = json.loads((tmp_path / "presets.json").read_text())
        assert document["presets"] == {"terse": "Answer in one line."}
        assert chat.presets == {"terse": "Answer in one line."}
        # A second save under the same name asks first.
        area.text = "One word."
        options.query_one("#preset-save", Button).press()
        await until(pilot, lambda: isinstance(app.screen, PresetNameScreen), "asked a name")
        assert app.screen.query_one(Input).value == "terse"
        await pilot.press("enter")
        await until(
            pilot,
            lambda: (
                "Enter again replaces it" in str(app.screen.query_one("#preset-name-error").content)
            ),
            "asked to confirm",
        )
        since = heard.mark()
        await pilot.press("enter")
        await heard.arrival(pilot, PresetSaved, since=since)
        await until(pilot, lambda: app.screen is options, "back to the options")
        assert chat.presets == {"terse": "One word."}
        # Picking fills the system prompt; what it held comes back with Ctrl+Z.
        area.text = "my own words"
        options.query_one("#field-preset", Select).value = Select.NULL
        options.query_one("#field-preset", Select).value = "terse"
        await until(pilot, lambda: area.text == "One word.", "the preset picked")
        area.focus()
        await until(pilot, lambda: app.focused is area, "the system prompt focused")
        await pilot.press("ctrl+z")
        await until(pilot, lambda: area.text == "my own words", "undone")
        # Delete asks again first.
        delete = options.query_one("#preset-delete", Button)
        since = heard.mark()
        delete.press()
        await until(pilot, lambda: heard.notified("Press Delete again", since), "asked again")
        assert chat.presets == {"terse": "One word."}
        delete.press()
        await until(pilot, lambda: chat.presets == {}, "deleted")
        await until(
            pilot,
            lambda: json.loads((tmp_path / "presets.json").read_text())["presets"] == {},
            "the deletion written",
        )


async def test_a_damaged_presets_file_is_said_and_left_alone(chat_app, tmp_path):
    (tmp_path / "presets.json").write_text("{damaged")
    heard = Heard()
    async with kept_in(chat_app(), tmp_path).run_test(size=(120, 40), message_hook=heard) as pilot:
        kept = await kept_read(pilot, heard)
        assert any("presets file" in problem for problem in kept.problems)
        await until(pilot, lambda: heard.notified("presets file"), "the damage said")
    assert (tmp_path / "presets.json").read_text() == "{damaged"


async def test_model_options_tab_and_interval_are_remembered_and_flags_still_win(
    chat_app, tmp_path
):
    heard = Heard()
    async with kept_in(chat_app(), tmp_path).run_test(size=(120, 40), message_hook=heard) as pilot:
        await kept_read(pilot, heard)
        chat = await open_chat(pilot)
        app = pilot.app
        picker = chat.query_one("#model-picker", Select)
        other = next(
            name for _, name in picker._options if name not in (chat.current_model, Select.NULL)
        )
        picker.value = other
        await until(pilot, lambda: app.remembered.get("model") == other, "the model remembered")
        await pilot.press("ctrl+o")
        await until(pilot, lambda: isinstance(app.screen, ChatOptionsScreen), "options open")
        app.screen.query_one("#field-num_ctx", Input).value = "8192"
        await pilot.press("ctrl+s")
        await until(pilot, lambda: chat.options.num_ctx == 8192, "options saved")
        # The app remembers them as it hears that they changed: a later hop.
        await until(
            pilot,
            lambda: app.remembered.get("chat_options") == {"num_ctx": 8192},
            "the options remembered",
        )
        chat.query_one("#chat-log").focus()
        await until(pilot, lambda: app.focused is chat.query_one("#chat-log"), "the log focused")
        await pilot.press("plus")
        await until(pilot, lambda: app.interval_s == 2.0, "a longer interval")
    state = json.loads((tmp_path / "state.json").read_text())
    assert state["model"] == other and state["tab"] == "chat-tab"
    assert state["interval_s"] == 2.0 and state["chat_options"] == {"num_ctx": 8192}

    heard = Heard()
    async with kept_in(chat_app(), tmp_path).run_test(size=(120, 40), message_hook=heard) as pilot:
        await kept_read(pilot, heard)
        app = pilot.app
        tabs = app.dashboard.query_one(TabbedContent)
        await until(pilot, lambda: tabs.active == "chat-tab", "the last tab shown")
        chat = app.dashboard.chat
        assert chat.options.num_ctx == 8192
        await until(pilot, lambda: chat.current_model == other, "the remembered model picked")


async def test_a_remembered_tab_read_late_leaves_the_tab_the_user_chose(chat_app, tmp_path):
    """The remembered values are read on a thread: under load they came after the user had
    pressed 3 and then 1, and the remembered tab took the place of the Rig tab, chosen."""
    (tmp_path / "state.json").write_text(json.dumps({"version": 1, "tab": "charts-tab"}))
    heard = Heard()
    async with kept_in(chat_app(), tmp_path).run_test(size=(120, 40), message_hook=heard) as pilot:
        await kept_read(pilot, heard)
        app = pilot.app
        tabs = app.dashboard.query_one(TabbedContent)
        await until(pilot, lambda: tabs.active == "charts-tab", "the remembered tab")
        for key, tab in (("3", "processes-tab"), ("1", "rig-tab")):
            await pilot.press(key)
            await until(pilot, lambda tab=tab: tabs.active == tab, tab)
        # As if the remembered values were read only now.
        since = heard.mark()
        app.post_message(KeptRead([], {}, {"tab": "charts-tab"}, []))
        await heard.arrival(pilot, KeptRead, since=since)
        await pilot.pause()
        await pilot.pause()
        assert tabs.active == "rig-tab"


async def test_the_theme_picked_is_remembered_and_a_damaged_state_file_is_said(chat_app, tmp_path):
    (tmp_path / "state.json").write_text("{not json")
    heard = Heard()
    async with kept_in(chat_app(), tmp_path).run_test(size=(80, 24), message_hook=heard) as pilot:
        kept = await kept_read(pilot, heard)
        assert kept.remembered == {}
        assert any("remembered settings ignored" in p for p in kept.problems)
        await until(pilot, lambda: heard.notified("remembered settings ignored"), "the damage said")
        pilot.app.theme = "nord"  # as the palette's theme command sets it
        # Remembered a hop later (the theme's signal): quitting at once could come first.
        app = pilot.app
        await until(pilot, lambda: app.remembered.get("theme") == "nord", "the theme remembered")
    assert json.loads((tmp_path / "state.json").read_text())["theme"] == "nord"


async def test_an_unwritable_data_directory_keeps_prompts_for_the_session_and_says_so_once(
    chat_app, tmp_path
):
    data_dir = tmp_path / "data"
    data_dir.write_text("")  # a file where the folder should be: no write can succeed
    heard = Heard()
    async with kept_in(chat_app(), data_dir).run_test(size=(120, 40), message_hook=heard) as pilot:
        await kept_read(pilot, heard)
        app = pilot.app
        chat = await open_chat(pilot)
        for turn, text in enumerate(("one", "two"), start=1):
            await send(pilot, chat, text)
            await turns_finished(pilot, chat, turn)
        await until(pilot, lambda: app.prompt_history.prompts == ["one", "two"], "kept")

        def told() -> list[str]:
            return [n.message for n in heard.notified("prompt history")]

        await until(pilot, told, "the problem said")
        assert len(told()) == 1 and "for this session only" in told()[0]
        prompt = chat.query_one(PromptInput)
        await pilot.press("up")
        # The history still works, in memory.
        await until(pilot, lambda: prompt.text == "two", "the last prompt recalled")
