"""A history chart that repaints only the rows that changed, and nothing while it is hidden."""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style
from textual.geometry import Region
from textual.strip import Strip
from textual.widget import Widget

from rigtui.ui.render.chart import ChartData, ChartStyle, Row, chart_rows
from rigtui.ui.render.palette import Palette
from rigtui.ui.widgets.text_panel import shown


class HistoryChart(Widget):
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
        """How many times the rows were computed: charts nobody sees must not be."""
        self._rows: list[Row] = []
        self._strips: dict[int, Strip] = {}
        self._drawn_for: tuple | None = None
        self._stale = True
        self._base: Style | None = None
        self._styles: dict[tuple[Style, str], Style] = {}

    def show_data(self, data: ChartData) -> None:
        self.data = data
        self._stale = True
        if shown(self):  # on screen: work out what changed now, repaint just that
            self._redraw()

    def on_resize(self) -> None:
        self._stale = True
        self.refresh()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        # Perhaps a new theme (then _redraw sees other colours and repaints everything), more
        # often a class changed somewhere above and nothing here did.
        self._stale = True
        self._base = None

    def _redraw(self) -> None:
        width, height = self.size
        if self._base is None:
            self._base = self.rich_style  # walks up to the screen: once per style change
        base = self._base
        palette: Palette = getattr(self.app, "palette", Palette())
        key = (width, height, base, palette)
        rows = chart_rows(
            self.data,
            self.title,
            width,
            height,
            scale=self.scale,
            style=ChartStyle(text=palette.text, axis=palette.muted),
        )
        self.renders += 1
        self._stale = False
        if key != self._drawn_for:
            self._drawn_for = key
            self._rows = rows
            self._strips.clear()
            self.refresh()
            return
        for y, row in enumerate(rows):
            if y >= len(self._rows) or row != self._rows[y]:
                self._strips.pop(y, None)
                self.refresh(Region(0, y, width, 1))
        self._rows = rows

    def _style(self, colour: str | None) -> Style:
        base = self._base
        if colour is None:
            return base
        style = self._styles.get((base, colour))
        if style is None:  # parsing a colour costs more than the rest of a row
            style = self._styles[(base, colour)] = base + Style(color=colour)
        return style

    def render_line(self, y: int) -> Strip:
        if self._stale:
            self._redraw()
        strip = self._strips.get(y)
        if strip is None:
            if y >= len(self._rows):
                return Strip.blank(self.size.width, self._base)
            strip = Strip(
                [Segment(text, self._style(colour)) for text, colour in self._rows[y]],
                self.size.width,
            )
            self._strips[y] = strip
        return strip
