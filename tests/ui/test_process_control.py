"""The Processes tab by keyboard: sort, filter, scroll, the cursor kept on its PID; and signals
sent to REAL child processes that the simulated NVML lists as GPU processes."""

from __future__ import annotations

import subprocess

import pytest
from textual.widgets import Input, Static

from rigtui.config import Settings
from rigtui.sim import ManualClock, SimulatedEnvironment
from rigtui.sim.rig import MIB
from rigtui.sources import DashboardSource, dashboard_source
from rigtui.telemetry.nvml import NvmlSource
from rigtui.telemetry.opening import SamplerOpening
from rigtui.telemetry.sampler import RigSampler
from rigtui.telemetry.system import SystemSource
from rigtui.ui.app import RigApp
from rigtui.ui.messages import ProcessSignalChecked, ProcessSignalSent, SamplerReady
from rigtui.ui.screens.confirm_signal import ConfirmSignalScreen
from rigtui.ui.screens.help import HelpScreen
from rigtui.ui.staging import staged_app
from rigtui.ui.widgets.process_pane import ProcessPane
from rigtui.ui.widgets.process_table import ProcessTable

from .helpers import Heard, first_reading_shown, next_reading, on_stepped_pace, rendered_text, until

SIZES = [(120, 40), (80, 24)]


def row_pids(table: ProcessTable) -> list[int]:
    keys = [str(row.key.value) for row in table.ordered_rows]
    return [int(key.split(":")[-1]) for key in keys if key != "-empty-"]


def header(table: ProcessTable) -> list[str]:
    return [str(column.label) for column in table.ordered_columns]


def status_line(app) -> str:
    return rendered_text(app.screen.query_one("#process-status", Static), 200).strip()


async def processes_tab(pilot) -> tuple[ProcessTable, ProcessTable]:
    await first_reading_shown(pilot)
    await pilot.press("3")
    gpu = pilot.app.screen.query_one("#gpu-processes", ProcessTable)
    cpu = pilot.app.screen.query_one("#cpu-processes", ProcessTable)
    await until(pilot, lambda: gpu.row_count > 0 and pilot.app.focused is gpu, "the tab filled")
    return gpu, cpu


def busy_rig_app():
    """The story while a model generates, with two more GPU processes and forty idle ones."""
    staged = staged_app("story", 345.0)
    rig = staged.environment.rig
    for pid, name, vram, sm in ((50001, "embedder", 4e9, 30.0), (50002, "whisper", 1e9, 2.0)):
        rig.spawn(name, (name, "--serve"), pid=pid, username="alice", cpu_cores=0.3)
        rig.gpu_allocate(pid, 0, vram, fill_rate_bytes_per_s=1e12)
        rig.gpu_activity(pid, 0, sm_util_pct=sm)
    for number in range(40):
        rig.spawn(f"worker-{number:02}", ("worker", str(number)), pid=60000 + number)
    staged.environment.clock.set(346.0)
    return on_stepped_pace(staged)


@pytest.mark.parametrize("size", SIZES, ids=lambda size: f"{size[0]}x{size[1]}")
async def test_sort_keys_cycle_and_reverse_with_the_column_marked(size):
    app, _pace = busy_rig_app()
    async with app.run_test(size=size) as pilot:
        gpu, _cpu = await processes_tab(pilot)
        runner = next(
            p.pid for p in app.environment.rig.processes.values() if p.name == "ollama" and p.gpu
        )
        assert "VRAM▼" in header(gpu)
        assert row_pids(gpu) == [runner, 50001, 50002]  # biggest VRAM first
        # A key's sort marks the column and orders the rows in one go: wait for the mark.
        await pilot.press("s")
        await until(pilot, lambda: "SM%▼" in header(gpu), "sorted by SM%")
        assert "VRAM▼" not in header(gpu)
        assert row_pids(gpu) == [runner, 50001, 50002]  # busiest first
        await pilot.press("r")
        await until(pilot, lambda: "SM%▲" in header(gpu), "reversed")
        assert row_pids(gpu) == [50002, 50001, runner]
        await pilot.press("s", "s", "s")  # CPU, memory, then PID
        await until(pilot, lambda: "PID▲" in header(gpu), "sorted by PID")
        assert row_pids(gpu) == sorted(row_pids(gpu))
        await pilot.press("s")
        await until(pilot, lambda: "Name▲" in header(gpu), "sorted by name")
        assert row_pids(gpu) == [50001, runner, 50002]  # embedder, ollama, whisper
        await pilot.press("s")
        await until(pilot, lambda: "VRAM▼" in header(gpu), "round again")


