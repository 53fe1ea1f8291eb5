"""Every tab at every common terminal size, over the longest texts: nothing cut mid-word.

Each screen is drawn as the terminal would show it; every word that a dashboard panel shows must
be a word that panel would show with room to spare (the same figures and sentences, at a width of
a thousand columns). A figure cut at the edge ("20.9/24.0 Gi", "RX 3", "Max…", "B") is not one.
"""

from __future__ import annotations

import dataclasses
import io

import pytest
from rich.console import Console
from textual.widget import Widget
from textual.widgets import DataTable

from rigtui.sim import uninstall
from rigtui.sim.environment import SimulatedEnvironment
from rigtui.sim.rig import RTX_4090
from rigtui.sim.scenario import DESKTOP_4090, SCENARIOS, Scenario
from rigtui.ui.render.chart import plan_chart
from rigtui.ui.render.cpu import cpu_panel_lines, cpu_title
from rigtui.ui.render.gpu import (
    gpu_card_brief_lines,
    gpu_card_compact_lines,
    gpu_card_lines,
    gpu_subtitle,
    gpu_title,
)
from rigtui.ui.render.palette import theme_palette
from rigtui.ui.screens.help import HelpScreen
from rigtui.ui.staging import staged_app
from rigtui.ui.widgets.cpu_panel import CpuPanel
from rigtui.ui.widgets.gpu_card import GpuCard
from rigtui.ui.widgets.history_chart import HistoryChart
from rigtui.ui.widgets.loaded_models import LoadedModels
from rigtui.ui.widgets.process_list import ProcessList
from rigtui.ui.widgets.process_table import ProcessTable
from rigtui.ui.widgets.rig_header import RigHeader

from .helpers import first_reading_shown, until

SIZES = ((80, 24), (100, 30), (120, 40), (160, 50), (200, 60))
TABS = ("rig-tab", "charts-tab", "processes-tab", "chat-tab")
LONG_NAME = "NVIDIA RTX PRO 6000 Blackwell Max-Q Workstation Edition"
AMPLE = 1000
DRAWING = set("╭╮╰╯─│┤└┘┌┐━╌┏┓┗┛┃▪▔▁▂▃▄▅▆▇█▉▊▋▌▍▎▏·") | {chr(c) for c in range(0x2800, 0x2900)}
"""Borders, bars, braille and rules: drawing, not words."""


def eight_long_names() -> Scenario:
    """Eight cards with the longest name NVIDIA ships, running the two-card story."""
    model = dataclasses.replace(RTX_4090, name=LONG_NAME)
    slots = tuple(
        dataclasses.replace(
            DESKTOP_4090, model=model, pci_bus_id=f"00000000:{n + 1:02X}:00.0", uuid=f"GPU-{n}"
        )
        for n in range(8)
    )
    return Scenario("eight", "eight long-named cards", slots, SCENARIOS["dual"].script)


def words(text: str) -> set[str]:
    found = set()
    for word in text.split():
        kept = "".join(char for char in word if char not in DRAWING)
        if kept:
            found.add(kept)
    return found


def plain(lines) -> str:
    return "\n".join(line.plain for line in lines)


def vocabulary(widget: Widget) -> set[str]:
    """The words ``widget`` shows given all the room it could want."""
    palette = theme_palette(widget.app.current_theme)
    if isinstance(widget, GpuCard):
        reading, insight = widget.reading, widget.insight
        if reading is None:
            return words("GPU waiting for the first reading…") | {str(widget.index)}
        return words(
            plain(gpu_card_lines(reading, AMPLE, palette, insight))
            + plain(gpu_card_brief_lines(reading, AMPLE, palette, insight))
            + plain(gpu_card_compact_lines(reading, AMPLE, palette, insight))
            + f" {gpu_title(reading)} {gpu_subtitle(reading)} mem fan-stop not spinning PWR VRAM"
        )
    if isinstance(widget, CpuPanel):
        if widget.cpu is None or widget.memory is None:
            return words("CPU waiting for the first reading…")
        return words(
            plain(cpu_panel_lines(widget.cpu, widget.memory, AMPLE, 100, palette))
            + plain(cpu_panel_lines(widget.cpu, widget.memory, 40, 4, palette))
            + " "
            + cpu_title(widget.cpu)
        )
    if isinstance(widget, RigHeader | LoadedModels | ProcessList):
        text = str(widget.border_title or "")
        brief = getattr(widget, "brief", None)
        for mode in (False, True) if brief is not None else (None,):
            if mode is not None:
                widget.set_reactive(LoadedModels.brief, mode)
            widget._fitting_width = AMPLE
            try:
                text += " " + plain(widget.panel_lines())
            finally:
                widget._fitting_width = None
        if brief is not None:
            widget.set_reactive(LoadedModels.brief, brief)
        return words(text)
    if isinstance(widget, HistoryChart):
        # The tick labels are those of the plan drawn (its height sets them).
        drawn = widget._plan or plan_chart(widget.data, widget.title, AMPLE, 4)
        labels = " ".join(label for _, label in drawn.tick_rows)
        legend = " ".join(label for label, _ in drawn.legend)
        return words(f"{widget.title} {legend} {labels} -10m -5m now")
    if isinstance(widget, DataTable):
        text = " ".join(column.label.plain for column in widget.columns.values())
        for row in range(widget.row_count):
            text += " " + " ".join(str(cell) for cell in widget.get_row_at(row))
        return words(text)
    raise AssertionError(f"no vocabulary for {widget!r}")


