"""App-level keys: tabs from anywhere, quitting, suspending, the command palette."""

from __future__ import annotations

from textual.widgets import TabbedContent

from rigtui.sim import uninstall
from rigtui.ui.bindings import APP_BINDINGS
from rigtui.ui.staging import staged_app
from rigtui.ui.widgets.prompt_input import PromptInput

from .helpers import first_reading_shown, until

TABS = {"1": "rig-tab", "2": "charts-tab", "3": "processes-tab", "4": "chat-tab"}


async def open_prompt(pilot) -> PromptInput:
    app = pilot.app
    await first_reading_shown(pilot)
    await pilot.press("4")
    await until(pilot, lambda: isinstance(app.focused, PromptInput), "the prompt focused")
    return app.focused


def active_tab(app) -> str:
    return app.dashboard.query_one(TabbedContent).active


async def test_digits_leave_the_chat_tab_once_the_prompt_is_left(chat_app):
    """``show_tab`` hid the chat while something in it had the focus: Textual handed the focus
    to a neighbour in the same pane, and a focus inside a pane makes that pane the active tab."""
    app = chat_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await open_prompt(pilot)
        await pilot.press("escape")  # out of the (empty) prompt
        assert not isinstance(app.focused, PromptInput)
        for key in "2314":
            await pilot.press(key)
            await until(pilot, lambda key=key: active_tab(app) == TABS[key], f"tab {key}")
            await pilot.pause()
            assert active_tab(app) == TABS[key]


async def test_alt_digits_switch_tabs_while_typing_and_the_prompt_keeps_its_text(chat_app):
    app = chat_app()
    async with app.run_test(size=(120, 40)) as pilot:
        prompt = await open_prompt(pilot)
        await pilot.press(*"half a question")
        for key in "123":
            await pilot.press(f"alt+{key}")
            await until(pilot, lambda key=key: active_tab(app) == TABS[key], f"alt+{key}")
            await pilot.pause()
            assert active_tab(app) == TABS[key]
            await pilot.press("alt+4")
            await until(pilot, lambda: isinstance(app.focused, PromptInput), "back in the prompt")
            assert active_tab(app) == "chat-tab"
            assert prompt.text == "half a question"
        await pilot.press(*" more")
        assert prompt.text == "half a question more"
        # The footer names the keys that work while typing.
        footer_keys = {binding.key for (_, binding, _, _) in app.screen.active_bindings.values()}
        assert {"alt+1", "alt+2", "alt+3", "alt+4"} <= footer_keys


async def test_ctrl_c_quits_outside_a_text_field():
    app = staged_app("story", 45.0)
    async with app.run_test(size=(100, 30)) as pilot:
        await first_reading_shown(pilot)
        assert app.return_code is None  # set by exit()
        await pilot.press("ctrl+c")
        assert app.return_code == 0
    uninstall()


async def test_ctrl_c_in_the_prompt_copies_a_selection_else_quits(chat_app):
    from textual.widgets.text_area import Selection

    app = chat_app()
    async with app.run_test(size=(120, 40)) as pilot:
        prompt = await open_prompt(pilot)
        await pilot.press(*"keep this")
        prompt.selection = Selection((0, 0), (0, 4))
        await pilot.press("ctrl+c")
        await pilot.pause()
        assert app.clipboard == "keep"
        assert app.return_code is None and prompt.text == "keep this"
        prompt.selection = Selection.cursor((0, 9))
        await pilot.press("ctrl+c")
        assert app.return_code == 0


