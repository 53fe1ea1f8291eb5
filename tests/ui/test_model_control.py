"""Model control end to end: a key in the loaded-models pane, the message, the app's worker,
rigtui's Ollama client, the simulated Ollama, /api/ps read at once, and what the pane shows.

The watch's own polls are an hour apart here (``slow_watch``): whatever the pane shows after an
action came from the read the action itself asked for, not from a poll that happened by.
"""

from __future__ import annotations

import re

import httpx
import pytest
from textual.widgets import Input, OptionList

from rigtui.llm.watch import OllamaWatch
from rigtui.ui.messages import (
    ModelActionFinished,
    ModelChooserRequested,
    ModelsListed,
    PromptSubmitted,
    PullCancelRequested,
    PullFinished,
    PullRequested,
    UnloadRequested,
)
from rigtui.ui.screens.delete_model import DeleteModelScreen
from rigtui.ui.screens.help import HelpScreen
from rigtui.ui.screens.model_chooser import ModelChooserScreen
from rigtui.ui.widgets.chat_pane import ChatPane
from rigtui.ui.widgets.loaded_models import LoadedModels
from rigtui.ui.widgets.prompt_input import PromptInput
from rigtui.ui.widgets.pull_notice import PullNotice

from .helpers import Heard, first_reading_shown, handled_by, rendered_text, until


def slow_watch(client) -> OllamaWatch:
    return OllamaWatch(client, poll_s=3600.0, quiet_poll_s=3600.0)


def pane_text(pane: LoadedModels) -> str:
    return "\n".join(line.plain for line in pane._fitted(pane.content_size.width or 100))


async def connected(pilot) -> LoadedModels:
    app = pilot.app
    await first_reading_shown(pilot)
    await until(pilot, lambda: app.ollama_connected and app.running_models, "Ollama connected")
    pane = app.screen.query_one("#rig-models", LoadedModels)
    await until(pilot, lambda: pane.models, "the loaded model in the pane")
    return pane


async def focus_by_tab(pilot, pane: LoadedModels) -> None:
    """Tab, as a user would, until the pane has the focus."""
    for _ in range(12):
        if pilot.app.focused is pane:
            return
        before = pilot.app.focused
        await pilot.press("tab")
        # One Tab at a time: looked at before the focus moved, another Tab would go past.
        await until(pilot, lambda before=before: pilot.app.focused is not before, "moved on")
    assert pilot.app.focused is pane, "Tab never reached the loaded-models pane"


@pytest.mark.parametrize("size", [(120, 40), (80, 24)])
async def test_u_unloads_the_model_under_the_cursor_and_the_pane_shows_it_at_once(chat_app, size):
    app = chat_app(ollama_watch=slow_watch)
    server = app.environment.ollama
    heard = Heard()
    async with app.run_test(size=size, message_hook=heard) as pilot:
        pane = await connected(pilot)
        assert [model.name for model in pane.models] == ["llama3.1:8b"]
        await focus_by_tab(pilot, pane)
        keys = {
            key: active.binding.description for key, active in app.screen.active_bindings.items()
        }
        assert {"u": "Unload", "l": "Load…", "d": "Delete…"}.items() <= {
            key: keys.get(key) for key in "uld"
        }.items()  # in the footer while the pane has the focus
        await pilot.press("u")
        assert (await heard.arrival(pilot, UnloadRequested)).model == "llama3.1:8b"
        finished = await heard.arrival(pilot, ModelActionFinished)
        assert finished.error is None and not finished.still_loaded
        assert server.loaded() == []
        assert pane.models == ()
        text = pane_text(pane)
        assert "Unloaded llama3.1:8b" in text
        if not pane.brief:
            assert "No model loaded." in text
        else:
            assert "no model loaded" in text
        # Loaded again (by a chat, another client): the outcome is stale and goes.
        server.load("llama3.1:8b")
        app.refresh_ollama()
        await until(pilot, lambda: pane.models, "loaded again")
        assert "Unloaded" not in pane_text(pane)


