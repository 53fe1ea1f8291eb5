"""A history chart that repaints only the rows that changed, and nothing while it is hidden."""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip

from rigtui.ui.render.chart import (
    ChartData,
    ChartPlan,
    ChartStyle,
    Row,
    draw_chart,
    plan_chart,
    plan_holds,
)
from rigtui.ui.render.palette import theme_palette
from rigtui.ui.tuning.row_widget import RowWidget, shown


class HistoryChart(RowWidget):
    DEFAULT_CSS = """
    HistoryChart {
        height: 1fr;
        min-height: 4;
    }
    """

    def __init__(
        self,
        title: str,
        *,
        scale: float = 1.0,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.title = title
        self.scale = scale
        """Values are divided by this before plotting (bytes → GiB)."""
        self.data: ChartData | None = None
        self.renders = 0
        """How many times the rows were drawn: charts nobody sees must not be, nor charts whose
        plan did not change."""
        self._rows: list[Row] = []
        self._plan: ChartPlan | None = None
        self._planned_from: ChartData | None = None
        """The data the plan was last made (or found to hold) for."""
        self._drawn_for: tuple | None = None
        self._styles: dict[tuple[Style, str], Style] = {}

    def show_data(self, data: ChartData | None) -> None:
        self.data = data
        self._stale = True
        if shown(self):  # on screen: work out what changed now, repaint just that
            self._redraw()

    def on_resize(self) -> None:
        self._stale = True
        self.refresh()

    def _redraw(self) -> None:
        width, height = self.size
        palette = theme_palette(self.app.current_theme)
        key = (width, height, self.base_style, palette)
        data, planned_from = self.data, self._planned_from
        self._stale = False
        if (
            key == self._drawn_for
            and self._plan is not None
            and data is not None
            and planned_from is not None
            and plan_holds(self._plan, planned_from, data)
        ):
            self._planned_from = data
            return
        plan = plan_chart(data, self.title, width, height, scale=self.scale)
        self._planned_from = data
        if plan == self._plan and key == self._drawn_for:
            return
        rows = draw_chart(plan, ChartStyle(text=palette.text, axis=palette.muted))
        self.renders += 1
        self._plan = plan
        if key != self._drawn_for:
            self._drawn_for = key
            self._rows = rows
            self._strips.clear()
            self.refresh()
            return
        self.repaint_changed(self._rows, rows)
        self._rows = rows

    def _style(self, colour: str | None) -> Style:
        base = self.base_style
        if colour is None:
            return base
        style = self._styles.get((base, colour))
        if style is None:  # parsing a colour costs more than the rest of a row
            style = self._styles[(base, colour)] = base + Style(color=colour)
        return style

    def render_line(self, y: int) -> Strip:
        if self._stale:
            self._redraw()
        return self.kept_strip(y, len(self._rows), self._paint)

    def _paint(self, y: int) -> Strip:
        return Strip(
            [Segment(text, self._style(colour)) for text, colour in self._rows[y]],
            self.size.width,
        )
