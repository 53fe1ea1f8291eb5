"""CPU load (total and per core), RAM and swap."""

from __future__ import annotations

from rich.console import Group
from textual.reactive import reactive
from textual.widget import Widget

from rigtui.telemetry.model import CpuReading, MemoryReading
from rigtui.ui.render.cpu import cpu_panel_lines, cpu_title
from rigtui.ui.render.palette import Palette


class CpuPanel(Widget):
    cpu: reactive[CpuReading | None] = reactive(None, layout=True)
    memory: reactive[MemoryReading | None] = reactive(None, layout=True)
    max_core_rows: reactive[int] = reactive(4, layout=True)

    def __init__(self, *, id: str | None = "cpu-panel") -> None:
        super().__init__(id=id)
        self.border_title = "CPU"

    def show(self, cpu: CpuReading, memory: MemoryReading) -> None:
        self.border_title = cpu_title(cpu)
        self.set_reactive(CpuPanel.memory, memory)
        self.cpu = cpu

    def render(self) -> Group:
        if self.cpu is None or self.memory is None:
            return Group("waiting for the first reading…")
        palette: Palette = getattr(self.app, "palette", Palette())
        lines = cpu_panel_lines(
            self.cpu, self.memory, max(20, self.content_size.width), self.max_core_rows + 3, palette
        )
        return Group(*lines)
