"""The braille history chart: what each row says, and that it stays still between bins."""

from __future__ import annotations

import random
from collections import deque

import pytest

from rigtui.ui.render.chart import (
    BRAILLE,
    ChartData,
    ChartLine,
    ChartSeries,
    binned,
    chart_rows,
    nice_ticks,
    nice_upper,
    plan_chart,
    plan_holds,
)

BLUE, RED, ORANGE = "#0000ff", "#ff0000", "#ffa500"


def text(row) -> str:
    return "".join(part for part, _ in row)


def colours(row) -> set:
    return {colour for _, colour in row}


def flat(value: float, *, seconds: int = 600, now: float = 1_000_000.0, **extra) -> ChartData:
    times = tuple(now - seconds + 1 + i for i in range(seconds))
    return ChartData(
        times,
        now,
        600.0,
        (ChartSeries("GPU 0", tuple(value for _ in times), BLUE),),
        y_max=100.0,
        **extra,
    )


def plot(rows) -> list[str]:
    """The plot cells of each plot row: after the y axis, without title, axis and labels."""
    return [text(row).split("┤" if "┤" in text(row) else "│", 1)[1] for row in rows[1:-2]]


def test_a_full_series_fills_every_plot_cell():
    rows = chart_rows(flat(100.0), "GPU %", 40, 10)
    assert len(rows) == 10 and all(len(text(row)) == 40 for row in rows)
    assert text(rows[0]).rstrip() == "GPU %"
    cells = plot(rows)
    assert len(cells) == 7
    assert all(set(row) == {"⣿"} for row in cells)
    assert text(rows[-1]).split() == ["-10m", "-5m", "now"]


def test_half_the_range_fills_the_bottom_half_of_the_dots():
    rows = chart_rows(flat(50.0), "GPU %", 40, 10)  # 7 rows = 28 dots high: 14 lit
    cells = plot(rows)
    assert [set(row) for row in cells[-3:]] == [{"⣿"}] * 3
    assert set(cells[3]) == {"⣤"}  # the two lower dots of each column
    assert all(set(row) == {" "} for row in cells[:3])


def test_a_value_at_the_floor_draws_nothing_and_a_tiny_one_a_dot():
    assert all(set(row) == {" "} for row in plot(chart_rows(flat(0.0), "x", 40, 8)))
    assert set(plot(chart_rows(flat(0.1), "x", 40, 8))[-1]) == {"⣀"}


def test_y_labels_are_round_ticks_on_the_axis():
    rows = chart_rows(flat(30.0), "GPU %", 40, 12)
    labels = [text(row).split("┤")[0].strip() for row in rows[1:-2] if "┤" in text(row)]
    assert labels == ["100", "75", "50", "25", "0"]


def test_without_a_maximum_the_axis_ends_at_a_round_value_above_the_data():
    full = flat(37.0)
    data = ChartData(full.times, full.now, full.window_s, full.series)
    rows = chart_rows(data, "W", 40, 12)
    assert text(rows[1]).split("┤")[0].strip() == "40"
    assert nice_upper(0, 437) == 500 and nice_upper(0, 95) == 100 and nice_upper(0, 0) == 1


def test_values_are_scaled_for_display():
    gib = 1024**3
    times = (999_999.0,)
    data = ChartData(
        times, 1_000_000.0, 600.0, (ChartSeries("VRAM", (12 * gib,), BLUE),), y_max=24.0
    )
    rows = chart_rows(data, "VRAM GiB", 40, 12, scale=gib)
    labels = [text(row).split("┤")[0].strip() for row in rows[1:-2] if "┤" in text(row)]
    assert labels[0] == "24" and labels[-1] == "0"
    last_column = [row[-1] for row in plot(rows)]
    # 9 rows of 4 dots: 12 of 24 GiB lights 18 dots, four and a half rows
    assert last_column[-4:] == ["⢸"] * 4 and last_column[-5] == "⢠"


