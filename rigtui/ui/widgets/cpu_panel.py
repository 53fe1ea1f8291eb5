"""CPU load (total and per core), RAM and swap."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive

from rigtui.telemetry.model import CpuReading, MemoryReading
from rigtui.ui.render.cpu import cpu_panel_lines, cpu_title
from rigtui.ui.render.palette import theme_palette
from rigtui.ui.widgets.text_panel import TextPanel


class CpuPanel(TextPanel):
    max_core_rows: reactive[int] = reactive(4, repaint=False)

    def __init__(self, *, id: str | None = "cpu-panel") -> None:
        super().__init__(id=id)
        self.border_title = "CPU"
        self.cpu: CpuReading | None = None
        self.memory: MemoryReading | None = None

    def show(self, cpu: CpuReading, memory: MemoryReading) -> None:
        self.cpu, self.memory = cpu, memory
        self._set_title()
        self.update_lines()

    def _set_title(self) -> None:
        if self.cpu is not None:
            # The border's corners and the spaces around the title take six cells.
            self.set_border_title(cpu_title(self.cpu, self.outer_size.width - 6 or None))

    def on_resize(self) -> None:  # TextPanel's own handler runs as well
        self._set_title()

    def watch_max_core_rows(self) -> None:
        self.update_lines()

    def panel_lines(self) -> list[Text]:
        if self.cpu is None or self.memory is None:
            return [Text("waiting for the first reading…")]
        palette = theme_palette(self.app.current_theme)
        return cpu_panel_lines(
            self.cpu, self.memory, max(20, self.line_width), self.max_core_rows + 3, palette
        )
