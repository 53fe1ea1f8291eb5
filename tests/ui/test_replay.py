"""Replaying a recording in the dashboard: play, pause, seek, speed, a damaged file."""

from __future__ import annotations

import pytest

from rigtui.config import Settings
from rigtui.recording import read_recording
from rigtui.sources import dashboard_source
from rigtui.ui.app import RigApp
from rigtui.ui.widgets.gpu_card import GpuCard
from rigtui.ui.widgets.rig_header import RigHeader

from .helpers import until


def replay_app(path) -> RigApp:
    return RigApp(Settings(), dashboard_source(Settings(), replay=path))


def count_ticks(app: RigApp) -> list[float]:
    """The replay's clock ticks from now on (each asks the cursor to advance): a list that grows."""
    ticks = []
    advance = app.replay.advance

    def counted(wall_seconds: float) -> None:
        ticks.append(wall_seconds)
        advance(wall_seconds)

    app.replay.advance = counted
    return ticks


async def first_sample_shown(pilot) -> None:
    await until(pilot, lambda: pilot.app.snapshots_shown > 0, "the first sample on screen")


async def test_replay_plays_the_recorded_samples_in_order(recording_path):
    app = replay_app(recording_path)
    recording = read_recording(recording_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await first_sample_shown(pilot)
        header = app.screen.query_one(RigHeader)
        assert header.source.startswith("replay story.jsonl")
        assert app.snapshot == recording.snapshots[0]
        await until(pilot, lambda: app.replay.index() >= 2, "the replay at its third sample")
        shown = app.snapshot
        assert shown in recording.snapshots
        card = app.screen.query_one("#gpu-card-0", GpuCard)
        assert card.reading == shown.gpus[0]


async def test_pause_seek_and_speed_keys(recording_path):
    app = replay_app(recording_path)
    recording = read_recording(recording_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await first_sample_shown(pilot)
        # Each key's action moves the replay at once: wait for the position or speed it sets.
        await pilot.press("p")
        await until(pilot, lambda: not app.replay.playing, "paused")
        assert app.screen.query_one(RigHeader).paused
        position = app.replay.position
        ticks = count_ticks(app)
        await until(pilot, lambda: len(ticks) >= 4, "four ticks of the replay's clock")
        assert app.replay.position == position  # paused
        await pilot.press("right")
        await until(
            pilot, lambda: app.replay.position == pytest.approx(position + 10), "forward 10 s"
        )
        assert app.snapshot == recording.snapshots[app.replay.index()]
        await pilot.press("shift+right")
        await until(
            pilot, lambda: app.replay.position == pytest.approx(position + 70), "forward 1 min"
        )
        await pilot.press("left")
        await until(pilot, lambda: app.replay.position == pytest.approx(position + 60), "back 10 s")
        # The charts show the ten minutes before the new position, rebuilt on the seek.
        assert app.history.timestamps()[-1] == app.snapshot.taken_at
        assert len(app.history) == app.replay.index() + 1
        await pilot.press("right_square_bracket", "right_square_bracket")
        await until(pilot, lambda: app.replay.speed == 5.0, "faster twice")
        await pilot.press("left_square_bracket")
        await until(pilot, lambda: app.replay.speed == 2.0, "slower")
        await pilot.press("end")
        await until(pilot, lambda: app.snapshot == recording.snapshots[-1], "the end")
        await pilot.press("p")  # at the end, play starts over
        await until(
            pilot, lambda: app.replay.playing and app.replay.index() == 0, "played from the start"
        )


async def test_a_damaged_recording_plays_what_is_valid_and_says_where_it_stopped(
    recording_path,
):
    data = recording_path.read_bytes()
    recording_path.write_bytes(data[: len(data) // 2])  # cut in the middle of a line
    app = replay_app(recording_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await first_sample_shown(pilot)
        header = app.screen.query_one(RigHeader)
        assert header.problem.startswith("stopped at line")
        assert "cut off" in header.problem
        assert len(app.replay.recording.snapshots) < 120


def test_replaying_a_file_that_is_not_a_recording_exits_2(tmp_path, capsys):
    from rigtui.cli import main

    path = tmp_path / "x.jsonl"
    path.write_text("not json at all\n")
    assert main(["--replay", str(path)]) == 2
    assert "not a rigtui recording" in capsys.readouterr().err


async def test_a_recording_with_bad_values_replays_and_says_what_it_skipped(recording_path):
    import json

    lines = recording_path.read_text().splitlines(keepends=True)
    for number, values in (
        (1, {"utilization_gpu_pct": "ninety"}),
        (2, {"power_draw_w": float("nan")}),
        (3, {"temperature_c": float("inf"), "pcie_link_gen": "4"}),
    ):
        record = json.loads(lines[number - 1])
        record["gpus"][0].update(values)
        lines[number - 1] = json.dumps(record) + "\n"
    recording_path.write_text("".join(lines))
    app = replay_app(recording_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await first_sample_shown(pilot)
        header = app.screen.query_one(RigHeader)
        assert header.problem == (
            "line 1: skipped gpus[0].utilization_gpu_pct ('ninety': not a number)"
        )
        card = app.screen.query_one("#gpu-card-0", GpuCard)
        assert card.reading.utilization_gpu_pct is None
        assert card.reading.reason("utilization_gpu_pct") == "bad value in the recording"
        await pilot.press("end")  # the charts rebuilt over the bad samples
        await until(pilot, lambda: app.snapshot == app.replay.recording.snapshots[-1], "the end")
        assert len(app.history) == 120
        assert app.history.series("gpu0.power_draw_w")[1] is None


async def test_home_and_end_seek_at_80x24_where_the_rig_tab_scrolls(recording_path):
    """At 80x24 the Rig tab is a scrolling body with the focus: Home/End went to it, and the
    replay's Start/End keys did nothing there."""
    app = replay_app(recording_path)
    recording = read_recording(recording_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await first_sample_shown(pilot)
        await pilot.press("p")  # paused: where it stands depends on the keys alone
        # p goes by the focused widget, End (a priority key) straight to the app: pressed
        # before p was done with, End came first. Each key once the one before it is done.
        await until(pilot, lambda: not app.replay.playing, "paused")
        await pilot.press("end")
        await until(pilot, lambda: app.snapshot == recording.snapshots[-1], "the end")
        await pilot.press("home")
        await until(
            pilot,
            lambda: app.replay.index() == 0 and app.snapshot == recording.snapshots[0],
            "the start",
        )
        await pilot.press("pagedown")  # the body still scrolls by page
        body = app.screen.query_one("#rig-body")
        await until(pilot, lambda: body.scroll_y > 0, "the Rig tab scrolled")