def test_bins_keep_the_peak_so_a_spike_is_never_averaged_away():
    bins = binned((0.0, 1.0, 2.0, 3.0), (10.0, 450.0, None, 20.0), 0.0, 2.0, 2)
    assert bins == [450.0, 20.0]
    assert binned((5.0,), (1.0,), 0.0, 2.0, 2) == [None, None]  # outside the window


def test_between_bin_boundaries_only_the_newest_column_can_change():
    width = 44  # "100┤" and 40 plot cells: 80 bins of 7.5 s
    base = 1_000_000.0 - (1_000_000.0 % 7.5)

    def at(now: float) -> list[str]:
        # One sample a second; each keeps its value as it moves back in time.
        times = tuple(float(t) for t in range(int(now) - 599, int(now) + 1))
        values = tuple(float((int(t) * 37) % 100) for t in times)
        data = ChartData(times, now, 600.0, (ChartSeries("x", values, BLUE),), y_max=100.0)
        return plot(chart_rows(data, "x", width, 10))

    first, second = at(base + 1.0), at(base + 6.0)
    assert [row[:-1] for row in first] != [row[:-1] for row in at(base + 8.0)]
    for a, b in zip(first, second, strict=True):
        assert a[:-1] == b[:-1]


def test_a_sample_that_changes_no_bin_leaves_the_plan_equal_so_nothing_is_drawn():
    width = 44  # 80 bins of 7.5 s
    base = 1_000_000.0 - (1_000_000.0 % 7.5)
    times = tuple(float(t) for t in range(int(base) - 598, int(base) + 2))
    values = tuple(40.0 + (int(t) % 3) for t in times)  # 40-42 in every bin

    def plan(extra_value: float | None, seconds_later: float = 1.0):
        more = () if extra_value is None else (times[-1] + seconds_later,)
        data = ChartData(
            times + more,
            (times + more)[-1],
            600.0,
            (ChartSeries("x", values + ((extra_value,) if more else ()), BLUE),),
            y_max=100.0,
        )
        return plan_chart(data, "x", width, 10)

    before = plan(None)
    assert plan(41.0) == before  # below the newest bin's peak: the same rows
    assert plan(None) == before
    assert plan(95.0) != before  # a new peak in the newest bin
    assert plan(41.0, seconds_later=7.0) != before  # a new bin: everything moves left
    assert chart_rows(
        ChartData(times, times[-1], 600.0, (ChartSeries("x", values, BLUE),), y_max=100.0),
        "x",
        width,
        10,
    ) == chart_rows(
        ChartData(
            (*times, times[-1] + 1),
            times[-1] + 1,
            600.0,
            (ChartSeries("x", (*values, 41.0), BLUE),),
            y_max=100.0,
        ),
        "x",
        width,
        10,
    )


@pytest.mark.parametrize(
    ("capacity", "y_max", "width", "holding"),
    # A history shorter than the window loses a drawn sample every second once full.
    # Since a column shows its spread, a new low in the newest bin changes the plan too.
    [(600, None, 24, 0.5), (300, None, 37, 0.05), (900, 100.0, 44, 0.25)],
)
def test_a_plan_said_to_hold_is_the_plan_the_new_data_gives(capacity, y_max, width, holding):
    """Against planning afresh, second by second: two noisy series with spikes and gaps, a span
    that starts and ends, and a history shorter or longer than the window."""
    rng = random.Random(capacity)
    times: deque[float] = deque(maxlen=capacity)
    average: deque[float | None] = deque(maxlen=capacity)
    peak: deque[float | None] = deque(maxlen=capacity)
    previous = plan = None
    held = checked = 0
    for second in range(2_000):
        now = 1_000_000.0 + second
        value = 60.0 + rng.uniform(-3, 3) + (250.0 if rng.random() < 0.01 else 0.0)
        times.append(now)
        average.append(None if rng.random() < 0.02 else value)
        peak.append(value + rng.uniform(0, 40))
        spans = ((1_000_300.0, min(now, 1_000_500.0)),) if now >= 1_000_300.0 else ()
        data = ChartData(
            tuple(times),
            now,
            600.0,
            (ChartSeries("peak", tuple(peak), RED), ChartSeries("W", tuple(average), BLUE)),
            (ChartLine("limit", 450.0, ORANGE),),
            y_max=y_max,
            spans=spans,
        )
        if previous is not None:
            checked += 1
            if plan_holds(plan, previous, data):
                held += 1
                assert plan_chart(data, "W", width, 12) == plan, second
                previous = data
                continue
        previous, plan = data, plan_chart(data, "W", width, 12)
    assert held > checked * holding  # seconds that cost no planning