@pytest.mark.parametrize("size", SIZES, ids=lambda size: f"{size[0]}x{size[1]}")
async def test_filter_as_you_type_and_escape_clears_it(size):
    app, _pace = busy_rig_app()
    async with app.run_test(size=size) as pilot:
        gpu, cpu = await processes_tab(pilot)
        pane = app.screen.query_one(ProcessPane)
        field = app.screen.query_one("#process-filter", Input)
        assert not field.display
        await pilot.press("slash")
        await until(pilot, lambda: field.display and app.focused is field, "the filter open")
        # The pane filters the tables as it hears the field change: wait for what it heard.
        await pilot.press("a", "l", "i")  # alice's processes: by user
        await until(pilot, lambda: pane.filter_text == "ali", "filtered by 'ali'")
        assert row_pids(gpu) == [50001, 50002]
        assert sorted(row_pids(cpu)) == [50001, 50002]
        assert status_line(app).startswith("filter 'ali': 2 of 3 GPU, 2 of")
        # While typing, s, r, T and K are letters of the filter, not keys.
        await pilot.press("s")
        await until(pilot, lambda: pane.filter_text == "alis", "filtered by 'alis'")
        assert field.value == "alis" and row_pids(gpu) == []
        assert "no process matches 'alis'" in str(gpu.get_row_at(0))
        await pilot.press("backspace", "backspace", "backspace", "backspace")
        await pilot.press(*"whisper")  # by name
        await until(pilot, lambda: pane.filter_text == "whisper", "filtered by 'whisper'")
        assert row_pids(gpu) == [50002]
        await pilot.press("enter")  # kept, back in the table
        await until(pilot, lambda: app.focused is gpu, "back in the table")
        assert app.focused is gpu and row_pids(gpu) == [50002]
        await pilot.press("escape")  # from the table: cleared
        await until(pilot, lambda: not field.display, "the filter closed")
        assert not field.display and field.value == ""
        assert len(row_pids(gpu)) == 3 and app.focused is gpu
        # The field takes the keys once it has the focus (a later hop than the slash's).
        await pilot.press("slash")
        await until(pilot, lambda: app.focused is field, "the filter open again")
        await pilot.press("6", "0", "0", "0", "7")  # by PID
        await until(pilot, lambda: pane.filter_text == "60007", "filtered by '60007'")
        await pilot.press("escape")
        await until(pilot, lambda: not field.display, "the filter closed again")
        assert len(row_pids(gpu)) == 3 and not field.display


@pytest.mark.parametrize("size", SIZES, ids=lambda size: f"{size[0]}x{size[1]}")
async def test_every_process_is_listed_scrollable_and_the_cursor_keeps_its_pid(size):
    app, pace = busy_rig_app()
    heard = Heard()
    async with app.run_test(size=size, message_hook=heard) as pilot:
        _gpu, cpu = await processes_tab(pilot)
        rig = app.environment.rig
        # Shown, the tab asks for every process, not the busiest dozen: the next reading has them.
        await next_reading(pilot, pace, heard)
        await until(pilot, lambda: cpu.row_count == len(rig.processes), "every process listed")
        assert cpu.row_count > 40
        await pilot.press("tab")  # to the CPU table
        await until(pilot, lambda: app.focused is cpu, "the CPU table focused")
        await pilot.press(*["down"] * 60)
        await until(
            pilot,
            lambda: cpu.cursor_row == cpu.row_count - 1 and cpu.scroll_y > 0,
            "down to the last process",
        )
        await pilot.press("home")  # the first process, and End the last, as in nvitop
        await until(pilot, lambda: cpu.cursor_row == 0 and cpu.scroll_y == 0, "the first")
        await pilot.press("end")
        await until(
            pilot, lambda: cpu.cursor_row == cpu.row_count - 1 and cpu.scroll_y > 0, "the last"
        )
        chosen = cpu.selected_key
        # It becomes the busiest: it moves to the top, and the cursor goes with it.
        rig.set_cpu(int(chosen), 6.0)
        app.environment.clock.set(348.0)
        await next_reading(pilot, pace, heard)
        await until(pilot, lambda: row_pids(cpu)[0] == int(chosen), "re-sorted")
        assert cpu.selected_key == chosen and cpu.cursor_row == 0
        # Hidden again, the busiest dozen is enough (once the app has told the sampler).
        await pilot.press("1")
        await until(pilot, lambda: not app.sampler.system.all_processes, "the dozen asked for")
        await next_reading(pilot, pace, heard)
        assert len(app.snapshot.processes) == 12


