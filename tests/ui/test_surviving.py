"""An error while updating the screen is reported and logged; sampling and the chat go on."""

from __future__ import annotations

import asyncio
import time

import pytest
from textual.widgets import Static
from textual.widgets._toast import Toast

from rigtui.sim import uninstall
from rigtui.ui.messages import SnapshotTaken
from rigtui.ui.staging import staged_app
from rigtui.ui.tuning.surviving import error_log_path

from .helpers import (
    LONG_S,
    STATE_POLL_S,
    Heard,
    next_reading,
    on_stepped_pace,
    sampling_started,
    until,
)


@pytest.fixture(autouse=True)
def _forget_the_simulated_library():
    yield
    uninstall()


def test_the_log_lives_under_the_xdg_state_directory(tmp_path):
    assert error_log_path({"XDG_STATE_HOME": str(tmp_path)}) == tmp_path / "rigtui" / "rigtui.log"
    assert error_log_path({"HOME": "/home/ada"}) == (
        error_log_path({"HOME": "/home/ada", "XDG_STATE_HOME": ""})
    )
    assert str(error_log_path({"HOME": "/home/ada"})) == "/home/ada/.local/state/rigtui/rigtui.log"


async def test_a_handler_that_raises_is_reported_and_the_next_reading_is_drawn(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    app, pace = on_stepped_pace(staged_app("story", 45.0, interval_s=0.25))
    app.survive_errors = True
    heard = Heard()
    async with app.run_test(size=(120, 40), message_hook=heard, notifications=True) as pilot:
        await sampling_started(pilot, pace)
        await next_reading(pilot, pace, heard)
        # The GPU card goes (as in a race with a layout change): routing the next reading to it
        # raises NoMatches in the app's handler.
        await app.dashboard.query_one("#gpu-card-0").remove()
        since = heard.mark()
        for _ in range(3):  # every reading fails the same way: told once
            snapshot = await next_reading(pilot, pace, heard)
            assert app.dashboard.header.taken_at == snapshot.taken_at  # drawn up to the error
        assert len(heard.of(SnapshotTaken, since)) == 3
        assert app.is_running and app.return_code is None
        assert [type(error).__name__ for error in app.errors_reported] == ["NoMatches"] * 3
        log = (tmp_path / "rigtui" / "rigtui.log").read_text()
        assert log.count("Traceback (most recent call last)") == 1
        assert "NoMatches" in log and "show_snapshot" in log
        await until(pilot, lambda: app.screen.query(Toast), "the notification")
        toasts = [str(toast.render()) for toast in app.screen.query(Toast)]
        assert any("NoMatches" in toast and "rigtui.log" in toast for toast in toasts)


class Exploding(Static):
    def render(self):
        raise ZeroDivisionError("a render that fails")


async def test_a_render_that_raises_is_reported_and_the_dashboard_goes_on(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    app, pace = on_stepped_pace(staged_app("story", 45.0, interval_s=0.25))
    app.survive_errors = True
    heard = Heard()
    async with app.run_test(size=(120, 40), message_hook=heard) as pilot:
        await sampling_started(pilot, pace)
        await app.dashboard.query_one("#rig-body").mount(Exploding())
        await until(pilot, lambda: app.errors_reported, "the render's error")
        snapshot = await next_reading(pilot, pace, heard)
        assert app.dashboard.header.taken_at == snapshot.taken_at
        await pilot.press("2")  # keys still work
        await until(pilot, lambda: app.dashboard.query_one("#tabs").active == "charts-tab")
        assert app.return_code is None
        assert "a render that fails" in (tmp_path / "rigtui" / "rigtui.log").read_text()


async def test_headless_apps_still_fail_on_an_error_so_tests_see_it(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    app, pace = on_stepped_pace(staged_app("story", 45.0, interval_s=0.25))
    heard = Heard()
    with pytest.raises(Exception, match="gpu-card-0"):
        async with app.run_test(size=(120, 40), message_hook=heard) as pilot:
            await sampling_started(pilot, pace)
            await app.dashboard.query_one("#gpu-card-0").remove()
            since = heard.mark()
            while not heard.of(SnapshotTaken, since):
                await pace.step()
            # The app's loop ends: wait on the state itself, not on the app.
            deadline = time.monotonic() + LONG_S
            while app.return_code is None and time.monotonic() < deadline:
                await asyncio.sleep(STATE_POLL_S)
            assert app.return_code == 1