async def test_l_loads_an_installed_model_for_a_typed_keep_alive(chat_app):
    app = chat_app(ollama_watch=slow_watch)
    server = app.environment.ollama
    heard = Heard()
    async with app.run_test(size=(120, 40), message_hook=heard) as pilot:
        pane = await connected(pilot)
        pane.focus()
        await pilot.press("l")
        await heard.arrival(pilot, ModelChooserRequested, lambda asked: asked.purpose == "load")
        await until(pilot, lambda: isinstance(app.screen, ModelChooserScreen), "the chooser")
        chooser = app.screen
        models = chooser.query_one(OptionList)
        names = [choice.name for choice in chooser.choices]
        assert names == list(server.installed)
        assert models.highlighted == names.index("llama3.1:8b")  # where the cursor was
        for _ in range(names.index("deepseek-r1:14b") - models.highlighted):
            await pilot.press("down")
        await until(
            pilot, lambda: models.highlighted == names.index("deepseek-r1:14b"), "the model"
        )
        await pilot.press("tab", "tab")  # past the usual keep-alives, to type one
        await until(pilot, lambda: isinstance(app.focused, Input), "the typed keep-alive")
        changed = handled_by(chooser, Input.Changed)
        await pilot.press(*"10 minutes")
        # The screen checks the duration as it hears the field change.
        await until(pilot, lambda: any(c.value == "10 minutes" for c in changed), "checked")
        assert "Expected" in rendered_text(chooser.query_one("#chooser-error"))
        since = heard.mark()
        await pilot.press("enter")  # refused: the screen stays, with what was typed
        await until(pilot, lambda: heard.notified("cannot be used", since), "the refusal")
        assert app.screen is chooser
        chooser.query_one(Input).value = ""
        await pilot.press(*"45m", "enter")
        finished = await heard.arrival(pilot, ModelActionFinished)
        assert (finished.action, finished.model, finished.error) == (
            "load",
            "deepseek-r1:14b",
            None,
        )
        loaded = {model.name: model for model in server.loaded()}
        assert loaded["deepseek-r1:14b"].keep_alive_s == 45 * 60
        assert "deepseek-r1:14b" in [model.name for model in pane.models]
        assert "Loaded deepseek-r1:14b; Ollama keeps it for 45m." in pane_text(pane)


async def test_loading_forever_from_the_usual_keep_alives(chat_app):
    app = chat_app(ollama_watch=slow_watch)
    server = app.environment.ollama
    heard = Heard()
    async with app.run_test(size=(80, 24), message_hook=heard) as pilot:
        pane = await connected(pilot)
        pane.focus()
        await pilot.press("l")
        await until(pilot, lambda: isinstance(app.screen, ModelChooserScreen), "the chooser")
        app.screen.query_one("#chooser-keep-alive").value = "-1s"
        await pilot.press("enter")  # on the list: the highlighted model, llama3.1:8b
        finished = await heard.arrival(pilot, ModelActionFinished)
        assert finished.error is None
        assert server.loaded()[0].keep_alive_s > 200 * 365 * 86400
        assert "forever" in pane_text(pane)  # the UNTIL column, and the outcome


async def test_d_deletes_only_after_a_confirmation_that_names_the_model_and_its_size(chat_app):
    app = chat_app(ollama_watch=slow_watch)
    server = app.environment.ollama
    size = server.catalogue["llama3.1:8b"].size_bytes
    heard = Heard()
    async with app.run_test(size=(120, 40), message_hook=heard) as pilot:
        pane = await connected(pilot)
        pane.focus()

        async def ask_to_delete() -> DeleteModelScreen:
            await pilot.press("d")
            await until(pilot, lambda: isinstance(app.screen, ModelChooserScreen), "the chooser")
            await pilot.press("enter")  # the model under the pane's cursor
            await until(pilot, lambda: isinstance(app.screen, DeleteModelScreen), "the question")
            return app.screen

        question = await ask_to_delete()
        asked = rendered_text(question.query_one("#delete-question"))
        assert f"Delete llama3.1:8b ({size / 1e9:.1f} GB on disk)?" in asked
        assert "It is loaded now" in rendered_text(question.query_one("#delete-then"))
        await pilot.press("enter")  # Enter alone keeps it: "Keep it" has the focus
        await until(pilot, lambda: not isinstance(app.screen, DeleteModelScreen), "kept")
        assert "llama3.1:8b" in server.installed and not heard.of(ModelActionFinished)

        since = heard.mark()
        await ask_to_delete()
        await pilot.press("y")
        finished = await heard.arrival(pilot, ModelActionFinished, since=since)
        assert (finished.action, finished.error) == ("delete", None)
        assert "llama3.1:8b" not in server.installed
        assert server.loaded() == []  # unloaded first, as `ollama rm` does
        listed = await heard.arrival(pilot, ModelsListed, since=since)
        assert "llama3.1:8b" not in [model.name for model in listed.models]
        assert pane.models == () and "Deleted llama3.1:8b." in pane_text(pane)


