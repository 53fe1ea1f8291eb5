"""The chat pane asks the screen that hosts it for its options screen; it never pushes one."""

from __future__ import annotations

from rigtui.ui.widgets.chat_pane import ChatPane


async def test_the_pane_asks_for_its_options_and_takes_them_back():
    from textual.widgets import Static

    from rigtui.llm.ollama import ChatOptions
    from rigtui.ui.messages import ChatOptionsChanged, ChatOptionsRequested

    from .helpers import Hosting

    class Host(Hosting):
        """Records what the pane asks of the screen that hosts it."""

        def __init__(self, widget) -> None:
            super().__init__(widget)
            self.heard: list[type] = []

        def on_chat_options_requested(self, message: ChatOptionsRequested) -> None:
            self.heard.append(type(message))

        def on_chat_options_changed(self, message: ChatOptionsChanged) -> None:
            self.heard.append(type(message))

    chat = ChatPane()
    app = Host(chat)
    async with app.run_test(size=(100, 20)) as pilot:
        await pilot.pause()
        chat.action_options()
        await pilot.pause()
        # Asked for, not pushed: opening a screen is the host's business.
        assert app.heard == [ChatOptionsRequested]
        assert len(app.screen_stack) == 1
        chat.apply_options(ChatOptions(num_ctx=16384, temperature=0.3))
        await pilot.pause()
        assert app.heard == [ChatOptionsRequested, ChatOptionsChanged]
        assert chat.options.num_ctx == 16384
        summary = str(chat.query_one("#chat-options-summary", Static).content)
        assert summary == "temp 0.3 · ctx 16384"


# --- the options screen in the dashboard --------------------------------------------------------

import pytest  # noqa: E402
from textual.widgets import Button, Footer, Input, TextArea  # noqa: E402
from textual.widgets._footer import FooterKey  # noqa: E402

from rigtui.ui.messages import PromptSubmitted  # noqa: E402
from rigtui.ui.screens.chat_options import ChatOptionsScreen, parse_keep_alive  # noqa: E402
from rigtui.ui.widgets.prompt_input import PromptInput  # noqa: E402

from .helpers import Heard, first_reading_shown, rendered_text, until  # noqa: E402


async def open_options(pilot) -> ChatOptionsScreen:
    app = pilot.app
    await first_reading_shown(pilot)
    await until(pilot, lambda: app.ollama_connected, "Ollama connected")
    await pilot.press("4")
    await until(pilot, lambda: isinstance(app.focused, PromptInput), "the prompt focused")
    await pilot.press("ctrl+o")
    await until(pilot, lambda: isinstance(app.screen, ChatOptionsScreen), "the options open")
    await pilot.pause()
    return app.screen


async def test_the_first_keys_typed_go_into_the_first_field_and_after_saving_into_the_prompt(
    chat_app,
):
    app = chat_app()
    heard = Heard()
    async with app.run_test(size=(120, 40), message_hook=heard) as pilot:
        screen = await open_options(pilot)
        assert app.focused is screen.query_one("#system-prompt", TextArea)
        await pilot.press(*"Be brief.")
        assert screen.query_one("#system-prompt", TextArea).text == "Be brief."
        await pilot.press("ctrl+s")
        await until(pilot, lambda: not isinstance(app.screen, ChatOptionsScreen), "saved")
        assert app.dashboard.chat.options.system_prompt == "Be brief."
        await until(pilot, lambda: isinstance(app.focused, PromptInput), "back in the prompt")
        await pilot.press("h", "i", "enter")
        submitted = await heard.arrival(pilot, PromptSubmitted)
        assert submitted.messages[-1] == {"role": "user", "content": "hi"}


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_save_and_cancel_can_be_seen_and_clicked_at_every_size(chat_app, size):
    app = chat_app()
    async with app.run_test(size=size) as pilot:
        screen = await open_options(pilot)
        for button_id in ("#save", "#cancel"):
            button = screen.query_one(button_id, Button)
            x, y = button.region.center
            assert 0 <= y < size[1]
            widget, _ = screen.get_widget_at(x, y)
            assert widget is button, (button_id, button.region, widget)
        await pilot.click("#cancel")
        await until(pilot, lambda: not isinstance(app.screen, ChatOptionsScreen), "cancelled")


async def test_the_options_footer_shows_the_options_keys(chat_app):
    app = chat_app()
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_options(pilot)
        footer = screen.query_one(Footer)
        await until(pilot, lambda: footer.query(FooterKey), "the footer's keys")
        described = {key.description for key in footer.query(FooterKey)}
        assert {"Save", "Cancel"} <= described
        assert not described & {"Pause", "Slower", "Stop", "Copy reply"}, described


@pytest.mark.parametrize("typed", ["inf", "nan", "1e3", "99999999999999h", "10 m", "5x", "-"])
def test_keep_alive_refuses_what_ollama_refuses(typed):
    from rigtui.ui.screens.chat_options import FieldError

    with pytest.raises(FieldError):
        parse_keep_alive(typed)


@pytest.mark.parametrize(
    ("typed", "sent"),
    [
        ("10", "10s"),
        ("1.5", "1.5s"),
        ("5m", "5m"),
        ("1h30m", "1h30m"),
        ("300ms", "300ms"),
        ("0", "0s"),
        ("-1", "-1s"),
        ("-5m", "-1s"),
        ("2562047h", "2562047h"),
        ("", None),
    ],
)
def test_keep_alive_takes_seconds_and_go_durations(typed, sent):
    assert parse_keep_alive(typed) == sent


async def test_a_refused_keep_alive_is_marked_inline_and_kept(chat_app):
    app = chat_app()
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_options(pilot)
        field = screen.query_one("#field-keep_alive", Input)
        field.focus()
        await pilot.press(*"99999999999999h")
        await pilot.press("ctrl+s")  # refused: the screen stays, the text too
        await pilot.pause()
        assert isinstance(app.screen, ChatOptionsScreen)
        assert field.value == "99999999999999h"
        assert "292 years" in rendered_text(screen.query_one("#error-keep_alive"))
        assert screen.query_one("#save", Button).disabled


async def test_opened_by_its_button_and_saved_by_enter_the_focus_goes_back_to_the_prompt(
    chat_app,
):
    app = chat_app()
    heard = Heard()
    async with app.run_test(size=(120, 40), message_hook=heard) as pilot:
        await open_options(pilot)
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, ChatOptionsScreen), "cancelled")
        await pilot.click("#chat-options-button")
        await until(pilot, lambda: isinstance(app.screen, ChatOptionsScreen), "opened")
        await pilot.pause()
        app.screen.query_one("#field-num_ctx", Input).focus()
        await pilot.press(*"8192", "enter")
        await until(pilot, lambda: not isinstance(app.screen, ChatOptionsScreen), "saved")
        assert app.dashboard.chat.options.num_ctx == 8192
        await until(pilot, lambda: isinstance(app.focused, PromptInput), "back in the prompt")
        await pilot.press("h", "i", "enter")
        submitted = await heard.arrival(pilot, PromptSubmitted)
        assert submitted.messages[-1] == {"role": "user", "content": "hi"}