async def test_page_down_as_the_command_palette_opens_does_not_end_the_app():
    """Textual 8.2.8: Ctrl+P then PageDown within ~0.1 s raised ``KeyError: 0`` (the list
    highlights its first command before it is laid out). Pilot waits for the screen between
    keys, so the test steps the event loop to the moment in between, as a fast typist does."""
    import asyncio

    from textual.command import CommandList, CommandPalette

    app = staged_app("story", 45.0)
    async with app.run_test(size=(100, 30)) as pilot:
        await first_reading_shown(pilot)
        app.action_command_palette()  # as Ctrl+P does, with no wait after it

        def commands() -> CommandList | None:
            if isinstance(app.screen, CommandPalette) and app.screen.is_mounted:
                return app.screen.query(CommandList).first(CommandList)
            return None

        # No layout until the page key is in: a refresh on a busy machine laid the list out
        # before the loop saw it filled, and the moment the bug needs had passed.
        with app.batch_update():
            listed = None
            for _ in range(10_000):
                listed = commands()
                if listed is not None and listed.option_count and listed.highlighted is not None:
                    break
                await asyncio.sleep(0)  # one turn of the event loop: no refresh in between
            assert listed is not None and listed.highlighted is not None
            assert not listed._index_to_line  # the moment the bug needs: not laid out yet
            await app.screen.run_action("command_list('page_down')")
        await until(pilot, lambda: listed.highlighted > 0, "a page down")
        assert app.return_code is None and isinstance(app.screen, CommandPalette)
    uninstall()


async def test_the_command_palette_offers_rigtuis_own_actions(chat_app):
    from textual.command import CommandPalette

    app = chat_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await first_reading_shown(pilot)
        titles = {command.title for command in app.get_system_commands(app.screen)}
        assert {
            "Pause sampling",
            "Sample faster",
            "Sample slower",
            "Rig tab",
            "Charts tab",
            "Processes tab",
            "Chat tab",
            "Help: every key",
            "New chat",
            "Chat options",
            "Theme",
        } <= titles, titles
        await pilot.press("ctrl+p")
        await until(pilot, lambda: isinstance(app.screen, CommandPalette), "the palette")
        await pilot.press(*"charts tab")
        await pilot.pause()
        await pilot.press("enter")
        await until(pilot, lambda: active_tab(app) == "charts-tab", "the Charts tab")
        await pilot.press("ctrl+p")
        await until(pilot, lambda: isinstance(app.screen, CommandPalette), "the palette")
        await pilot.press(*"pause sampling")
        await pilot.pause()
        await pilot.press("enter")
        await until(pilot, lambda: app.paused, "paused")


async def test_help_lists_the_replay_keys_only_while_replaying(recording_path):
    from rigtui.config import Settings
    from rigtui.sources import dashboard_source
    from rigtui.ui.app import RigApp
    from rigtui.ui.screens.help import HelpScreen

    from .helpers import rendered_text

    replaying = "Replay: back 10 s"
    live = staged_app("story", 45.0)
    async with live.run_test(size=(100, 40)) as pilot:
        await first_reading_shown(pilot)
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(live.screen, HelpScreen), "the help")
        text = rendered_text(live.screen.query_one("#help-table"), width=160)
        assert replaying not in text and "Replay:" not in text
        assert "Sample more often" in text
        assert "ctrl+c" in text and "ctrl+z" in text and "alt+1…3" in text
        # Staged without Ollama: no Chat tab, so neither its key nor the chat's keys.
        assert "The Chat tab" not in text and "In the chat" not in text
    uninstall()
    replay = RigApp(Settings(), dashboard_source(Settings(), replay=recording_path))
    async with replay.run_test(size=(100, 40)) as pilot:
        await until(pilot, lambda: replay.snapshots_shown > 0, "the first sample")
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(replay.screen, HelpScreen), "the help")
        text = rendered_text(replay.screen.query_one("#help-table"), width=160)
        assert replaying in text
        assert "Sample more often" not in text  # +/- set the sampling interval: not here


async def test_the_tab_keys_shown_are_the_tabs_there(chat_app):
    """Without Ollama there is no Chat tab: the footer's one entry for the Alt keys says 1…3."""
    (anywhere,) = [b for b in APP_BINDINGS if b.id == "tab-rig-anywhere"]
    with_chat = chat_app()
    without_chat = staged_app("story", 345.0)
    try:
        assert with_chat.get_key_display(anywhere) == "alt+1…4"
        assert without_chat.get_key_display(anywhere) == "alt+1…3"
    finally:
        uninstall()