# --- signals to real processes ------------------------------------------------------------------


@pytest.fixture
def children():
    """Real processes of this machine, ended after the test whatever happened."""
    started: list[subprocess.Popen] = []

    def start() -> subprocess.Popen:
        process = subprocess.Popen(["sleep", "600"])
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait()


@pytest.fixture
def real_pids_app():
    """The simulated NVML listing real PIDs (``list_real_process``), read with the real psutil:
    the PIDs are this machine's, so signals go to them."""
    environments = []

    def make(*processes: subprocess.Popen) -> RigApp:
        environment = SimulatedEnvironment("story", clock=ManualClock())
        environment.install()
        environments.append(environment)
        for number, process in enumerate(processes):
            environment.rig.list_real_process(
                process.pid, "sleep", 0, vram_bytes=(2 - number) * 1024 * MIB, sm_util_pct=20.0
            )
        environment.clock.set(1.0)  # before the story's first step: only these on the GPU

        def sampler() -> RigSampler:
            return RigSampler(
                NvmlSource(), SystemSource(), clock=environment.rig.epoch_time, hostname="rig"
            )

        app = RigApp(Settings(ollama=False), DashboardSource(SamplerOpening(sampler)))
        app.environment = environment
        return app

    yield make
    for environment in environments:
        environment.uninstall()


async def confirm_screen(pilot) -> ConfirmSignalScreen:
    await until(pilot, lambda: isinstance(pilot.app.screen, ConfirmSignalScreen), "asked")
    return pilot.app.screen


@pytest.mark.parametrize("size", SIZES, ids=lambda size: f"{size[0]}x{size[1]}")
async def test_terminate_then_kill_real_children_each_after_a_confirmation(
    size, children, real_pids_app
):
    first, second = children(), children()
    app = real_pids_app(first, second)
    heard = Heard()
    async with app.run_test(size=size, message_hook=heard, notifications=True) as pilot:
        gpu, _cpu = await processes_tab(pilot)
        assert row_pids(gpu) == [first.pid, second.pid]
        # Through the real pynvml: the first reading has the simulated 20 % (later ones 0 %:
        # the still clock makes no newer sample).
        first_reading = heard.of(SamplerReady)[0].opened.first
        assert [p.sm_util_pct for p in first_reading.gpus[0].processes] == [20, 20]
        await pilot.press("T")
        asked = await confirm_screen(pilot)
        assert asked.question == (
            f"Terminate sleep (PID {first.pid})?\n"
            "user root · VRAM 2.0 GiB on GPU 0\n"
            "Sends SIGTERM: asks it to exit: it may save its work and clean up."
        )
        assert first.poll() is None  # nothing sent before the answer
        await pilot.press("y")
        sent = await heard.arrival(pilot, ProcessSignalSent)
        assert sent.outcome.sent and sent.outcome.message == (
            f"Sent SIGTERM to sleep (PID {first.pid})."
        )
        assert first.wait(timeout=10) == -15
        assert second.poll() is None
        await pilot.press("down", "K")
        asked = await confirm_screen(pilot)
        assert asked.question.startswith(f"Kill sleep (PID {second.pid})?\n")
        assert "Sends SIGKILL: ends it at once" in asked.question
        await pilot.press("y")
        killed = await heard.arrival(
            pilot, ProcessSignalSent, lambda m: m.outcome.target.pid == second.pid
        )
        assert killed.outcome.sent and killed.outcome.signal_name == "SIGKILL"
        assert second.wait(timeout=10) == -9


async def test_cancel_sends_nothing(children, real_pids_app):
    child = children()
    app = real_pids_app(child)
    heard = Heard()
    async with app.run_test(size=(120, 40), message_hook=heard) as pilot:
        await processes_tab(pilot)
        await pilot.press("K")
        await confirm_screen(pilot)
        await pilot.press("enter")  # Cancel has the focus: Enter alone sends nothing
        await until(pilot, lambda: not isinstance(app.screen, ConfirmSignalScreen), "closed")
        await pilot.press("T")
        await confirm_screen(pilot)
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, ConfirmSignalScreen), "closed")
        assert heard.of(ProcessSignalSent) == []
        assert child.poll() is None


