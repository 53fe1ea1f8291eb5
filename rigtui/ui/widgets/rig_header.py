"""The top line: host, driver, sampling state and the time of the shown reading.

It changes every second (the time), so it is painted as a kept line that is rebuilt only when
its text changes: rendered the general way, through ``render``, it cost more than a GPU card."""

from __future__ import annotations

import time

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
        palette = theme_palette(self.app.current_theme)
        line = Text.styled(" rigtui ", style=f"bold reverse {palette.normal}")
        line.append(f" {self.hostname}", style="bold")
        if self.source:
            line.append(f"  {self.source}", style=f"bold {palette.accent}")
        nvml = self.nvml
        if nvml is not None and nvml.available:
            line.append(f"  driver {nvml.driver_version or '?'}", style=palette.muted)
            if nvml.cuda_version:
                line.append(f" · CUDA {nvml.cuda_version}", style=palette.muted)
        elif nvml is not None:
            line.append("  no NVIDIA GPU", style=palette.warning)
        if self.interval_s:  # 0 while replaying a recording
            line.append(f"  every {self.interval_s:g} s", style=palette.muted)
        if self.paused:
            line.append("  ⏸ PAUSED", style=f"bold {palette.warning}")
        power = self.power
        if power is not None and power.budget_w:
            if power.over_budget_w is not None:
                ago = (self.taken_at or 0) - (power.over_budget_at or 0)
                line.append(
                    f"  ⚡ {power.over_budget_w:.0f} W spike over the {power.budget_w:.0f} W "
                    f"budget {max(0, ago):.0f} s ago",
                    style=f"bold reverse {palette.error}",
                )
            elif power.peak_60s_w is not None:
                line.append(
                    f"  GPU peak {power.peak_60s_w:.0f}/{power.budget_w:.0f} W",
                    style=palette.muted,
                )
        if self.problem:
            line.append(f"  {self.problem}", style=f"bold {palette.error}")
        if self.taken_at is not None:
            stamp = time.strftime("%H:%M:%S", time.localtime(self.taken_at))
            width = self.line_width
            if width > line.cell_len + len(stamp) + 2:
                line.append(" " * (width - line.cell_len - len(stamp) - 1))
                line.append(stamp, style="bold")
        return line
