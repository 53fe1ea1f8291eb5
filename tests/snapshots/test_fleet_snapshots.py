"""SVG snapshots of the Fleet tab over hand-built readings (``staging.sample_fleet``).

Update with ``pytest tests/snapshots/test_fleet_snapshots.py --snapshot-update`` and look at
the report before committing.
"""

from __future__ import annotations

import pytest

from rigtui.sim import uninstall
from rigtui.ui.messages import FleetHistoryRead, FleetReadingTaken
from rigtui.ui.staging import sample_fleet
from rigtui.ui.widgets.fleet_pane import FleetPane
from tests.ui.helpers import caught_up, first_reading_shown, until
from tests.ui.test_fleet_tab import fleet_app

NOW = 1_800_000_000.0


@pytest.fixture(autouse=True)
def _forget_the_simulated_library():
    yield
    uninstall()


def _fleet(*, history: bool):
    async def run_before(pilot) -> None:
        app = pilot.app
        await first_reading_shown(pilot)
        pane = app.dashboard.query_one(FleetPane)
        # The watch's one read (nothing listens there) has failed: its words are replaced next.
        await until(pilot, lambda: pane.error is not None, "the watch's first read")
        reading, histories = sample_fleet(NOW)
        app.post_message(FleetReadingTaken(reading, NOW))
        await caught_up(app)
        await pilot.press("5")
        await until(pilot, lambda: app.focused is pane.rigs, "the rigs list focused")
        if history:
            await pilot.press("j", "enter")
            await caught_up(app)
            app.post_message(FleetHistoryRead(histories[pane.history_instance]))
            await caught_up(app)
        await pilot.pause()

    return run_before


def test_fleet_tab_80x24(snap_compare):
    assert snap_compare(fleet_app(), terminal_size=(80, 24), run_before=_fleet(history=False))


def test_fleet_history_120x40(snap_compare):
    assert snap_compare(fleet_app(), terminal_size=(120, 40), run_before=_fleet(history=True))
