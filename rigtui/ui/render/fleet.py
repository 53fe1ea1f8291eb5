"""The Fleet tab in words: a block per rig, a line per GPU, and a rig's history as charts.

Pure: handed the values read from Prometheus (``rigtui.fleet.model``) and the time, never the
client. Everything here can be missing (a field a GPU cannot read is an absent series), NaN or
absurd (a broken exporter), and is drawn as ``N/A`` or left out rather than raising.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from rich.text import Text

from rigtui.fleet.model import FleetAlert, FleetGpu, FleetModel, FleetReading, FleetRig, RigHistory
from rigtui.text import units
from rigtui.text.safe import literal, without_credentials
from rigtui.ui.render.chart import ChartData, ChartLine, ChartSeries
from rigtui.ui.render.gpu import heat_alarm, power_alarm
from rigtui.ui.render.palette import Palette

NA = units.NA
WINDOWS_S = (15 * 60.0, 3600.0, 6 * 3600.0, 24 * 3600.0)
"""The history windows the Fleet tab cycles through (``w``)."""
HISTORY_POINTS = 240
"""Points per range query: two per braille column of a chart up to 120 cells wide."""
SERIES_COLOURS = ("normal", "accent", "good", "error")
# (key in RigHistory.charts, title, scale: values are divided by it)
HISTORY_CHARTS = (
    ("utilization", "GPU utilization %", 0.01),
    ("vram", "VRAM used GiB", float(units.GIB)),
    ("power", "Power W (peak, limit ╌)", 1.0),
    ("temperature", "Temp °C (slowdown ╌)", 1.0),
)


def _number(value: float | None) -> float | None:
    """``value`` if it is a number that can be shown, else None (NaN, infinity, 1e308)."""
    return value if units.drawable(value) else None


# What no GPU reads: a broken exporter's 1e20 % or -5 W is N/A, not 300 digits across the line.
_MOST_BYTES = 2.0**50  # a pebibyte
_MOST_WATTS = 1e5
_TEMPERATURES = (-60.0, 250.0)
_MOST_PCIE = 64.0
# What a remote exporter names (labels) is cut to these many cells on a GPU's line, so a long
# or hostile label cannot push the figures after it off the line (escaped controls grow 4x).
_MOST_INDEX_CELLS = 6
_MOST_NAME_CELLS = 24
_MOST_REASONS_CELLS = 48


def _within(value: float | None, high: float, low: float = 0.0) -> float | None:
    """``value`` if it is a number between ``low`` and ``high``, else None."""
    value = _number(value)
    return value if value is not None and low <= value <= high else None


def window_words(window_s: float) -> str:
    """15m, 1h, 6h, 24h."""
    if window_s >= 3600 and window_s % 3600 == 0:
        return f"{window_s / 3600:.0f}h"
    return units.duration(window_s) if units.drawable(window_s) else NA


def ago(seconds: float | None) -> str:
    """``3m ago``, ``just now``; ``at an unknown time`` without a usable value."""
    seconds = _number(seconds)
    if seconds is None:
        return "at an unknown time"
    if seconds < 1:
        return "just now"  # also a clock a little ahead of Prometheus'
    if seconds < 60:
        return f"{seconds:.0f}s ago"
    if seconds < 3600:
        return f"{seconds // 60:.0f}m ago"
    if seconds < 2 * 86400:
        return f"{seconds // 3600:.0f}h ago"
    return f"{seconds // 86400:.0f}d ago"


def last_seen(rig: FleetRig, now: float) -> str:
    """``last seen 3m ago`` (or ``never seen``)."""
    seen = _number(rig.last_seen)
    if seen is None:
        return "never seen"
    return f"last seen {ago(now - seen)}"


def short_gpu_name(name: str | None) -> str:
    """``RTX 4090`` from ``NVIDIA GeForce RTX 4090``: the vendor's words are the same on every
    line of the fleet."""
    if not name:
        return ""
    words = [word for word in name.split() if word not in ("NVIDIA", "GeForce")]
    return " ".join(words) or name


def _pair(used: float | None, total: float | None, scale: float, digits: int, most: float) -> str:
    used, total = _within(used, most), _within(total, most)
    used_text = NA if used is None else f"{used / scale:.{digits}f}"
    total_text = NA if total is None else f"{total / scale:.{digits}f}"
    return f"{used_text}/{total_text}"


def _fraction(part: float | None, whole: float | None) -> float | None:
    part, whole = _number(part), _number(whole)
    if part is None or not whole:
        return None
    return part / whole


def _power_colour(gpu: FleetGpu, palette: Palette) -> str:
    fraction = _fraction(
        _within(gpu.power_peak_watts, _MOST_WATTS) or _within(gpu.power_draw_watts, _MOST_WATTS),
        _within(gpu.power_limit_watts, _MOST_WATTS),
    )
    return power_alarm(fraction, palette) or palette.text


def _temperature_colour(gpu: FleetGpu, palette: Palette) -> str:
    temperature = _within(gpu.temperature_celsius, _TEMPERATURES[1], _TEMPERATURES[0])
    if temperature is None:
        return palette.muted
    limit = _within(gpu.temperature_slowdown_celsius, _TEMPERATURES[1], _TEMPERATURES[0]) or 83.0
    return heat_alarm(limit - temperature, palette) or palette.text


def _cut(text: Text, cells: int) -> Text:
    text.truncate(cells, overflow="ellipsis")
    return text


def gpu_line(gpu: FleetGpu, palette: Palette) -> Text:
    """``  GPU 0 RTX 4090  97%  21.4/24.0 GiB  320/450 W peak 412  63/90 °C  power cap``."""
    line = Text("  ")
    line.append(f"GPU {_cut(literal(gpu.index), _MOST_INDEX_CELLS).plain}", style="bold")
    name = short_gpu_name(gpu.name)
    if name:
        line.append(" ")
        line.append_text(_cut(literal(name, style=palette.muted), _MOST_NAME_CELLS))
    if gpu.lost:
        line.append("  LOST", style=f"bold {palette.error}")
        line.append(" fell off the bus: reset or reboot", style=palette.error)
        return line
    utilization = _within(gpu.utilization_ratio, 1.0)
    line.append("  ")
    line.append(NA if utilization is None else f"{utilization * 100:.0f}%".rjust(4), style="bold")
    line.append("  ")
    vram = _fraction(gpu.memory_used_bytes, gpu.memory_total_bytes)
    vram_style = palette.warning if vram is not None and vram >= 0.95 else palette.text
    line.append(
        f"{_pair(gpu.memory_used_bytes, gpu.memory_total_bytes, units.GIB, 1, _MOST_BYTES)} GiB",
        vram_style,
    )
    line.append("  ")
    power_style = _power_colour(gpu, palette)
    watts = _pair(gpu.power_draw_watts, gpu.power_limit_watts, 1, 0, _MOST_WATTS)
    line.append(f"{watts} W", power_style)
    peak = _within(gpu.power_peak_watts, _MOST_WATTS)
    if peak is not None:
        line.append(f" peak {peak:.0f}", power_style)
    line.append("  ")
    temperature = _within(gpu.temperature_celsius, _TEMPERATURES[1], _TEMPERATURES[0])
    slowdown = _within(gpu.temperature_slowdown_celsius, _TEMPERATURES[1], _TEMPERATURES[0])
    temperature_text = NA if temperature is None else f"{temperature:.0f}"
    if slowdown is not None:
        temperature_text += f"/{slowdown:.0f}"
    line.append(f"{temperature_text} °C", _temperature_colour(gpu, palette))
    why = units.clock_event_words(gpu.clock_event_reasons)
    if why and why != "idle":
        slow = any("thermal" in word or "slowdown" in word for word in why.split(", "))
        line.append("  ")
        style = palette.error if slow else palette.warning
        line.append_text(_cut(literal(why, style=style), _MOST_REASONS_CELLS))
    generation = _within(gpu.pcie_generation, _MOST_PCIE)
    generation_max = _within(gpu.pcie_generation_max, _MOST_PCIE)
    width = _within(gpu.pcie_width_lanes, _MOST_PCIE)
    width_max = _within(gpu.pcie_width_max_lanes, _MOST_PCIE)
    below = (
        generation is not None and generation_max is not None and generation < generation_max
    ) or (width is not None and width_max is not None and width < width_max)
    if below and utilization is not None and utilization > 0:
        # Idle GPUs drop their link speed to save power; working below it is the finding.
        link = units.pcie_link(
            None if generation is None else int(generation), None if width is None else int(width)
        )
        line.append(f"  PCIe {link}", palette.warning)
    return line


def model_text(model: FleetModel, palette: Palette) -> Text:
    """``llama3.1:70b 42.1 GiB 38% CPU``: where it runs, as ``ollama ps`` says it."""
    text = literal(model.name, style="bold")
    size = _within(model.size_bytes, _MOST_BYTES)
    if size is not None:
        text.append(f" {units.size(size)}")
    cpu = _number(model.cpu_ratio)
    if cpu is not None:
        cpu = min(1.0, max(0.0, cpu))
        if cpu >= 0.005:
            text.append(f" {cpu * 100:.0f}% CPU", style=palette.warning)
        else:
            text.append(" 100% GPU", style=palette.good)
    return text


def models_line(models: Iterable[FleetModel], palette: Palette) -> Text | None:
    shown = [model_text(model, palette) for model in models]
    if not shown:
        return None
    line = Text("  models ", style=palette.muted)
    line.append_text(Text(" · ").join(shown))
    return line


def alert_line(alert: FleetAlert, palette: Palette) -> Text:
    """``  ▲ GpuThermalSlowdown GPU 0: what it says to do`` (pending ones dimmer)."""
    firing = alert.state == "firing"
    colour = palette.error if firing else palette.warning
    line = Text("  ")
    line.append("▲ " if firing else "△ ", style=colour)
    line.append_text(literal(alert.name, style=f"bold {colour}"))
    if alert.gpu is not None:
        line.append(f" GPU {literal(alert.gpu).plain}", style=colour)
    if not firing:
        line.append(" (pending)", style=colour)
    if alert.summary:
        line.append(": ")
        line.append_text(literal(alert.summary))
    return line


def rig_state(rig: FleetRig) -> str:
    """UP, DOWN or STALE."""
    if not rig.up:
        return "DOWN"
    return "STALE" if rig.stale else "UP"


def rig_title(rig: FleetRig, now: float, palette: Palette) -> Text:
    """``127.0.0.1:10430 · gpubox (rigtui) · UP · Ollama up · 2 firing``."""
    title = literal(rig.instance, style="bold")
    if rig.hostname:
        title.append(" · ")
        title.append_text(literal(rig.hostname, style="bold"))
    title.append_text(literal(f" ({rig.job})", style=palette.muted))
    state = rig_state(rig)
    colour = {"UP": palette.good, "STALE": palette.warning}.get(state, palette.error)
    title.append(" · ")
    title.append(state, style=f"bold {colour}")
    if state != "UP":
        title.append(f" {last_seen(rig, now)}", style=colour)
    if rig.ollama_up is not None:
        title.append(" · ")
        title.append(
            "Ollama up" if rig.ollama_up else "Ollama down",
            style=palette.text if rig.ollama_up else palette.error,
        )
    budget = _within(rig.power_budget_watts, _MOST_WATTS)
    peak = _within(rig.power_total_peak_watts, _MOST_WATTS)
    if budget is not None and peak is not None:
        title.append(" · ")
        over = peak > budget
        title.append(
            f"peak {peak:.0f}/{budget:.0f} W", style=palette.error if over else palette.text
        )
    firing = len(rig.firing)
    if firing:
        title.append(" · ")
        title.append(f"{firing} firing", style=f"bold {palette.error}")
    if rig.demo:
        title.append_text(literal(f" · demo {rig.demo}", style=palette.muted))
    return title


def rig_block(rig: FleetRig, now: float, palette: Palette) -> Text:
    """Every line of one rig: the title, its GPUs, its models, its alerts."""
    lines = [rig_title(rig, now, palette)]
    lines.extend(gpu_line(gpu, palette) for gpu in rig.gpus)
    if not rig.gpus:
        lines.append(Text("  no GPU series", style=palette.muted))
    models = models_line(rig.models, palette)
    if models is not None:
        lines.append(models)
    lines.extend(alert_line(alert, palette) for alert in rig.alerts)
    return Text("\n").join(lines)


def rig_key(rig: FleetRig) -> str:
    """What keeps a rig selected from one reading to the next."""
    return f"{rig.job}\x00{rig.instance}"


def fleet_status(
    reading: FleetReading | None,
    error: str | None,
    retry_in_s: float | None,
    now: float,
    palette: Palette,
    server: str = "",
) -> Text:
    """The line above the rigs: where they are read from and how fresh, or why not."""
    line = Text()
    if reading is not None:
        count = len(reading.rigs)
        line.append(f"{count} rig{'' if count == 1 else 's'}", style="bold")
        firing = sum(1 for rig in reading.rigs if rig.firing)
        if firing:
            line.append(" · ")
            line.append(f"{firing} with firing alerts", style=f"bold {palette.error}")
        line.append(" from ")
        line.append_text(literal(without_credentials(reading.server or server)))
        line.append(f" · read {ago(now - reading.read_at)}", style=palette.muted)
    else:
        line.append("Prometheus ")
        line.append_text(literal(without_credentials(server)))
        if not error:
            line.append(" · reading…", style=palette.muted)
    if error:
        # What it means first, the error's own words last: a long one is cut at the status'
        # height, and "showing the last good reading" must not be cut with it.
        line.append("\n")
        line.append("⚠ ", style=palette.error)
        if reading is not None:
            line.append("showing the last good reading", style=palette.warning)
        retry = _number(retry_in_s)
        if retry is not None:
            when = f"in {units.duration(retry)}" if retry >= 1 else "now"
            line.append(
                f"{', t' if reading is not None else 'T'}rying again {when}", style=palette.muted
            )
        if reading is not None or retry is not None:
            line.append(": ", style=palette.muted)
        line.append_text(literal(error, style=palette.error))
    elif reading is not None and reading.alerts_error:
        line.append("\n")
        line.append_text(literal(f"alerts not read: {reading.alerts_error}", style=palette.warning))
    return line


NO_RIGS = """No rigs with rigtui metrics in this Prometheus yet.