CHECKED = (GpuCard, CpuPanel, RigHeader, LoadedModels, ProcessList, HistoryChart, ProcessTable)


def cut_words(app) -> dict[str, set[str]]:
    """For each dashboard panel on screen: the words it shows that are not its own."""
    screen = app.screen
    compositor = screen._compositor
    rows = ["".join(segment.text for segment in strip) for strip in compositor.render_strips()]
    cut = {}
    for widget, (region, clip) in compositor.visible_widgets.items():
        if not isinstance(widget, CHECKED):
            continue
        seen = region.intersection(clip)
        text = "\n".join(row[seen.x : seen.right] for row in rows[seen.y : seen.bottom])
        # A word on the visible part's edge may go on past it (a scrolled-off line): only
        # the whole lines of the panel count.
        if seen.width < region.width:
            continue
        known = vocabulary(widget)
        strange = words(text) - known
        if isinstance(widget, DataTable):
            # A command line's path or hash longer than the column is folded, all of it shown.
            strange = {word for word in strange if not any(word in one for one in known)}
        if strange:
            cut[f"{type(widget).__name__}#{widget.id}"] = strange
    return cut


def help_is_whole(app) -> set[str]:
    """The words on the help screen that no line of its table has whole."""
    help_screen = app.screen
    assert isinstance(help_screen, HelpScreen)
    console = Console(width=AMPLE, file=io.StringIO(), record=True)
    console.print(help_screen._table())
    known = words(console.export_text()) | words(
        "Press Esc, q or ? to close. The mouse works too: click a tab, scroll a table."
    )
    rows = [
        "".join(segment.text for segment in strip)
        for strip in help_screen._compositor.render_strips()
    ]
    body = help_screen.query_one("#help-body").region
    shown = "\n".join(row[body.x : body.right] for row in rows[body.y : body.bottom])
    return words(shown) - known


@pytest.fixture(autouse=True)
def _forget_the_simulated_library():
    yield
    uninstall()


@pytest.mark.parametrize(
    ("scenario", "at_s", "sizes"),
    [
        # Eight long-named cards, the power budget's banner, a reply generating: a size per
        # test, so that two workers share them.
        *(("eight", 345.0, (size,)) for size in SIZES),
        # One card, the 70B model half on the CPU: the longest WHY and advice lines.
        ("story", 440.0, ((80, 24), (120, 40))),
        # A lost card, a stuck fan, thermal slowdown, a link at Gen2.
        ("faults", 370.0, ((100, 30), (160, 50))),
    ],
)
async def test_every_tab_at_every_size_shows_every_word_whole(scenario, at_s, sizes):
    environment = SimulatedEnvironment(eight_long_names()) if scenario == "eight" else None
    app = staged_app(
        "dual" if scenario == "eight" else scenario,
        at_s,
        ollama=True,
        power_budget_w=500.0,
        environment=environment,
    )
    cuts = {}
    try:
        async with app.run_test(size=sizes[0]) as pilot:
            await first_reading_shown(pilot)
            for size in sizes:
                await pilot.resize_terminal(*size)
                for tab in TABS:
                    app.action_show_tab(tab)
                    await until(
                        pilot,
                        lambda tab=tab: app.dashboard.query_one("#tabs").active == tab,
                        f"{tab} shown",
                    )
                    await pilot.pause()
                    await pilot.pause()
                    cut = cut_words(app)
                    if cut:
                        cuts[(size, tab)] = cut
                    header = app.dashboard.header
                    clock = header.header_line().plain.split()[-1]
                    assert clock.count(":") == 2, (size, tab, header.header_line().plain)
                if scenario != "eight" or size not in (SIZES[0], SIZES[-1]):
                    continue  # the help screen's text is the same in every scenario
                app.action_help()
                await until(pilot, lambda: isinstance(app.screen, HelpScreen), "help shown")
                await pilot.pause()
                strange = help_is_whole(app)
                if strange:
                    cuts[(size, "help")] = {"HelpScreen": strange}
                await pilot.press("escape")
                await until(pilot, lambda: not isinstance(app.screen, HelpScreen), "help gone")
    finally:
        app.environment.stop_ollama()
    import pprint

    assert cuts == {}, pprint.pformat(cuts)
