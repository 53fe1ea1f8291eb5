"""Pilot tests of the dashboard over the simulated rig."""

from __future__ import annotations

import threading
import time

import pytest
from textual.coordinate import Coordinate
from textual.widgets import TabbedContent
from textual.widgets._toast import Toast

from rigtui.config import Settings
from rigtui.sim.environment import SimulatedEnvironment
from rigtui.sim.nvml import ERROR_DRIVER_NOT_LOADED
from rigtui.sources import DashboardSource
from rigtui.telemetry.opening import SamplerOpening
from rigtui.ui.app import RigApp
from rigtui.ui.messages import (
    ModelsRunning,
    OllamaConnected,
    SamplerReady,
    SnapshotTaken,
    SourceFailed,
)
from rigtui.ui.screens.help import HelpScreen
from rigtui.ui.staging import staged_app
from rigtui.ui.widgets.chat_pane import ChatPane
from rigtui.ui.widgets.cpu_panel import CpuPanel
from rigtui.ui.widgets.gpu_card import GpuCard
from rigtui.ui.widgets.history_chart import HistoryChart
from rigtui.ui.widgets.loaded_models import LoadedModels
from rigtui.ui.widgets.nvml_notice import NvmlNotice
from rigtui.ui.widgets.process_table import ProcessTable
from rigtui.ui.widgets.rig_header import RigHeader

from .helpers import (
    Heard,
    SteppedPace,
    first_reading_shown,
    next_reading,
    nvml_calls,
    on_stepped_pace,
    rendered_text,
    sampling_started,
    stepped_until,
    until,
)
from .test_layout_sizes import eight_long_names

POWER_CALL = "nvmlDeviceGetFieldValues"
"""A reading reads its power fields in one call, a power round in one."""


@pytest.fixture(autouse=True)
def _forget_the_simulated_library():
    yield
    from rigtui.sim import uninstall

    uninstall()


async def test_the_gpu_card_shows_the_reading():
    app = staged_app("story", 45.0)
    async with app.run_test(size=(100, 30)) as pilot:
        await first_reading_shown(pilot)
        card = app.screen.query_one("#gpu-card-0", GpuCard)
        assert card.reading == app.snapshot.gpus[0]
        text = rendered_text(card, width=96)
        assert f"{app.snapshot.gpus[0].utilization_gpu_pct}%" in text
        assert "▲ power cap" in text
        assert "Gen4 x4" in text and "Gen4 x16" in text
        assert card.border_title == "GPU 0 · NVIDIA GeForce RTX 4090"
        assert card.has_class("-capped")
        cpu = rendered_text(app.screen.query_one("#cpu-panel", CpuPanel), width=96)
        assert "RAM" in cpu and "64.0 GiB" in cpu


async def test_pause_stops_sampling_and_resume_catches_up():
    app, pace = on_stepped_pace(staged_app("story", 45.0, interval_s=0.25))
    clock = app.environment.clock
    heard = Heard()
    async with app.run_test(size=(100, 30), message_hook=heard) as pilot:
        await first_reading_shown(pilot)
        await sampling_started(pilot, pace)
        first = app.snapshot.taken_at
        clock.set(46.0)
        await next_reading(pilot, pace, heard)
        assert app.snapshot.taken_at > first
        await pilot.press("p")
        await until(pilot, lambda: app.sampling.paused, "sampling paused")
        assert app.screen.query_one(RigHeader).paused
        paused_at = app.snapshot.taken_at
        clock.set(50.0)
        since, samples = heard.mark(), nvml_calls(app, POWER_CALL)
        await pace.advance(4 * app.sampling.interval_s)  # four readings' time
        assert heard.of(SnapshotTaken, since) == []
        assert nvml_calls(app, POWER_CALL) == samples  # nothing read at all
        assert app.snapshot.taken_at == paused_at
        # Resuming reads at once: no step of the clock, the wake is enough.
        await pilot.press("p")
        taken = await heard.arrival(pilot, SnapshotTaken, since=since)
        assert taken.snapshot.taken_at > paused_at
        assert app.snapshot.taken_at > paused_at
        assert not app.screen.query_one(RigHeader).paused