def test_a_plan_does_not_hold_for_a_new_peak_a_new_bin_or_a_drawn_sample_gone():
    times = tuple(1_000_000.0 - 599 + i for i in range(600))  # the newest bin: 999_990-1_000_005
    values = tuple(40.0 + i % 3 for i in range(600))

    def data(extra: float | None, *, later: float = 1.0, keep: int = 600, y_max=100.0, spans=()):
        return ChartData(
            (*times[-keep + 1 :], times[-1] + later),
            times[-1] + later,
            600.0,
            (ChartSeries("x", (*values[-keep + 1 :], extra), BLUE),),
            y_max=y_max,
            spans=spans,
        )

    old = ChartData(times, times[-1], 600.0, (ChartSeries("x", values, BLUE),), y_max=100.0)
    plan = plan_chart(old, "x", 44, 10)  # 80 bins of 7.5 s
    assert plan_holds(plan, old, data(41.0))
    assert plan_holds(plan, old, data(None))
    assert not plan_holds(plan, old, data(95.0))  # higher than the newest bin's peak
    assert not plan_holds(plan, old, data(41.0, later=7.0))  # the next bin
    assert not plan_holds(plan, old, data(41.0, spans=((999_000.0, 999_100.0),)))
    short = ChartData(
        times[-300:], times[-1], 600.0, (ChartSeries("x", values[-300:], BLUE),), y_max=100.0
    )
    short_plan = plan_chart(short, "x", 44, 10)
    assert not plan_holds(short_plan, short, data(41.0, keep=300))  # its oldest was drawn
    tall = ChartData(times, times[-1], 600.0, (ChartSeries("x", (99.0, *values[1:]), BLUE),))
    tall_plan = plan_chart(tall, "x", 44, 10)
    assert not plan_holds(tall_plan, tall, data(41.0, y_max=None))  # the axis' top went


def test_several_series_are_lines_in_their_own_colours_with_a_legend():
    times = tuple(float(t) for t in range(600))
    data = ChartData(
        times,
        599.0,
        600.0,
        (
            ChartSeries("GPU 0", tuple(20.0 for _ in times), BLUE),
            ChartSeries("GPU 1", tuple(80.0 for _ in times), RED),
        ),
        y_max=100.0,
    )
    rows = chart_rows(data, "GPU %", 60, 12)
    assert "▪GPU 0" in text(rows[0]) and "▪GPU 1" in text(rows[0])
    lit = [colours(row) for row in rows[1:-2] if {BLUE, RED} & colours(row)]
    assert len(lit) == 2  # one row of dots per flat line, not a filled area
    assert RED in lit[0] and BLUE in lit[1]


def bursts(*series: tuple[str, str, tuple[float, float]]) -> ChartData:
    """Ten minutes of one sample a second, each series alternating between its two values."""
    times = tuple(float(t) for t in range(600))
    return ChartData(
        times,
        599.0,
        600.0,
        tuple(
            ChartSeries(label, tuple(pair[t % 2] for t in range(600)), colour)
            for label, colour, pair in series
        ),
        y_max=100.0,
    )