async def test_a_process_gone_by_then_is_reported_not_an_error(children, real_pids_app):
    child = children()
    app = real_pids_app(child)
    heard = Heard()
    async with app.run_test(size=(120, 40), message_hook=heard, notifications=True) as pilot:
        await processes_tab(pilot)
        child.kill()
        child.wait()
        await pilot.press("T")
        checked = await heard.arrival(pilot, ProcessSignalChecked)
        assert (
            checked.check.gone and checked.check.refusal == f"PID {child.pid} has already exited."
        )
        assert not isinstance(app.screen, ConfirmSignalScreen)
        # Every notification posted, not the toasts still up: a toast goes when its time ends.
        toasts = [n.message for n in heard.notified()]
        assert toasts == [f"PID {child.pid} has already exited."]
        assert [n.severity for n in heard.notified()] == ["information"]


async def test_another_users_process_is_refused_before_asking(children, real_pids_app):
    child = children()
    app = real_pids_app(child)
    app.process_signal_uid = 65534  # rigtui as nobody, not root: root's child is not its own
    heard = Heard()
    async with app.run_test(size=(80, 24), message_hook=heard, notifications=True) as pilot:
        await processes_tab(pilot)
        await pilot.press("K")
        checked = await heard.arrival(pilot, ProcessSignalChecked)
        assert checked.check.refusal == (
            f"PID {child.pid} belongs to root, and rigtui runs as nobody: only root may signal "
            "another user's process."
        )
        assert not isinstance(app.screen, ConfirmSignalScreen)
        assert [n.message for n in heard.notified()] == [checked.check.refusal]
        assert child.poll() is None


async def test_the_demo_never_signals_its_invented_pids():
    app = staged_app("story", 345.0)
    heard = Heard()
    async with app.run_test(size=(120, 40), message_hook=heard, notifications=True) as pilot:
        await processes_tab(pilot)
        before = set(app.environment.rig.processes)
        await pilot.press("K")
        checked = await heard.arrival(pilot, ProcessSignalChecked)
        assert checked.check.refusal.startswith(
            "This is the demo: its processes are invented by the simulation, so no signal is sent"
        )
        assert not isinstance(app.screen, ConfirmSignalScreen)
        assert set(app.environment.rig.processes) == before


async def test_a_replay_never_signals_recorded_pids(recording_path):
    app = RigApp(Settings(), dashboard_source(Settings(), replay=recording_path))
    heard = Heard()
    async with app.run_test(size=(120, 40), message_hook=heard) as pilot:
        await until(pilot, lambda: app.snapshots_shown > 0, "the first sample on screen")
        await pilot.press("3")
        gpu = app.screen.query_one("#gpu-processes", ProcessTable)
        await until(pilot, lambda: bool(row_pids(gpu)), "the recorded processes listed")
        await until(pilot, lambda: app.focused is gpu, "the table has the focus")
        await pilot.press("T")
        checked = await heard.arrival(pilot, ProcessSignalChecked)
        assert checked.check.refusal.startswith("This is a recording")
        assert not isinstance(app.screen, ConfirmSignalScreen)


async def test_the_keys_are_in_the_footer_the_help_and_the_palette():
    app = staged_app("story", 345.0)
    async with app.run_test(size=(120, 40)) as pilot:
        await processes_tab(pilot)
        active = {key for key, active in app.screen.active_bindings.items() if active.enabled}
        assert {"s", "r", "slash", "T", "K"} <= active
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen), "help open")
        text = rendered_text(app.screen.query_one("#help-table", Static), 100)
        assert "In the Processes tab (3)" in text
        assert "terminate the selected process" in text and "kill the selected process" in text
        await pilot.press("escape")
        titles = [command.title for command in app.get_system_commands(app.screen)]
        assert "Processes: terminate the selected process" in titles
        assert "Processes: filter" in titles
        command = next(
            c for c in app.get_system_commands(app.screen) if c.title == "Processes: filter"
        )
        command.callback()
        field = app.screen.query_one("#process-filter", Input)
        await until(pilot, lambda: app.focused is field, "the filter opened from the palette")
        assert isinstance(field.parent, ProcessPane)