async def test_power_is_read_ten_times_a_second_only_while_a_gpu_works():
    app, pace = on_stepped_pace(staged_app("story", 20.0))  # idle: 0%, 18 W of 450 W
    clock = app.environment.clock
    heard = Heard()

    async def power_calls_in_two_seconds() -> int:
        before = nvml_calls(app, POWER_CALL)
        await pace.advance(2.0)
        return nvml_calls(app, POWER_CALL) - before

    async with app.run_test(size=(100, 30), message_hook=heard) as pilot:
        await first_reading_shown(pilot)
        await sampling_started(pilot, pace)
        assert not app.power_rounds and not app.sampling.power_rounds
        resting = await power_calls_in_two_seconds()
        clock.set(60.0)  # a reply runs: 97%, 440 W
        await next_reading(pilot, pace, heard)
        assert app.power_rounds
        working = await power_calls_in_two_seconds()
        clock.set(20.0 + 300.0)  # the story's next loop: idle again
        await next_reading(pilot, pace, heard)
        assert not app.power_rounds
        resting_again = await power_calls_in_two_seconds()
    # Two seconds of the loop's time: two readings at rest; twenty power rounds beside them not.
    assert resting == resting_again == 2
    assert working >= 20
    assert app.snapshot.gpus[0].power_instant_w is not None


async def test_plus_and_minus_change_the_interval_and_keep_ten_minutes_of_history():
    app = staged_app("story", 45.0)
    async with app.run_test(size=(100, 30)) as pilot:
        await first_reading_shown(pilot)
        await pilot.press("plus")
        assert app.interval_s == 2.0 and app.sampling.interval_s == 2.0
        assert app.history.capacity == 300
        assert app.screen.query_one(RigHeader).interval_s == 2.0
        await pilot.press("minus", "minus", "minus", "minus", "minus")
        assert app.interval_s == 0.25 and app.sampling.interval_s == 0.25
        assert app.history.capacity == 2400


