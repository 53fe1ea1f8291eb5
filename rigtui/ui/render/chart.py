"""History charts drawn in braille, row by row, cheaply enough to redraw every second.

A chart is a title row, a plot of braille cells (2 × 4 dots each) with a y axis, an x axis that
also marks time spans (a reply generating), and a row of time labels. Samples fall into time
bins aligned to the clock, not to "now": between two bin boundaries only the newest column can
change, so the rows that reach the terminal stay the same from one second to the next and the
widget repaints only the rows that did change.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from rigtui.text import units

BRAILLE = 0x2800
# Braille dot bits by [column][row from the top] within one cell.
DOT_BITS = ((0x01, 0x02, 0x04, 0x40), (0x08, 0x10, 0x20, 0x80))
# CELL_MASKS[side][first][last]: the bits of dots first..last counted from the cell's bottom.
CELL_MASKS = tuple(
    tuple(
        tuple(sum(side[3 - dot] for dot in range(first, last + 1)) for last in range(4))
        for first in range(4)
    )
    for side in DOT_BITS
)


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
    """The y range, in the units shown (after the chart's scale); no ``y_max``: from the data."""
    spans: tuple[tuple[float, float], ...] = ()
    """Time spans to mark along the x axis (e.g. while a reply was generating)."""
    span_color: str = "#FEA62B"


@dataclass(frozen=True)
class ChartStyle:
    """The colours that are not the data's own."""

    text: str = "#E0E0E0"
    axis: str = "#8A8A8A"


Run = tuple[str, str | None]
"""A stretch of text and its foreground colour (``None``: the widget's own)."""
Row = tuple[Run, ...]


def nice_step(span: float, count: int) -> float:
    """A round step (1, 2, 2.5, 5 × 10^n) that splits ``span`` into at most ``count`` parts."""
    raw = span / max(1, count)
    if not raw >= 1e-12:  # a subnormal span (5e-324) has no logarithm: no chart shows it anyway
        return 1.0
    magnitude = 10 ** math.floor(math.log10(raw))
    return next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)


def nice_ticks(low: float, high: float, count: int = 4) -> list[float]:
    """Round tick values (0, 25, 50 … or 0, 100, 200 …) covering ``low`` to ``high``."""
    span = high - low
    if span <= 0:
        return [low]
    step = nice_step(span, count)
    ticks = []
    value = math.ceil(low / step) * step
    while value <= high + step * 1e-6:
        ticks.append(round(value, 10))
        value += step
    return ticks


def nice_upper(low: float, highest: float) -> float:
    """A round top for the y axis a little above ``highest``: it moves only when the data
    outgrows it, so the whole plot is not redrawn for every new maximum."""
    if highest <= low:
        return low + 1
    step = nice_step((highest - low) * 1.05, 10)
    return low + math.ceil((highest - low) * 1.05 / step) * step


def tick_label(value: float) -> str:
    """Short: 24 (not 23.9883, the top of a 24 GiB card), 2.5, 6000, 2e+05."""
    if abs(value) >= 1e5:
        return f"{value:.0e}"
    if abs(value) >= 10:
        return f"{value:.0f}"
    return f"{value:.2g}"


def _time_label(seconds_ago: float) -> str:
    return "now" if seconds_ago == 0 else f"-{units.duration(seconds_ago)}"


def _bins(now: float, window_s: float, columns: int) -> tuple[float, float]:
    """Where the first of ``columns`` time bins over ``window_s`` starts, and their length.
    They end at the next multiple of the length after ``now``: aligned to the clock, not to this
    sample, so that between two boundaries only the newest bin can change."""
    step = window_s / columns
    end = (math.floor(now / step) + 1) * step
    return end - columns * step, step