async def test_errors_are_said_in_the_pane_and_the_app_goes_on(chat_app):
    app = chat_app(ollama_watch=slow_watch)
    server = app.environment.ollama
    heard = Heard()
    async with app.run_test(size=(120, 40), message_hook=heard) as pilot:
        pane = await connected(pilot)
        pane.focus()
        # Removed from disk by another client (`curl -X DELETE`): still loaded, as Ollama
        # leaves it, but no longer a name Ollama can unload.
        async with httpx.AsyncClient(base_url=server.url) as other:
            gone = await other.request("DELETE", "/api/delete", json={"model": "llama3.1:8b"})
        assert gone.status_code == 200
        await pilot.press("u")
        finished = await heard.arrival(pilot, ModelActionFinished)
        assert "'llama3.1:8b' is not installed" in str(finished.error)
        assert "Could not unload llama3.1:8b: Model 'llama3.1:8b' is not installed." in (
            pane_text(pane)
        )
        since = heard.mark()
        app.environment.stop_ollama()
        await pilot.press("u")
        finished = await heard.arrival(pilot, ModelActionFinished, since=since)
        assert "Cannot reach Ollama" in pane_text(pane)
        assert app.is_running


async def test_the_actions_are_in_the_command_palette_and_the_help(chat_app):
    app = chat_app(ollama_watch=slow_watch)
    async with app.run_test(size=(120, 40)) as pilot:
        await connected(pilot)
        commands = {command.title: command for command in app.get_system_commands(app.screen)}
        assert {"Load a model…", "Unload a model…", "Delete a model…"} <= set(commands)
        commands["Unload a model…"].callback()
        await until(pilot, lambda: isinstance(app.screen, ModelChooserScreen), "the chooser")
        assert [choice.name for choice in app.screen.choices] == ["llama3.1:8b"]
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, ModelChooserScreen), "closed")
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen), "the help")
        table = rendered_text(app.screen.query_one("#help-table"), width=140)
        assert "In the Ollama pane" in table
        assert "Unload the model under the cursor now" in table
        assert "Delete an installed model from disk (ollama rm)" in table


# --- pulling ----------------------------------------------------------------------------------


async def open_chat(pilot) -> ChatPane:
    await connected(pilot)
    await pilot.press("4")
    chat = pilot.app.screen.query_one(ChatPane)
    await until(pilot, lambda: isinstance(pilot.app.focused, PromptInput), "the prompt focused")
    return chat


async def test_a_pull_shows_its_speed_and_time_left_and_esc_cancels_it(chat_app):
    app = chat_app(speed=5.0, ollama_watch=slow_watch)  # 4.4 GB at 500 MB/s: ~9 s
    server = app.environment.ollama
    heard = Heard()
    async with app.run_test(size=(120, 40), message_hook=heard) as pilot:
        chat = await open_chat(pilot)
        chat.query_one(PromptInput).text = "/pull mistral:7b"
        await pilot.press("enter")
        await heard.arrival(pilot, PullRequested)
        await until(pilot, lambda: chat.query(PullNotice), "the pull notice")
        notice = chat.query_one(PullNotice)
        figures = re.compile(r"of [\d.]+ GiB · [\d.]+ [MG]B/s · \d+(m\d+)?s left")
        await until(
            pilot,
            lambda: figures.search(rendered_text(notice.query_one(".pull-status"))),
            "the speed and the time left",
        )
        await pilot.press("escape")  # from the prompt, where /pull was typed
        assert (await heard.arrival(pilot, PullCancelRequested)).model == "mistral:7b"
        finished = await heard.arrival(pilot, PullFinished)
        assert finished.cancelled and finished.error is None
        assert "Pull of mistral:7b cancelled" in rendered_text(notice.query_one(".pull-status"))
        await until(pilot, lambda: server.cancelled_requests == 1, "the stream closed")
        assert "mistral:7b" not in server.installed
        assert not notice.query("ProgressBar")  # no bar left part way
        assert isinstance(app.focused, PromptInput)  # Esc cancelled; it did not leave


async def test_the_pull_offered_for_a_misspelt_model_says_it_is_not_in_the_library(chat_app):
    app = chat_app(ollama_watch=slow_watch)
    heard = Heard()
    async with app.run_test(size=(120, 40), message_hook=heard) as pilot:
        chat = await open_chat(pilot)
        chat.conversation.append({"role": "user", "content": "hi"})
        chat.post_message(PromptSubmitted("lama3.1:8b", list(chat.conversation), chat.options))
        await until(pilot, lambda: chat.query("#pull-offer"), "the pull offered")
        chat.query_one("#pull-offer").press()
        finished = await heard.arrival(pilot, PullFinished)
        assert finished.model == "lama3.1:8b"
        notice = chat.query(PullNotice).last()
        await until(pilot, lambda: notice.outcome is not None and notice.is_mounted, "shown")
        await pilot.pause()
        text = rendered_text(notice.query_one(".pull-status"))
        assert "'lama3.1:8b' does not exist in the Ollama library" in text
        assert "not installed" not in text
