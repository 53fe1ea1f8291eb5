"""SVG snapshots of model control's screens: choosing a model to load (and a keep-alive that
Ollama would refuse, at 80x24), and the question before a delete.

The screens are handed fixed models (no server: the picture is the screen, not what a server
lists). Update with ``pytest tests/snapshots --snapshot-update`` and look at the pictures first.
"""

from __future__ import annotations

import pytest

from rigtui.sim import uninstall
from rigtui.ui.screens.delete_model import DeleteModelScreen
from rigtui.ui.screens.model_chooser import ModelChoice, ModelChooserScreen
from rigtui.ui.staging import staged_app
from tests.ui.helpers import first_reading_shown, until

CHOICES = [
    ModelChoice("llama3.1:8b", "4.9 GB  8.0B  Q4_K_M  loaded"),
    ModelChoice("qwen2.5-coder:32b", "19.9 GB  32.8B  Q4_K_M"),
    ModelChoice("llama3.3:70b", "42.5 GB  70.6B  Q4_K_M"),
    ModelChoice("deepseek-r1:14b", "9.0 GB  14.8B  Q4_K_M"),
]


@pytest.fixture(autouse=True)
def _forget_the_simulated_library():
    yield
    uninstall()


def _showing(screen):
    async def run_before(pilot) -> None:
        await first_reading_shown(pilot)
        pilot.app.push_screen(screen)
        await until(pilot, lambda: pilot.app.screen is screen)
        for field in screen.query("Input").results():
            field.cursor_blink = False
        await pilot.pause()

    return run_before


def test_load_a_model_chooser_120x40(snap_compare):
    screen = ModelChooserScreen("load", CHOICES, highlighted="deepseek-r1:14b")
    assert snap_compare(
        staged_app("story", 345.0), terminal_size=(120, 40), run_before=_showing(screen)
    )


def test_load_a_model_chooser_with_a_refused_keep_alive_80x24(snap_compare):
    """The typed keep-alive is marked where it was typed; Load and Cancel stay in sight."""
    screen = ModelChooserScreen("load", CHOICES)
    showing = _showing(screen)

    async def run_before(pilot) -> None:
        await showing(pilot)
        screen.query_one("#chooser-typed").focus()
        await pilot.press(*"10 minutes")
        await pilot.pause()

    assert snap_compare(staged_app("story", 345.0), terminal_size=(80, 24), run_before=run_before)


def test_delete_a_model_question_80x24(snap_compare):
    screen = DeleteModelScreen("llama3.1:8b", 4_920_753_328, loaded=True)
    assert snap_compare(
        staged_app("story", 345.0), terminal_size=(80, 24), run_before=_showing(screen)
    )
