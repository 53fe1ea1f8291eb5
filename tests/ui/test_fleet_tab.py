"""The Fleet tab in the dashboard: the app runs the real FleetWatch (here against a port where
nothing listens, so every read fails as a real one would) and hands the pane what it reads; the
readings themselves are posted as the app posts them, built by hand."""

from __future__ import annotations

import pytest
from textual import events
from textual.widgets import OptionList, Static, TabbedContent

from rigtui.ui.messages import (
    FleetHistoryFailed,
    FleetHistoryRead,
    FleetHistoryRequested,
    FleetReadFailed,
    FleetReadingTaken,
    FleetReadRequested,
)
from rigtui.ui.screens.help import HelpScreen
from rigtui.ui.staging import staged_app, staged_fleet_app
from rigtui.ui.widgets.fleet_pane import FleetPane
from rigtui.ui.widgets.history_chart import HistoryChart

from .helpers import Heard, first_reading_shown, handled_by, rendered_text, until
from .test_fleet_pane import NOW, history, reading, rig


@pytest.fixture(autouse=True)
def _forget_the_simulated_library():
    yield
    from rigtui.sim import uninstall

    uninstall()


def fleet_app(**staging):
    """The real watch against a closed port, each read one the test asked for (the first, or
    ``r``)."""
    return staged_fleet_app(NOW, **staging)


def status(app) -> str:
    return str(app.dashboard.query_one("#fleet-status", Static).render())


async def test_prometheus_unreachable_is_inline_and_the_rig_tabs_keep_working():
    heard = Heard()
    app = fleet_app()
    async with app.run_test(size=(120, 40), message_hook=heard) as pilot:
        await first_reading_shown(pilot)
        failed = await heard.arrival(pilot, FleetReadFailed)
        await pilot.press("5")
        tabs = app.dashboard.query_one(TabbedContent)
        await until(pilot, lambda: tabs.active == "fleet-tab", "the Fleet tab")
        await until(pilot, lambda: app.focused is app.dashboard.query_one("#fleet-rigs"))
        assert failed.error and failed.error in status(app)
        assert "⚠" in status(app)
        # The local rig is untouched: its tabs switch and draw.
        await pilot.press("2")
        await until(pilot, lambda: tabs.active == "charts-tab", "the Charts tab")
        assert app.dashboard.query_one("#big-chart-util", HistoryChart).data is not None
        await pilot.press("5")
        # r is the Fleet tab's key once its list has the focus again.
        await until(pilot, lambda: app.focused is app.dashboard.query_one("#fleet-rigs"))
        # r reads now: a new run of the watch, failing again in the same words.
        mark = heard.mark()
        await pilot.press("r")
        await heard.arrival(pilot, FleetReadRequested, since=mark)
        again = await heard.arrival(pilot, FleetReadFailed, since=mark)
        assert again.error == failed.error


async def test_readings_are_shown_and_a_rigs_history_is_asked_of_prometheus():
    heard = Heard()
    app = fleet_app()
    async with app.run_test(size=(120, 40), message_hook=heard) as pilot:
        await heard.arrival(pilot, FleetReadFailed)
        await pilot.press("alt+5")
        pane = app.dashboard.query_one(FleetPane)
        app.post_message(
            FleetReadingTaken(reading(rig("lost:9861", firing=True), rig("fits:9860")), NOW)
        )
        await heard.arrival(pilot, FleetReadingTaken)
        rigs = pane.query_one(OptionList)
        assert rigs.option_count == 2
        assert "2 rigs · 1 with firing alerts" in status(app)
        assert "⚠" not in status(app)  # the error is over
        await until(pilot, lambda: app.focused is rigs, "the rigs list focused")
        await pilot.press("j", "enter")
        asked = await heard.arrival(pilot, FleetHistoryRequested)
        assert asked.instance == "fits:9860"
        # The app asked the real engine, which could not reach Prometheus: said in the title.
        failed = await heard.arrival(pilot, FleetHistoryFailed)
        assert failed.instance == "fits:9860"
        title = str(pane.query_one("#fleet-history-title", Static).render())
        assert failed.error in title
        app.post_message(FleetHistoryRead(history("fits:9860")))
        await heard.arrival(pilot, FleetHistoryRead)
        chart = pane.query_one("#fleet-chart-utilization", HistoryChart)
        await until(pilot, lambda: chart.renders > 0, "the history drawn")
        assert chart.data is not None and chart.data.series[0].label == "GPU 0"
        await pilot.press("escape")
        await until(pilot, lambda: pane.history_instance is None, "the history closed")


async def test_the_help_and_the_footer_list_the_fleet_keys():
    app = fleet_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await first_reading_shown(pilot)
        assert app.get_key_display(app.dashboard.active_bindings["alt+1"].binding) == "alt+1…5"
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen), "the help open")
        text = rendered_text(app.screen.query_one("#help-table"), width=200)
        assert "In the Fleet tab (5)" in text
        for words in (
            "The selected rig's history charts",
            "The history's window: 15m, 1h, 6h, 24h",
            "Close the history",
            "Read Prometheus now",
            "Next rig",
            "Previous rig",
            "The Fleet tab: every rig",
        ):
            assert words in text


async def test_without_prometheus_there_is_no_fleet_tab():
    app = staged_app("story", 45.0)
    async with app.run_test(size=(80, 24)) as pilot:
        await first_reading_shown(pilot)
        assert not app.dashboard.query(FleetPane)
        keys = handled_by(app, events.Key)
        await pilot.press("5")
        # Nothing to see: first that the app is done with the key (back from the focused
        # widget to the app, which looked up its bindings), then that it changed nothing.
        await until(pilot, lambda: sum(key.key == "5" for key in keys) == 2, "5 handled")
        assert app.dashboard.query_one(TabbedContent).active == "rig-tab"
        assert app.check_action("show_tab", ("fleet-tab",)) is False
        assert app.prometheus is None


async def test_the_status_counts_on_by_the_watchs_clock_between_readings():
    heard = Heard()
    clock = [NOW]
    app = staged_fleet_app(NOW, clock=lambda: clock[0])
    async with app.run_test(size=(80, 24), message_hook=heard) as pilot:
        await first_reading_shown(pilot)
        failed = await heard.arrival(pilot, FleetReadFailed)
        assert failed.now == NOW  # stamped by the watch's clock, as its readings are
        await pilot.press("5")
        app.post_message(FleetReadingTaken(reading(rig("fits:9860")), NOW))
        await heard.arrival(pilot, FleetReadingTaken)
        assert "read just now" in status(app)
        clock[0] = NOW + 125  # no reading comes: the words age by the pane's one-second tick
        await until(pilot, lambda: "read 2m ago" in status(app), "the status aged")
