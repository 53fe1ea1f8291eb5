"""The top line: host, driver, sampling state and the time of the shown reading.

It changes every second (the time), so it is painted as a kept line that is rebuilt only when
its text changes: rendered the general way, through ``render``, it cost more than a GPU card."""

from __future__ import annotations

import time

from rich.cells import cell_len
from rich.text import Text
from textual.reactive import reactive

from rigtui.telemetry.model import NvmlStatus, PowerBudgetReading
from rigtui.ui.render.palette import theme_palette
from rigtui.ui.widgets.text_panel import TextPanel


class RigHeader(TextPanel):
    wrap_lines = False  # one line, cut at the edge

    hostname: reactive[str] = reactive("", repaint=False)
    nvml: reactive[NvmlStatus | None] = reactive(None, repaint=False)
    interval_s: reactive[float] = reactive(1.0, repaint=False)
    paused: reactive[bool] = reactive(False, repaint=False)
    taken_at: reactive[float | None] = reactive(None, repaint=False)
    source: reactive[str] = reactive("", repaint=False)
    """``demo: story`` over the simulated rig, ``replay`` …; empty for the live rig."""
    problem: reactive[str] = reactive("", repaint=False)
    power: reactive[PowerBudgetReading | None] = reactive(None, repaint=False)

    def _changed(self) -> None:
        self.update_lines()

    watch_hostname = watch_nvml = watch_interval_s = watch_paused = _changed
    watch_taken_at = watch_source = watch_problem = watch_power = _changed

    def panel_lines(self) -> list[Text]:
        return [self.header_line()]

    def header_line(self) -> Text:
        """The name, host and time always; the rest by what matters most where the line is
        short: a problem, the pause, the power budget (long, then short), the demo or replay,
        the interval, the driver, CUDA. Each piece whole or not at all."""
        palette = theme_palette(self.app.current_theme)
        stamp = ""
        if self.taken_at is not None:
            stamp = time.strftime("%H:%M:%S", time.localtime(self.taken_at))
        # (place on the line, forms from longest to shortest, style), in order of importance.
        pieces: list[tuple[int, list[str], str]] = []
        if self.problem:
            pieces.append((7, _shortened(f"  {self.problem}"), f"bold {palette.error}"))
        if self.paused:
            pieces.append((5, ["  ⏸ PAUSED"], f"bold {palette.warning}"))
        power = self.power
        if power is not None and power.budget_w:
            if power.over_budget_w is not None:
                ago = max(0, (self.taken_at or 0) - (power.over_budget_at or 0))
                over, budget = f"{power.over_budget_w:.0f}", f"{power.budget_w:.0f}"
                forms = [
                    f"  ⚡ {over} W spike over the {budget} W budget {ago:.0f} s ago",
                    f"  ⚡ {over} W over {budget} W budget {ago:.0f} s ago",
                    f"  ⚡ {over}/{budget} W {ago:.0f} s ago",
                ]
                pieces.append((6, forms, f"bold reverse {palette.error}"))
            elif power.peak_60s_w is not None:
                peak = f"{power.peak_60s_w:.0f}/{power.budget_w:.0f} W"
                pieces.append((6, [f"  GPU peak {peak}", f"  peak {peak}"], palette.muted))
        if self.source:
            pieces.append((1, [f"  {self.source}"], f"bold {palette.accent}"))
        if self.interval_s:  # 0 while replaying a recording
            pieces.append((4, [f"  every {self.interval_s:g} s"], palette.muted))
        nvml = self.nvml
        if nvml is not None and nvml.available:
            pieces.append((2, [f"  driver {nvml.driver_version or '?'}"], palette.muted))
            if nvml.cuda_version:
                pieces.append((3, [f" · CUDA {nvml.cuda_version}"], palette.muted))
        elif nvml is not None:
            pieces.append((2, ["  no NVIDIA GPU"], palette.warning))

        line = Text.styled(" rigtui ", style=f"bold reverse {palette.normal}")
        line.append(f" {self.hostname}", style="bold")
        width = self.line_width
        room = width - line.cell_len - (len(stamp) + 2 if stamp else 0)
        chosen: dict[int, tuple[str, str]] = {}
        for place, forms, style in pieces:
            if place == 3 and 2 not in chosen:
                continue  # CUDA only beside the driver
            form = next((form for form in forms if cell_len(form) <= room), None)
            if form is not None:
                chosen[place] = (form, style)
                room -= cell_len(form)
        for place in sorted(chosen):
            form, style = chosen[place]
            line.append(form, style=style)
        if stamp and width >= line.cell_len + len(stamp) + 1:
            line.append(" " * (width - line.cell_len - len(stamp) - 1))
            line.append(stamp, style="bold")
        return line


def _shortened(text: str) -> list[str]:
    """``text``, then shorter and shorter at word boundaries, marked with an ellipsis."""
    words = text.split(" ")
    return [text] + [" ".join(words[:end]) + "…" for end in range(len(words) - 1, 2, -1)]