async def test_help_lists_every_binding_and_closes(chat_app):
    app = chat_app(45.0)  # with Ollama: the Chat tab and its keys are there
    async with app.run_test(size=(100, 40)) as pilot:
        await first_reading_shown(pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = rendered_text(app.screen.query_one("#help-table"), width=160)
        for binding in [*RigApp.BINDINGS, *ChatPane.BINDINGS]:
            # Live: only the keys that work here (no Fleet tab without --prometheus).
            if not binding.id.startswith(("replay-", "tab-fleet")):
                assert (binding.tooltip or binding.description) in text
        assert "+" in text and "q" in text
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_charts_nobody_sees_are_never_drawn():
    app, pace = on_stepped_pace(staged_app("story", 45.0, interval_s=0.25))
    clock = app.environment.clock
    heard = Heard()
    async with app.run_test(size=(80, 24), message_hook=heard) as pilot:
        await first_reading_shown(pilot)
        await sampling_started(pilot, pace)
        for second in (46, 47, 48):
            clock.set(second)
            await next_reading(pilot, pace, heard)
        await pilot.pause()  # the frame after the last reading
        charts = list(app.screen.query(HistoryChart))
        assert charts and all(chart.renders == 0 for chart in charts)  # 80x24: no chart visible
        await pilot.press("2")
        big = [chart for chart in charts if chart.id.startswith("big-chart")]
        await until(pilot, lambda: all(chart.renders >= 1 for chart in big), "charts tab drawn")
        assert all(chart.renders == 0 for chart in charts if chart.id.startswith("rig-chart"))


def _cell(table: ProcessTable, row: int, column: str):
    """A cell by its column's key: the columns shown depend on the table's width."""
    return table.get_cell_at(Coordinate(row, table.get_column_index(column)))


async def test_the_processes_tab_lists_the_runner_with_its_command_line():
    app = staged_app("story", 140.0)
    async with app.run_test(size=(120, 40)) as pilot:
        await first_reading_shown(pilot)
        await pilot.press("3")
        table = app.screen.query_one("#gpu-processes", ProcessTable)
        await until(pilot, lambda: table.row_count > 0, "the processes tab filled")
        assert _cell(table, 0, "name").plain == "ollama"
        assert _cell(table, 0, "vram") == "22.8 GiB"
        assert "ollama runner --model" in _cell(table, 0, "command").plain
        cpu_table = app.screen.query_one("#cpu-processes", ProcessTable)
        assert _cell(cpu_table, 0, "name").plain == "ollama"


async def test_process_names_are_shown_literally():
    app = staged_app("story", 45.0)
    rig = app.environment.rig
    rig.spawn("[bold red]pwn\x1b[2J", ("evil",), pid=60001, cpu_cores=9.0)
    rig.gpu_allocate(60001, 0, 1e9, fill_rate_bytes_per_s=1e12)
    app.environment.clock.set(46.0)
    async with app.run_test(size=(120, 40)) as pilot:
        await first_reading_shown(pilot)
        await pilot.press("3")
        table = app.screen.query_one("#gpu-processes", ProcessTable)
        await until(pilot, lambda: table.row_count > 0, "the processes tab filled")
        names = [_cell(table, i, "name").plain for i in range(table.row_count)]
        assert "[bold red]pwn\\x1b[2J" in names


async def test_a_lost_gpu_is_marked_while_the_other_keeps_its_figures():
    app = staged_app("faults", 70.0)
    async with app.run_test(size=(120, 40)) as pilot:
        await first_reading_shown(pilot)
        cards = list(app.screen.query("#gpu-cards GpuCard"))
        assert [card.has_class("-lost") for card in cards] == [False, True]
        assert "GPU lost" in rendered_text(cards[1], width=100)
        assert cards[0].reading.temperature_c is not None
        assert cards[0].has_class("-alert")  # thermal slowdown and a stuck fan


async def test_without_a_driver_the_dashboard_explains_and_shows_the_cpu():
    app = staged_app("story", 45.0)
    app.environment.nvml_library.init_error = ERROR_DRIVER_NOT_LOADED
    async with app.run_test(size=(100, 30)) as pilot:
        await first_reading_shown(pilot)
        notice = app.screen.query_one(NvmlNotice)
        assert notice.display and app.screen.has_class("-no-gpu")
        assert "driver is not loaded" in rendered_text(notice)
        assert not list(app.screen.query("#gpu-cards GpuCard"))
        assert app.screen.query_one("#cpu-panel", CpuPanel).cpu is not None


async def test_a_failing_sampler_is_reported_and_the_app_keeps_running():
    class FlakySampler:
        def __init__(self, inner):
            self.inner = inner
            self.calls = 0

        def __getattr__(self, name):
            return getattr(self.inner, name)

        def sample(self):
            self.calls += 1
            if self.calls == 2:
                raise RuntimeError("psutil hiccup")
            return self.inner.sample()

    base = staged_app("story", 45.0, interval_s=0.25)
    environment = base.environment
    pace = SteppedPace()
    app = RigApp(
        Settings(interval_s=0.25),
        DashboardSource(SamplerOpening(lambda: FlakySampler(environment.sampler()))),
        pace_clock=pace,
    )
    heard = Heard()

    def toasts_saying(words: str) -> list[Toast]:
        return [toast for toast in app.screen.query(Toast) if words in str(toast.render())]

    async with app.run_test(size=(100, 30), notifications=True, message_hook=heard) as pilot:
        await first_reading_shown(pilot)  # the opening's reading: the sampler's first call
        header = app.screen.query_one(RigHeader)
        # The second call fails: the loop's first reading.
        failed = await stepped_until(pilot, pace, heard, SourceFailed, since=0)
        assert failed.error == "sampling failed: psutil hiccup"
        # Said twice: in the header, where it stays until a reading works, and in a toast.
        assert header.problem == "sampling failed: psutil hiccup"
        # Every notification posted (a toast leaves app._notifications when its time ends).
        assert [(n.message, n.severity) for n in heard.notified()] == [
            ("sampling failed: psutil hiccup", "error")
        ]
        await until(pilot, lambda: toasts_saying("psutil hiccup"), "a toast with the error")
        # Sampling goes on: the next reading is shown and clears the problem.
        shown_before = app.snapshots_shown
        await next_reading(pilot, pace, heard)
        assert app.snapshots_shown == shown_before + 1
        assert header.problem == ""
        assert app.is_running


async def test_a_sampler_opened_before_the_app_gives_the_first_frame_its_reading():

    environment = staged_app("story", 45.0).environment
    pace = SteppedPace()
    opening = SamplerOpening(environment.sampler, budget_w=900.0).start()
    opened = opening.result(timeout_s=10)
    assert opened is not None and opened.first is not None and not opened.error
    app = RigApp(Settings(), DashboardSource(opening), pace_clock=pace)
    heard = Heard()
    before_the_loop = []

    def hook(message):
        heard(message)
        if isinstance(message, SnapshotTaken) and not before_the_loop:
            # What the dashboard showed before the first reading from the sampling thread.
            card = app.screen.query_one("#gpu-card-0", GpuCard)
            before_the_loop.append((app.snapshots_shown, app.snapshot, card.reading))

    async with app.run_test(size=(100, 30), message_hook=hook) as pilot:
        await sampling_started(pilot, pace)
        assert opened.sampler.power_watch.budget_w == 900.0
        # The sampling thread goes on with the sampler that was opened for it.
        snapshot = await next_reading(pilot, pace, heard)
        assert app.sampler is opened.sampler
        assert snapshot is not opened.first
    # Shown while the dashboard mounted, before any message from the sampling thread.
    assert heard.of(SamplerReady) == []
    assert before_the_loop == [(1, opened.first, opened.first.gpus[0])]


async def test_the_loop_reads_next_an_interval_after_the_opening_reading():
    app, pace = on_stepped_pace(staged_app("story", 45.0))
    heard = Heard()
    async with app.run_test(size=(100, 30), message_hook=heard) as pilot:
        await first_reading_shown(pilot)
        await sampling_started(pilot, pace)  # the loop waits; its time has not moved
        assert heard.of(SnapshotTaken) == []
        assert app.snapshots_shown == 1


async def test_a_first_reading_that_fails_while_opening_is_reported_and_sampling_goes_on():

    environment = staged_app("story", 45.0, interval_s=0.25).environment

    readings_work = threading.Event()

    def sampler_whose_first_readings_fail():
        sampler = environment.sampler()
        sample = sampler.sample

        def fails_until_allowed():
            if not readings_work.is_set():
                raise RuntimeError("first reading lost")
            return sample()

        sampler.sample = fails_until_allowed
        return sampler

    pace = SteppedPace()
    opening = SamplerOpening(sampler_whose_first_readings_fail).start()
    opened = opening.result(timeout_s=10)
    assert opened.first is None and opened.sampler is not None
    assert opened.error == "sampling failed: first reading lost"
    app = RigApp(Settings(interval_s=0.25), DashboardSource(opening), pace_clock=pace)
    heard = Heard()
    async with app.run_test(size=(100, 30), message_hook=heard) as pilot:
        header = app.screen.query_one(RigHeader)
        assert header.problem == "sampling failed: first reading lost"
        assert app.snapshots_shown == 0
        readings_work.set()
        await next_reading(pilot, pace, heard)
        assert app.snapshots_shown >= 1
        assert header.problem == ""


async def test_the_chat_connects_to_ollama_even_when_sampling_cannot_start():
    from rigtui.llm.ollama import parse_ollama_host

    def broken_sampler():
        sampler = base.environment.sampler()

        def open_fails():
            raise RuntimeError("NVML exploded")

        sampler.open = open_fails
        return sampler

    base = staged_app("story", 45.0, ollama=True)
    address = parse_ollama_host(base.environment.ollama.url)
    app = RigApp(
        Settings(), DashboardSource(SamplerOpening(broken_sampler), ollama_address=address)
    )
    try:
        heard = Heard()
        async with app.run_test(size=(100, 30), message_hook=heard) as pilot:
            header = app.screen.query_one(RigHeader)
            opened = await heard.arrival(pilot, SamplerReady)
            assert opened.opened.first is None
            assert "NVML exploded" in header.problem
            await heard.arrival(pilot, OllamaConnected)
            assert app.ollama_connected
            assert app.snapshots_shown == 0
    finally:
        base.environment.stop_ollama()


async def test_at_80x24_every_part_of_the_rig_tab_is_reached_by_the_keyboard():
    """Two GPUs, Ollama and the process lists do not fit 20 rows: the tab's body has the focus
    from the start, and End, Home and PgDn scroll it to what is below the fold."""
    app = staged_app("dual", 345.0, ollama=True)
    heard = Heard()
    try:
        async with app.run_test(size=(80, 24), message_hook=heard) as pilot:
            await first_reading_shown(pilot)
            await heard.arrival(pilot, ModelsRunning)
            body = app.screen.query_one("#rig-body")
            assert app.focused is body
            last = app.screen.query_one("#rig-cpu-processes")
            assert last.region.y >= body.region.bottom  # below the fold
            await pilot.press("end")
            await until(pilot, lambda: body.scroll_y == body.max_scroll_y > 0, "at the end")
            assert body.region.contains_region(last.region)
            await pilot.press("home")
            await until(pilot, lambda: body.scroll_y == 0, "back at the top")
            await pilot.press("pagedown")
            await until(pilot, lambda: body.scroll_y > 0, "a page down")
            # Short: Ollama's pane is one line with its models, so the lists come sooner.
            models = app.screen.query_one("#rig-models", LoadedModels)
            assert models.brief and models.outer_size.height == 1
            assert "llama3.1:8b 100% GPU" in rendered_text(models, width=80)
            # Back from another tab, the body has the focus again.
            app.action_show_tab("charts-tab")
            await pilot.pause()
            app.action_show_tab("rig-tab")
            await until(pilot, lambda: app.focused is body, "the body focused again")
    finally:
        app.environment.stop_ollama()


async def test_at_120x40_the_gpu_card_is_as_wide_as_at_80x24_and_the_header_keeps_its_clock():
    """The 3:2 split beside the CPU panel made the card 70 columns inside at 120x40, six fewer
    than at 80x24; the power budget's banner pushed the clock off the header."""
    widths = {}
    for size in ((80, 24), (120, 40)):
        app = staged_app("story", 345.0, power_budget_w=500.0)
        async with app.run_test(size=size) as pilot:
            await first_reading_shown(pilot)
            card = app.screen.query_one("#gpu-card-0", GpuCard)
            widths[size] = card.content_size.width
            header = app.screen.query_one(RigHeader)
            line = header.header_line().plain
            assert "⚡" in line, size
            assert line.rstrip().endswith(
                time.strftime("%H:%M:%S", time.localtime(header.taken_at))
            )
    assert widths[(120, 40)] >= widths[(80, 24)] >= 74


async def test_without_ollama_there_is_no_chat_tab_nor_its_key():
    app = staged_app("story", 345.0, ollama=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await first_reading_shown(pilot)
        tabs = app.screen.query_one("#tabs", TabbedContent)
        assert tabs.get_tab("chat-tab").display is False
        assert tabs.get_tab("processes-tab").display is True
        await pilot.press("4")
        await pilot.pause()
        assert tabs.active == "rig-tab"
        assert app.check_action("show_tab", ("chat-tab",)) is False
        assert app.check_action("show_tab", ("charts-tab",)) is True


async def test_the_processes_tab_wraps_a_long_command_line_in_the_width_left():
    """The runner's command line is longer than 80 columns: the Command column takes what the
    other columns leave and wraps in it, rather than running off the edge cut mid-word."""
    app = staged_app("story", 345.0)
    async with app.run_test(size=(80, 24)) as pilot:
        await first_reading_shown(pilot)
        await pilot.press("3")
        table = app.screen.query_one("#gpu-processes", ProcessTable)
        await until(pilot, lambda: table.row_count > 0, "the processes tab filled")
        # Shown for the first time, the table is wrapped again at its width a frame later.
        await until(pilot, lambda: table.wrapped_to_its_width, "wrapped at the tab's width")
        await pilot.pause()
        widths = sum(column.get_render_width(table) for column in table.columns.values())
        assert widths <= table.scrollable_content_region.width
        command = _cell(table, 0, "command").plain
        assert len(command) > 80
        assert table.rows[table.coordinate_to_cell_key((0, 0)).row_key].height > 1
        await pilot.resize_terminal(160, 50)
        await until(
            pilot,
            lambda: (
                sum(column.get_render_width(table) for column in table.columns.values()) > widths
            ),
            "the command column widened",
        )


async def test_many_gpus_on_a_short_terminal_get_two_lines_each():
    """Eight GPUs at 80x24: a card is its border and two lines (seven rows before)."""
    app = staged_app("dual", 345.0, environment=SimulatedEnvironment(eight_long_names()))
    async with app.run_test(size=(80, 24)) as pilot:
        await first_reading_shown(pilot)
        cards = list(app.screen.query("#gpu-cards GpuCard").results(GpuCard))
        assert len(cards) == 8 and all(card.brief for card in cards)
        await until(pilot, lambda: cards[0].outer_size.height == 4, "the cards laid out brief")
        assert "PWR 443/450 W" in rendered_text(cards[0], width=80)
        await pilot.resize_terminal(160, 50)
        await until(pilot, lambda: not cards[0].brief, "tall enough for the full cards")