def test_a_lone_series_shows_its_mean_under_its_peak():
    """5-40 % bursts: filled to the mean (22.5 %) in the series' colour, dimmed up to the peak,
    not a solid 40 % block."""
    rows = chart_rows(bursts(("GPU 0", BLUE, (5.0, 40.0))), "GPU %", 44, 23)  # 20 rows, 80 dots
    bright = [
        number for number, row in enumerate(plot(rows)) if "#0000ff" in colours(rows[number + 1])
    ]
    dim = [
        number for number, row in enumerate(plot(rows)) if "#00007f" in colours(rows[number + 1])
    ]
    # From the bottom: 22.5 % of 80 dots is 18 (rows 15-19), 40 % is 32 (rows 12-14 dimmed).
    assert bright == [15, 16, 17, 18, 19]
    assert dim == [12, 13, 14]
    steady = chart_rows(bursts(("GPU 0", BLUE, (40.0, 40.0))), "GPU %", 44, 23)
    assert not any("#00007f" in colours(row) for row in steady)  # no spread, nothing dimmed


def test_several_series_are_bands_from_each_columns_low_to_its_high():
    data = bursts(("GPU 0", BLUE, (5.0, 40.0)), ("GPU 1", RED, (80.0, 80.0)))
    rows = chart_rows(data, "GPU %", 44, 23)
    blue = [number for number in range(20) if BLUE in colours(rows[number + 1])]
    red = [number for number in range(20) if RED in colours(rows[number + 1])]
    assert blue == list(range(12, 20))  # 5 % to 40 %: every row the bursts cover
    assert len(red) == 1  # a steady series is still a line


def test_a_legend_too_long_for_the_title_row_goes_on_below_it_whole():
    """Eight GPUs: every one is named, on as many rows as that takes; none is cut."""
    times = tuple(float(t) for t in range(600))
    data = ChartData(
        times,
        599.0,
        600.0,
        tuple(ChartSeries(f"GPU {n}", tuple(10.0 * n for _ in times), BLUE) for n in range(8)),
        y_max=100.0,
    )
    rows = chart_rows(data, "GPU utilization %", 40, 14)
    assert len(rows) == 14 and all(len(text(row)) == 40 for row in rows)
    heading = [text(row).rstrip() for row in rows[:3]]
    assert heading == [
        "GPU utilization %  ▪GPU 0  ▪GPU 1",
        "▪GPU 2  ▪GPU 3  ▪GPU 4  ▪GPU 5  ▪GPU 6",
        "▪GPU 7",
    ]
    assert "┤" in text(rows[3])  # the plot starts below the legend: "100┤"
    assert text(rows[-1]).split() == ["-10m", "-5m", "now"]


def test_a_reference_line_is_drawn_where_there_is_no_data():
    data = flat(10.0, lines=(ChartLine("slowdown", 87.0, RED),))
    rows = chart_rows(data, "°C", 40, 12)
    marked = [row for row in rows[1:-2] if RED in colours(row)]
    assert len(marked) == 1 and "╌" * 30 in text(marked[0])


def test_spans_are_marked_on_the_time_axis():
    now = 1_000_000.0
    data = flat(10.0, spans=((now - 300.0, now - 240.0),), span_color=ORANGE)
    axis = chart_rows(data, "x", 42, 10)[-2]
    marked = "".join(part for part, colour in axis if colour == ORANGE)
    assert set(marked) == {"━"} and 3 <= len(marked) <= 5  # 60 s of 600 on 40 cells


def test_too_small_a_chart_shows_its_title_only():
    rows = chart_rows(flat(50.0), "GPU utilization %", 11, 3)
    # The words that fit, none of them cut ("GPU utiliza" before).
    assert text(rows[0]) == "GPU        " and len(rows) == 3
    assert chart_rows(flat(50.0), "x", 0, 10) == []


@pytest.mark.parametrize(
    ("low", "high", "ticks"),
    [(0, 100, [0, 25, 50, 75, 100]), (0, 450, [0, 200, 400]), (0, 24, [0, 10, 20])],
)
def test_nice_ticks(low, high, ticks):
    assert nice_ticks(low, high, 4) == ticks


def test_braille_cells_are_what_the_dots_say():
    assert chr(BRAILLE + 0xFF) == "⣿" and chr(BRAILLE + 0x40 + 0x80) == "⣀"
