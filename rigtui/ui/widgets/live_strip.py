"""Side by side while a reply streams: token rate, GPU use, CPU load, and where the model lives."""

from __future__ import annotations

from collections import deque

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from rigtui.ui.render.palette import theme_palette

SPARK = " ▁▂▃▄▅▆▇█"


class LiveStrip(Widget):
    tokens_per_s: reactive[float | None] = reactive(None)
    gpu_pct: reactive[float | None] = reactive(None)
    cpu_pct: reactive[float | None] = reactive(None)
    split: reactive[str] = reactive("")
    state: reactive[str] = reactive("")
    warning: reactive[bool] = reactive(False)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._rates: deque[float] = deque(maxlen=48)

    def record_rate(self, rate: float) -> None:
        self._rates.append(rate)
        self.tokens_per_s = rate
        self.refresh()

    def clear_rates(self) -> None:
        self._rates.clear()
        self.tokens_per_s = None

    def render(self) -> Text:
        palette = theme_palette(self.app.current_theme)
        line = Text()
        if self.tokens_per_s is not None:
            line.append(f"{self.tokens_per_s:6.1f} tok/s ", style=f"bold {palette.accent}")
            top = max(self._rates, default=1.0) or 1.0
            spark = "".join(SPARK[min(8, round(rate / top * 8))] for rate in self._rates)
            line.append(spark[-16:], style=palette.accent)
        else:
            line.append("     – tok/s", style=palette.muted)
        line.append("  GPU ", style="bold")
        line.append("N/A" if self.gpu_pct is None else f"{self.gpu_pct:3.0f}%")
        line.append("  CPU ", style="bold")
        line.append("N/A" if self.cpu_pct is None else f"{self.cpu_pct:3.0f}%")
        if self.split:
            on_cpu = "CPU" in self.split and self.split != "100% GPU"
            line.append("  model ", style="bold")
            line.append(self.split, style=f"bold {palette.warning if on_cpu else palette.good}")
        if self.state:
            line.append(
                f"  {self.state}", style=f"bold {palette.error}" if self.warning else palette.muted
            )
        return line