Run the exporter on each rig:   rigtui exporter --listen 0.0.0.0:10430
and add it to prometheus.yml:

  scrape_configs:
    - job_name: rigtui
      static_configs:
        - targets: ["gpubox:10430"]
"""


def history_charts(
    history: RigHistory, palette: Palette, window_s: float | None = None
) -> dict[str, ChartData]:
    """One chart per quantity (``utilization``, ``vram``, ``power``, ``temperature``) for
    the Charts tab's renderer: the points of every line on one time axis. ``window_s``: the
    window asked for (its time labels read -15m, not the -14m56s a step's rounding left)."""
    colours = [getattr(palette, name) for name in SERIES_COLOURS]
    end = _number(history.end) or 0.0
    start = _number(history.start)
    if window_s is None:
        window_s = end - start if start is not None else None
    if window_s is None or not 1.0 <= window_s < 1e9:
        window_s = WINDOWS_S[0]  # a window no range query gives: a sane one to bin in
    all_series = [series for charts in history.charts.values() for series in charts]
    times = sorted({t for series in all_series for t, _ in series.points if _number(t) is not None})
    where = {t: i for i, t in enumerate(times)}

    def aligned(points) -> tuple[float | None, ...]:
        values: list[float | None] = [None] * len(times)
        for t, value in points:
            index = where.get(t)
            if index is not None:
                values[index] = _number(value)
        return tuple(values)

    def lines(*names: tuple[str, str, str]) -> tuple[ChartLine, ...]:
        found = []
        for key, label, colour in names:
            value = _number(history.lines.get(key))
            if value is not None:
                found.append(ChartLine(label, value, colour))
        return tuple(found)

    def per_gpu(key: str) -> tuple[ChartSeries, ...]:
        return tuple(
            ChartSeries(series.label, aligned(series.points), colours[i % len(colours)])
            for i, series in enumerate(history.charts.get(key, ()))
        )

    def chart(series, chart_lines=(), y_max=None) -> ChartData:
        return ChartData(tuple(times), end, window_s, series, chart_lines, y_max=y_max)

    peaks = tuple(
        ChartSeries("peak", aligned(series.points), palette.error)
        for series in history.charts.get("power_peak", ())
    )
    vram_top = _number(history.lines.get("vram_total"))
    return {
        "utilization": chart(per_gpu("utilization"), y_max=100.0),
        "vram": chart(
            per_gpu("vram"), y_max=vram_top / units.GIB if vram_top is not None else None
        ),
        # The peaks first, so the one-second average stays visible on top (as the Charts tab).
        "power": chart(
            peaks + per_gpu("power"),
            lines(
                ("power_limit", "limit", palette.warning),
                ("power_budget", "budget", palette.error),
            ),
        ),
        "temperature": chart(
            per_gpu("temperature"),
            lines(("temperature_slowdown", "slowdown", palette.error)),
        ),
    }


def history_title(instance: str, window_s: float, points: int) -> Text:
    title = literal(instance, style="bold")
    title.append(f" · last {window_words(window_s)}")
    if points == 0:
        title.append(" · no samples in this window", style="italic")
    return title


def history_points(history: RigHistory) -> int:
    """How many values the range queries returned, over every line."""
    return sum(
        1
        for charts in history.charts.values()
        for series in charts
        for _, value in series.points
        if value is not None and not math.isnan(value)
    )
