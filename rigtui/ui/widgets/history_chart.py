"""A history chart drawn with plotext, rebuilt only when its data or size changed and it is seen."""

from __future__ import annotations

import math
from dataclasses import dataclass

from rich.text import Text
from textual.app import RenderResult
from textual_plotext import PlotextPlot

from rigtui.ui.render import units


@dataclass(frozen=True)
class ChartSeries:
    label: str
    values: tuple[float | None, ...]
    color: str
    """A ``#rrggbb`` colour."""


@dataclass(frozen=True)
class ChartLine:
    """A horizontal reference line, such as the power limit."""

    label: str
    value: float
    color: str


@dataclass(frozen=True)
class ChartData:
    times: tuple[float, ...]
    now: float
    window_s: float
    series: tuple[ChartSeries, ...]
    lines: tuple[ChartLine, ...] = ()
    y_min: float = 0.0
    y_max: float | None = None
    spans: tuple[tuple[float, float], ...] = ()
    """Time spans to mark along the bottom (e.g. while a reply was generating)."""
    span_color: str = "#FEA62B"


def _rgb(color: str) -> tuple[int, int, int]:
    color = color.lstrip("#")
    return int(color[0:2], 16), int(color[2:4], 16), int(color[4:6], 16)


def nice_ticks(low: float, high: float, count: int = 4) -> list[float]:
    """Round tick values (0, 25, 50 … or 0, 100, 200 …) covering ``low`` to ``high``."""
    span = high - low
    if span <= 0:
        return [low]
    raw = span / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.ceil(low / step) * step
    ticks = []
    value = first
    while value <= high + step * 1e-6:
        ticks.append(round(value, 10))
        value += step
    return ticks


def tick_label(value: float) -> str:
    return f"{value:g}" if abs(value) < 1e5 else f"{value:.0e}"


def _time_label(seconds_ago: float) -> str:
    return "now" if seconds_ago == 0 else f"-{units.duration(seconds_ago)}"


class HistoryChart(PlotextPlot):
    def __init__(
        self,
        title: str,
        *,
        scale: float = 1.0,
        unit: str = "",
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.title = title
        self.scale = scale
        """Values are divided by this before plotting (bytes → GiB)."""
        self.unit = unit
        self.data: ChartData | None = None
        self.renders = 0
        """How many times the plot was rebuilt: charts nobody sees must not be rebuilt."""
        self._version = 0
        self._cached_key: tuple | None = None
        self._cached: Text | None = None

    def show_data(self, data: ChartData) -> None:
        self.data = data
        self._version += 1
        self.refresh()

    def render(self) -> RenderResult:
        width, height = self.size.width, self.size.height
        key = (self._version, width, height, self.app.theme)
        if key == self._cached_key and self._cached is not None:
            return self._cached
        if self.data is None or width < 12 or height < 4:
            return Text(self.title, style="dim")
        self._draw(self.data)
        self.renders += 1
        self._cached = super().render()  # type: ignore[assignment]
        self._cached_key = key
        return self._cached

    def _draw(self, data: ChartData) -> None:
        plt = self.plt
        plt.clear_figure()
        plt.title(self.title)
        plt.xlim(-data.window_s, 0)
        upper = data.y_max
        plotted_max = data.y_min
        show_legend = len(data.series) > 1
        for series in data.series:
            xs = []
            ys = []
            for time, value in zip(data.times, series.values, strict=False):
                if value is None:
                    continue
                xs.append(time - data.now)
                ys.append(value / self.scale)
            if xs:
                plotted_max = max(plotted_max, max(ys))
                # One series is drawn as a filled area (easier to read at a glance); several
                # as lines, so none hides another.
                plt.plot(
                    xs,
                    ys,
                    color=_rgb(series.color),
                    marker="braille" if show_legend else "hd",
                    label=series.label if show_legend else None,
                    fillx=not show_legend,
                )
        for line in data.lines:
            plotted_max = max(plotted_max, line.value / self.scale)
            plt.horizontal_line(line.value / self.scale, color=_rgb(line.color))
        if upper is None:
            upper = plotted_max * 1.1 if plotted_max > data.y_min else data.y_min + 1
        for start, end in data.spans:
            start_x = max(start - data.now, -data.window_s)
            end_x = min(end - data.now, 0)
            if end_x > start_x:
                plt.plot(
                    [start_x, end_x],
                    [data.y_min, data.y_min],
                    color=_rgb(data.span_color),
                    marker="hd",
                )
        plt.ylim(data.y_min, upper)
        y_ticks = nice_ticks(data.y_min, upper, max(2, min(5, (self.size.height - 4) // 2)))
        plt.yticks(y_ticks, [tick_label(tick) for tick in y_ticks])
        ticks = [-data.window_s, -data.window_s / 2, 0]
        plt.xticks(ticks, [_time_label(-tick) for tick in ticks])
