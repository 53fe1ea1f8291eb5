"""SVG snapshots of the other views: the help, the chat's options, the Processes tab and a replay.

Each is staged at a fixed moment (the simulated rig's clock stands still; a replay is paused
and moved by keys), so the picture never depends on how fast the machine runs. Times on screen
are local: ``tests/conftest.py`` reads them in UTC.
Update with ``pytest tests/snapshots --snapshot-update`` and look at the pictures first.
"""

from __future__ import annotations

import pytest

from rigtui.config import Settings
from rigtui.sim import uninstall
from rigtui.sources import dashboard_source
from rigtui.ui.app import RigApp
from rigtui.ui.messages import ChatOptionsRequested
from rigtui.ui.screens.chat_options import ChatOptionsScreen
from rigtui.ui.screens.help import HelpScreen
from rigtui.ui.staging import staged_app
from rigtui.ui.widgets.process_table import ProcessTable
from tests.ui.helpers import first_reading_shown, until

SIZE = (120, 40)


@pytest.fixture(autouse=True)
def _forget_the_simulated_library():
    yield
    uninstall()


def test_help_screen_120x40(snap_compare):
    async def run_before(pilot) -> None:
        await first_reading_shown(pilot)
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(pilot.app.screen, HelpScreen))
        await pilot.pause()

    assert snap_compare(staged_app("story", 345.0), terminal_size=SIZE, run_before=run_before)


async def _open_chat_options(pilot) -> None:
    app = pilot.app
    await first_reading_shown(pilot)
    # Without Ollama there is no Chat tab (nor Ctrl+O): asked for as the chat asks.
    app.dashboard.chat.post_message(ChatOptionsRequested())
    await until(pilot, lambda: isinstance(app.screen, ChatOptionsScreen))
    for field in app.screen.query("TextArea, Input").results():
        field.cursor_blink = False
    await pilot.pause()


def test_chat_options_screen_120x40(snap_compare):
    # Without Ollama: the options screen is the picture, not the models a server lists.
    assert snap_compare(
        staged_app("story", 345.0), terminal_size=SIZE, run_before=_open_chat_options
    )


def test_chat_options_screen_with_a_refused_keep_alive_80x24(snap_compare):
    """At 80x24 the fields scroll and Save/Cancel stay in sight under them; a keep_alive
    Ollama would refuse is marked where it was typed."""

    async def run_before(pilot) -> None:
        await _open_chat_options(pilot)
        pilot.app.screen.query_one("#field-keep_alive").focus()
        await pilot.press(*"inf")
        await pilot.pause()

    assert snap_compare(staged_app("story", 345.0), terminal_size=(80, 24), run_before=run_before)


def test_processes_tab_120x40(snap_compare):
    async def run_before(pilot) -> None:
        await first_reading_shown(pilot)
        await pilot.press("3")
        tables = list(pilot.app.screen.query(ProcessTable).results())
        await until(pilot, lambda: all(table.wrapped_to_its_width for table in tables))
        await pilot.pause()

    assert snap_compare(staged_app("story", 345.0), terminal_size=SIZE, run_before=run_before)


def test_replay_paused_at_60s_120x40(snap_compare, recording_path):
    app = RigApp(Settings(), dashboard_source(Settings(), replay=recording_path))

    async def run_before(pilot) -> None:
        await until(pilot, lambda: app.snapshots_shown > 0)
        # Paused, then moved by keys: where it stands no longer depends on how long it played.
        await pilot.press("p")
        await pilot.press("home", "right", "right", "right")
        await until(pilot, lambda: app.replay.index() == 30)
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
