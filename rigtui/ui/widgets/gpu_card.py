"""One GPU's live figures: a thin widget over :func:`rigtui.ui.render.gpu.gpu_card_lines`."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive

from rigtui.insight.rig import GpuInsight
from rigtui.telemetry.model import GpuReading
from rigtui.ui.render.gpu import (
    gpu_card_brief_lines,
    gpu_card_compact_lines,
    gpu_card_lines,
    gpu_subtitle,
    gpu_title,
)
from rigtui.ui.render.palette import theme_palette
from rigtui.ui.widgets.text_panel import TextPanel

SLOWED = frozenset(
    {"hw_slowdown", "sw_thermal_slowdown", "hw_thermal_slowdown", "hw_power_brake_slowdown"}
)


class GpuCard(TextPanel):
    reading: reactive[GpuReading | None] = reactive(None, repaint=False)
    compact: reactive[bool] = reactive(False, repaint=False)
    """Five lines instead of eight: several GPUs on a short terminal."""
    brief: reactive[bool] = reactive(False, repaint=False)
    """Two lines: many GPUs on a short terminal (wins over ``compact``)."""
    insight: reactive[GpuInsight | None] = reactive(None, repaint=False)

    def __init__(self, index: int, *, id: str | None = None, compact: bool = False) -> None:
        super().__init__(id=id or f"gpu-card-{index}")
        self.index = index
        self.set_reactive(GpuCard.compact, compact)
        self.border_title = f"GPU {index}"

    def watch_reading(self, reading: GpuReading | None) -> None:
        if reading is None:
            return
        self._set_title()
        self.set_border_subtitle(gpu_subtitle(reading))
        self.set_class(reading.lost, "-lost")
        self._mark_alert()
        reasons = set(reading.clocks_event_reasons or ())
        self.set_class("sw_power_cap" in reasons, "-capped")
        self.update_lines()

    def _set_title(self) -> None:
        if self.reading is not None:
            # The border's corners and the spaces around the title take six cells.
            room = self.outer_size.width - 6 if self.outer_size.width else None
            self.set_border_title(gpu_title(self.reading, room))

    def on_resize(self) -> None:  # TextPanel's own handler runs as well
        self._set_title()

    def watch_insight(self) -> None:
        self._mark_alert()
        self.update_lines()

    def _mark_alert(self) -> None:
        """Clocks held back, or a fan the insight found driven but not turning."""
        if self.reading is None:
            return
        reasons = set(self.reading.clocks_event_reasons or ())
        fans = self.insight.fans if self.insight is not None else None
        fans_stuck = fans is not None and bool(fans.not_spinning)
        self.set_class(bool(reasons & SLOWED) or fans_stuck, "-alert")

    def watch_compact(self) -> None:
        self.update_lines()

    def watch_brief(self) -> None:
        self.update_lines()

    def panel_lines(self) -> list[Text]:
        if self.reading is None:
            return [Text("waiting for the first reading…")]
        palette = theme_palette(self.app.current_theme)
        lines = (
            gpu_card_brief_lines
            if self.brief
            else gpu_card_compact_lines
            if self.compact
            else gpu_card_lines
        )
        return lines(self.reading, max(20, self.line_width), palette, self.insight)