def binned(
    times: Sequence[float], values: Sequence[float | None], start: float, step: float, count: int
) -> list[float | None]:
    """The largest value in each of ``count`` bins of ``step`` seconds from ``start``: the
    peak, because a chart that averages hides the spikes people look for."""
    bins: list[float | None] = [None] * count
    for time, value in zip(times, values, strict=False):
        if value is None:
            continue
        index = int((time - start) // step)
        if 0 <= index < count:
            held = bins[index]
            if held is None or value > held:
                bins[index] = value
    return bins


def spread(
    times: Sequence[float], values: Sequence[float | None], start: float, step: float, count: int
) -> tuple[list[float | None], list[float | None], list[float | None]]:
    """The lowest, mean and highest value in each of ``count`` bins of ``step`` seconds from
    ``start``. A column spans many samples (ten minutes in 80 columns: 7.5 s each): its peak
    alone draws 5-40 % bursts as a solid 40 % block; the mean and the lowest show the spread."""
    lows: list[float | None] = [None] * count
    highs: list[float | None] = [None] * count
    sums = [0.0] * count
    counts = [0] * count
    for time, value in zip(times, values, strict=False):
        if value is None:
            continue
        index = int((time - start) // step)
        if 0 <= index < count:
            if counts[index] == 0:
                lows[index] = highs[index] = value
            else:
                lows[index] = min(lows[index], value)  # type: ignore[type-var]
                highs[index] = max(highs[index], value)  # type: ignore[type-var]
            sums[index] += value
            counts[index] += 1
    means = [sums[i] / counts[i] if counts[i] else None for i in range(count)]
    return lows, means, highs


def dimmed(colour: str) -> str:
    """``colour`` at half strength: the part of a column between its mean and its peak."""
    try:
        red, green, blue = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    except ValueError:
        return colour
    return f"#{red // 2:02x}{green // 2:02x}{blue // 2:02x}"


def _runs(cells: Sequence[tuple[str, str | None]]) -> Row:
    """Join neighbouring cells of one colour, so a row is a few segments, not one per cell."""
    runs: list[Run] = []
    text: list[str] = []
    colour: str | None = None
    for char, cell_colour in cells:
        if text and cell_colour != colour:
            runs.append(("".join(text), colour))
            text = []
        colour = cell_colour
        text.append(char)
    if text:
        runs.append(("".join(text), colour))
    return tuple(runs)


def _y_axis(data: ChartData, scale: float, plot_rows: int) -> tuple[float, list[float]]:
    """The top of the y axis and the values labelled on it."""
    y_min = data.y_min
    highest = y_min
    for series in data.series:
        present = [value for value in series.values if value is not None]
        if present:
            highest = max(highest, max(present) / scale)
    for line in data.lines:
        highest = max(highest, line.value / scale)
    upper = data.y_max if data.y_max is not None else nice_upper(y_min, highest)
    ticks = nice_ticks(y_min, upper, max(1, min(5, plot_rows // 2)))
    if ticks[-1] != upper:
        # The top of the axis is labelled too (24 GiB of VRAM), clear of the tick below it.
        step = ticks[1] - ticks[0] if len(ticks) > 1 else upper - y_min
        if upper - ticks[-1] < step / 2 and len(ticks) > 1:
            ticks.pop()
        ticks.append(upper)
    return upper, ticks


class _Scale:
    """Values to dots: ``rows`` rows of four dots from ``low`` to ``high`` (after ``scale``)."""

    def __init__(self, rows: int, low: float, high: float, scale: float) -> None:
        self.rows = rows
        self.low, self.high, self.scale = low, high, scale
        self.dots_high = rows * 4

    def level(self, value: float) -> int:
        """Dots lit from the bottom for ``value``: at least one for anything above the floor."""
        shown = value / self.scale
        span = self.high - self.low  # a ratio past ±inf (a tiny span) is held to the plot
        fraction = units.unit_fraction((shown - self.low) / span) if span > 0 else None
        dots = round((fraction or 0.0) * self.dots_high)
        if dots <= 0 and shown > self.low:
            dots = 1
        return max(0, min(self.dots_high, dots))

    def row_of(self, dot: int) -> int:
        return self.rows - 1 - (max(1, dot) - 1) // 4


class _Canvas:
    """Braille dots, ``rows`` × ``cells`` cells, each cell in the colour that drew last."""

    def __init__(self, rows: int, cells: int) -> None:
        self.rows, self.cells = rows, cells
        self.bits = [[0] * cells for _ in range(rows)]
        self.colours: list[list[str | None]] = [[None] * cells for _ in range(rows)]

    def draw(
        self,
        levels: Sequence[int | None],
        colour: str,
        *,
        filled: bool,
        lows: Sequence[int | None] | None = None,
    ) -> None:
        """Filled up to ``levels``, or a line through them; with ``lows``, a line is a band from
        each column's low to its high, joined to the column before."""
        previous: tuple[int, int] | None = None
        bits, colours, rows = self.bits, self.colours, self.rows
        for column, lit in enumerate(levels):
            if lit is None:
                previous = None
                continue
            if filled:
                if lit == 0:
                    continue
                low, high = 1, lit
            else:
                # A line: the dots for this bin, joined vertically to the last one.
                high = max(1, lit)
                bottom = lows[column] if lows is not None else None
                low = max(1, min(lit, bottom if bottom is not None else lit))
                if previous is not None:
                    low, high = min(low, previous[1]), max(high, previous[0])
                previous = (low, high)
            cell, masks = column // 2, CELL_MASKS[column % 2]
            # Cell by cell up the column, each with the dots of [low, high] it holds.
            for level in range((low - 1) // 4, (high - 1) // 4 + 1):
                first = max(low, level * 4 + 1) - level * 4 - 1
                last = min(high, level * 4 + 4) - level * 4 - 1
                row = rows - 1 - level
                bits[row][cell] |= masks[first][last]
                colours[row][cell] = colour

    def row_cells(self, row: int, line_colour: str | None) -> list[tuple[str, str | None]]:
        cells: list[tuple[str, str | None]] = []
        bits, colours = self.bits[row], self.colours[row]
        for cell in range(self.cells):
            if bits[cell]:
                cells.append((chr(BRAILLE + bits[cell]), colours[cell]))
            elif line_colour is not None:
                cells.append(("╌", line_colour))
            else:
                cells.append((" ", None))
        return cells


@dataclass(frozen=True)
class ChartPlan:
    """What a chart's rows are drawn from, worked out from its data: two equal plans draw the
    same rows, so a chart whose plan did not change with a new sample is not drawn again (most
    seconds: between bin boundaries only a new peak in the newest bin changes anything)."""

    width: int
    height: int
    title: str
    legend: tuple[tuple[str, str], ...]
    """(label, colour) of each series, when there are several."""
    label_width: int = 0
    """0: too small to plot, or no data: the title and blank rows."""
    plot_width: int = 0
    series: tuple[tuple[str, tuple[int | None, ...], tuple[int | None, ...]], ...] = ()
    """(colour, dots lit by each bin's peak, dots lit by its low) of each series, drawn in this
    order: a lone series is filled up to its mean with the rest up to the peak dimmed, several
    are bands from each bin's lowest value to its highest."""
    line_rows: tuple[tuple[int, str], ...] = ()
    tick_rows: tuple[tuple[int, str], ...] = ()
    marked_cells: tuple[bool, ...] = ()
    """The x axis cells under a marked span."""
    span_color: str = ""
    window_s: float = 0.0
    y_low: float = 0.0
    y_high: float = 1.0
    scale: float = 1.0
    """The y range and the scale the dots were counted on."""
    heading: tuple[tuple[tuple[str, str | None], ...], ...] = ()
    """The rows above the plot: the title and the legend, flowed between words and entries
    onto as many rows as they need (eight GPUs do not fit beside a title)."""

    @property
    def plot_rows(self) -> int:
        return self.height - 2 - max(1, len(self.heading))


def plan_chart(
    data: ChartData | None, title: str, width: int, height: int, *, scale: float = 1.0
) -> ChartPlan:
    """The plan of a ``width`` x ``height`` chart. ``scale`` divides every value (bytes to
    GiB)."""
    legend = (
        # Once each: every GPU's power peaks share one colour and one label.
        tuple(dict.fromkeys((series.label, series.color) for series in data.series))
        if data is not None and len(data.series) > 1
        else ()
    )
    heading = _heading(title, legend, max(0, width), max(1, height - 5))
    blank = ChartPlan(max(0, width), max(0, height), title, legend, heading=heading[:1])
    if data is None or width < 12 or height < 4:
        return blank
    # NaN, infinity and absurd magnitudes cannot be placed on an axis: they are gaps.
    data = replace(
        data,
        series=tuple(
            replace(one, values=tuple(v if units.drawable(v) else None for v in one.values))
            for one in data.series
        ),
        lines=tuple(line for line in data.lines if units.drawable(line.value)),
        y_max=data.y_max if units.drawable(data.y_max) else None,
    )
    plot_rows = height - 2 - len(heading)
    upper, ticks = _y_axis(data, scale, plot_rows)
    labels = [tick_label(tick) for tick in ticks]
    label_width = max(len(label) for label in labels)
    plot_width = width - label_width - 1
    if plot_width < 4:
        return blank

    to_dots = _Scale(plot_rows, data.y_min, upper, scale)
    columns = plot_width * 2
    start, step = _bins(data.now, data.window_s, columns)
    series = []
    for one in data.series:
        lowest, means, peaks = spread(data.times, one.values, start, step, columns)
        levels = tuple(None if peak is None else to_dots.level(peak) for peak in peaks)
        lows = means if len(data.series) == 1 else lowest
        low_levels = tuple(None if low is None else to_dots.level(low) for low in lows)
        series.append((one.color, levels, low_levels))
    line_rows = {to_dots.row_of(to_dots.level(line.value)): line.color for line in data.lines}
    tick_rows: dict[int, str] = {}
    for tick, label in zip(ticks, labels, strict=True):
        tick_rows.setdefault(to_dots.row_of(to_dots.level(tick * scale)), label)
    cell_s = step * 2
    marked = []
    for cell in range(plot_width):
        begin = start + cell * cell_s
        finish = begin + cell_s
        marked.append(any(first < finish and last >= begin for first, last in data.spans))
    return ChartPlan(
        width,
        height,
        title,
        legend,
        label_width,
        plot_width,
        tuple(series),
        tuple(sorted(line_rows.items())),
        tuple(sorted(tick_rows.items())),
        tuple(marked),
        data.span_color,
        data.window_s,
        data.y_min,
        upper,
        scale,
        heading,
    )


def plan_holds(plan: ChartPlan, old: ChartData, new: ChartData) -> bool:
    """Whether ``plan``, made from ``old``, is also the plan of ``new`` (without planning
    again): ``new`` is ``old`` one sample later (the oldest perhaps dropped), the sample falls
    in the newest bin no higher than that bin's peak, and nothing else changed. Most seconds
    this holds, and checking it costs a tenth of planning a chart of ten minutes."""
    if not plan.plot_width or not old.times or not new.times:
        return False
    if (old.window_s, old.lines, old.y_min, old.y_max, old.spans, old.span_color) != (
        new.window_s,
        new.lines,
        new.y_min,
        new.y_max,
        new.spans,
        new.span_color,
    ):
        return False
    columns = plan.plot_width * 2
    start, step = _bins(new.now, new.window_s, columns)
    if start != _bins(old.now, old.window_s, columns)[0] or len(old.series) != len(new.series):
        return False
    old_times, new_times = old.times, new.times
    dropped = len(old_times) + 1 - len(new_times)
    if dropped not in (0, 1) or new_times[-1] <= old_times[-1]:
        return False
    if new_times[:-1] != old_times[dropped:]:
        return False

    def column(time: float) -> int:  # as binned() places a sample
        return int((time - start) // step)

    if column(new_times[-1]) != columns - 1:
        return False
    if dropped and 0 <= column(old_times[0]) < columns:
        return False  # a sample left a bin that is drawn
    in_newest_bin = 0
    for time in reversed(old_times):
        if column(time) != columns - 1:
            break
        in_newest_bin += 1
    to_dots = _Scale(plan.plot_rows, plan.y_low, plan.y_high, plan.scale)
    for number, (old_series, new_series) in enumerate(zip(old.series, new.series, strict=True)):
        if (old_series.label, old_series.color) != (new_series.label, new_series.color):
            return False
        old_values, new_values = old_series.values, new_series.values
        if new_values[:-1] != old_values[dropped:]:
            return False
        value = new_values[-1]
        if value is not None:
            newest = old_values[len(old_values) - in_newest_bin :]
            peak = max((held for held in newest if held is not None), default=None)
            if peak is None or value > peak:
                return False
            # The newest bin's low (its mean, for a lone series) moves with every sample.
            held = [one for one in (*newest, value) if one is not None]
            low = min(held) if len(new.series) > 1 else sum(held) / len(held)
            if to_dots.level(low) != plan.series[number][2][-1]:
                return False
        gone = old_values[0] if dropped else None
        # The y axis fits the highest value held, not only those drawn: did that one go?
        if (
            gone is not None
            and new.y_max is None
            and gone > max((held for held in new_values if held is not None), default=gone - 1)
        ):
            return False
    return True


def draw_chart(plan: ChartPlan, style: ChartStyle = ChartStyle()) -> list[Row]:
    """The chart's ``plan.height`` rows of ``plan.width`` cells."""
    width, height = plan.width, plan.height
    if width <= 0 or height <= 0:
        return []
    heading = _heading_rows(plan, style)
    if not plan.label_width:
        return [heading[0], *[((" " * width, None),)] * (height - 1)]
    plot_rows = plan.plot_rows
    canvas = _Canvas(plot_rows, plot_width := plan.plot_width)  # the levels are dots already
    if len(plan.series) == 1:
        colour, peaks, means = plan.series[0]
        canvas.draw(peaks, dimmed(colour), filled=True)
        canvas.draw(means, colour, filled=True)
    else:
        for colour, peaks, lows in plan.series:
            canvas.draw(peaks, colour, filled=False, lows=lows)
    line_rows, tick_rows = dict(plan.line_rows), dict(plan.tick_rows)
    label_width = plan.label_width
    rows = list(heading)
    for row in range(plot_rows):
        label = tick_rows.get(row, "")
        axis = [(label.rjust(label_width), style.axis), ("┤" if label else "│", style.axis)]
        rows.append(_runs(axis + canvas.row_cells(row, line_rows.get(row))))
    axis_cells: list[tuple[str, str | None]] = [(" " * label_width, None), ("└", style.axis)]
    axis_cells += [("━", plan.span_color) if on else ("─", style.axis) for on in plan.marked_cells]
    rows.append(_runs(axis_cells))
    rows.append(_time_labels(plan.window_s, label_width, plot_width, style))
    return rows


def chart_rows(
    data: ChartData | None,
    title: str,
    width: int,
    height: int,
    *,
    scale: float = 1.0,
    style: ChartStyle = ChartStyle(),
) -> list[Row]:
    """The chart as ``height`` rows of ``width`` cells. ``scale`` divides every value (bytes
    to GiB)."""
    return draw_chart(plan_chart(data, title, width, height, scale=scale), style)


LEGEND = "legend"
"""In a heading: a legend entry's words, in the axis colour."""


def _heading(
    title: str, legend: tuple[tuple[str, str], ...], width: int, most_rows: int
) -> tuple[tuple[tuple[str, str | None], ...], ...]:
    """The title's words and the legend's entries flowed onto rows of ``width``: each word and
    entry whole on one row. Pieces are (text, colour): None for the title's colour, LEGEND for
    an entry's words; an entry's ``▪`` has its series' colour. At most ``most_rows`` rows."""
    pieces: list[tuple[tuple[str, str | None], ...]] = []
    for number, word in enumerate(title.split(" ")):
        pieces.append((((" " if number else "") + word, None),))
    for label, colour in legend:
        pieces.append((("  ", None), ("▪", colour), (label, LEGEND)))
    rows: list[list[tuple[str, str | None]]] = [[]]
    used = 0
    for piece in pieces:
        size = sum(len(text) for text, _ in piece)
        if used + size > width and rows[-1]:
            if len(rows) == most_rows:
                break
            rows.append([])
            piece = tuple((text.lstrip(), colour) for text, colour in piece if text.strip())
            size = sum(len(text) for text, _ in piece)
            used = 0
        rows[-1].extend(piece)
        used += size
    return tuple(tuple(row) for row in rows)


def _heading_rows(plan: ChartPlan, style: ChartStyle) -> list[Row]:
    rows = []
    for pieces in plan.heading or ((),):
        cells: list[tuple[str, str | None]] = []
        for text, colour in pieces:
            shown = style.text if colour is None else style.axis if colour == LEGEND else colour
            cells.extend((char, shown) for char in text)
        cells = cells[: plan.width]
        cells.extend((" ", None) for _ in range(plan.width - len(cells)))
        rows.append(_runs(cells))
    return rows


def _time_labels(window_s: float, label_width: int, plot_width: int, style: ChartStyle) -> Row:
    left = _time_label(window_s)
    middle = _time_label(window_s / 2)
    text = [" "] * plot_width
    for position, label in ((0, left), ((plot_width - len(middle)) // 2, middle)):
        if position + len(label) < plot_width - 4:
            text[position : position + len(label)] = label
    text[plot_width - 3 :] = "now"
    return _runs([(" " * (label_width + 1), None), ("".join(text), style.axis)])