async def test_two_tab_keys_in_one_burst_end_on_the_second_tab(chat_app):
    """Each tab, once shown, focused its body after the next refresh: a second tab key read
    before that refresh was undone, as the first tab's body took the focus and with it the
    tab (a terminal under load, or a quick Alt+3 Alt+1, ended on the Processes tab)."""
    from textual import events

    app = chat_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await first_reading_shown(pilot)
        for first, second in (("3", "1"), ("alt+3", "alt+1"), ("2", "4"), ("alt+2", "alt+3")):
            # Posted together, so that both are read before the screen is drawn again.
            app.post_message(events.Key(first, None))
            app.post_message(events.Key(second, None))
            await until(pilot, lambda s=second: active_tab(app) == TABS[s[-1]], f"{first} {second}")
            await pilot.pause()
            await pilot.pause()
            assert active_tab(app) == TABS[second[-1]], f"{first} then {second}"


async def test_a_tab_key_read_while_a_focus_settles_is_not_undone(chat_app):
    """A focus reaches the tabs a few messages later (the pane hears of it, then tells the
    tabs): a tab key read in between was undone, as the tabs went to the pane that held
    the focus before the key (a terminal under load: Alt+3, then Alt+1, stayed on 3)."""
    from textual import events

    app = chat_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await first_reading_shown(pilot)
        await pilot.press("3")
        table = app.dashboard.query_one("#gpu-processes")
        await until(pilot, lambda: app.focused is table, "the processes focused")
        app.dashboard.set_focus(None)
        table.focus()  # as the tab's own focus, on its way while the next key comes
        app.post_message(events.Key("alt+1", None))
        await until(pilot, lambda: active_tab(app) == "rig-tab", "alt+1")
        await pilot.pause()
        await pilot.pause()
        assert active_tab(app) == "rig-tab"


async def test_a_fleet_reading_that_comes_as_the_fleet_tab_is_left_does_not_bring_it_back():
    """A reading shown while nothing had the focus took the focus for the rig list if the pane
    was on screen; in the frame after a tab key the old map still said so, and the list took
    the focus and with it the Fleet tab."""
    from rigtui.ui.messages import FleetReadingTaken
    from rigtui.ui.staging import staged_fleet_app

    from .test_fleet_pane import NOW, reading, rig

    app = staged_fleet_app(NOW)
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await first_reading_shown(pilot)
            await pilot.press("5")
            await until(pilot, lambda: active_tab(app) == "fleet-tab", "the Fleet tab")
            app.post_message(FleetReadingTaken(reading(rig("fits:9860")), NOW))
            rigs = app.dashboard.query_one("#fleet-rigs")
            await until(pilot, lambda: app.focused is rigs, "the rigs listed and focused")
            app.action_show_tab("rig-tab")
            app.post_message(FleetReadingTaken(reading(rig("fits:9860"), rig("b:1")), NOW))
            await until(pilot, lambda: rigs.option_count == 2, "the next reading shown")
            await pilot.pause()
            assert active_tab(app) == "rig-tab"
            assert app.focused is app.dashboard.query_one("#rig-body")
    finally:
        uninstall()


async def test_the_palettes_process_filter_from_another_tab_keeps_the_focus(chat_app):
    """The palette's command shows the Processes tab and opens its filter; the tab's own focus
    for its body came after and took the filter's, so what was typed went to the table's keys
    (s sorts, K kills)."""
    from textual.widgets import Input

    app = chat_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await first_reading_shown(pilot)
        assert active_tab(app) == "rig-tab"
        command = next(
            c for c in app.get_system_commands(app.screen) if c.title == "Processes: filter"
        )
        command.callback()
        field = app.dashboard.query_one("#process-filter", Input)
        await until(pilot, lambda: app.focused is field, "the filter open")
        await pilot.pause()
        await pilot.pause()
        await pilot.press(*"olla")
        await until(pilot, lambda: field.value == "olla", "typed into the filter")
        assert app.focused is field and active_tab(app) == "processes-tab"
