"""SVG snapshots of the dashboard at fixed moments of fixed scenarios.

Update with ``pytest tests/snapshots --snapshot-update`` and look at the report before committing.
"""

from __future__ import annotations

import pytest

from rigtui.sim import uninstall
from rigtui.ui.staging import staged_app
from tests.ui.helpers import first_reading_shown


@pytest.fixture(autouse=True)
def _forget_the_simulated_library():
    yield
    uninstall()


def _run_before(tab: str = "rig-tab"):
    async def run_before(pilot) -> None:
        await first_reading_shown(pilot)
        pilot.app.action_show_tab(tab)
        # The tab's widgets lay out and draw in the frames after the switch.
        await pilot.pause()

    return run_before


def test_generating_80x24(snap_compare):
    assert snap_compare(
        staged_app("story", 345.0), terminal_size=(80, 24), run_before=_run_before()
    )


def test_generating_160x50(snap_compare):
    assert snap_compare(
        staged_app("story", 345.0), terminal_size=(160, 50), run_before=_run_before()
    )


def test_offloaded_160x50(snap_compare):
    assert snap_compare(
        staged_app("story", 440.0), terminal_size=(160, 50), run_before=_run_before()
    )


def test_faults_80x24(snap_compare):
    assert snap_compare(
        staged_app("faults", 370.0), terminal_size=(80, 24), run_before=_run_before()
    )


def test_charts_tab_120x40(snap_compare):
    assert snap_compare(
        staged_app("dual", 440.0), terminal_size=(120, 40), run_before=_run_before("charts-tab")
    )
