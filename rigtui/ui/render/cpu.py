"""The lines of the CPU and memory panel, as Rich text."""

from __future__ import annotations

from rich.text import Text

from rigtui.telemetry.model import CpuReading, MemoryReading
from rigtui.text import units
from rigtui.ui.render.gpu import LABEL_WIDTH, bar, label
from rigtui.ui.render.palette import DEFAULT_PALETTE, Palette

BLOCKS = " ▁▂▃▄▅▆▇█"
CORE_CELL_WIDTH = 13
"""``07 ██████ 97%``: core number, a bar and the value."""


def load_colour(percent: float, palette: Palette) -> str:
    if percent >= 90:
        return palette.error
    if percent >= 70:
        return palette.warning
    return palette.normal


def cpu_total_line(cpu: CpuReading, width: int, palette: Palette) -> Text:
    line = label("CPU")
    value = f"{cpu.percent:5.1f}%"
    line.append_text(
        bar(
            cpu.percent / 100,
            width - LABEL_WIDTH - len(value) - 1,
            load_colour(cpu.percent, palette),
            palette,
        )
    )
    line.append(" " + value)
    return line


def core_grid_lines(cpu: CpuReading, width: int, max_rows: int, palette: Palette) -> list[Text]:
    """Every core with a bar when there is room, else one block character per core."""
    cores = cpu.per_core_pct
    columns = max(1, (width + 1) // (CORE_CELL_WIDTH + 1))
    rows = -(-len(cores) // columns)
    if rows <= max_rows:
        lines = []
        for row in range(rows):
            line = Text()
            for column in range(columns):
                core = column * rows + row
                if core >= len(cores):
                    break
                if column:
                    line.append(" ")
                value = cores[core]
                line.append(f"{core:>2} ", style=palette.muted)
                line.append_text(
                    bar(value / 100, CORE_CELL_WIDTH - 8, load_colour(value, palette), palette)
                )
                line.append(f"{value:4.0f}%")
            lines.append(line)
        return lines
    line = label("CORE")  # 'cores' filled the label column and ran into the first block
    room = max(0, width - LABEL_WIDTH - 12)
    gap = " " if len(cores) * 2 <= room else ""
    for value in cores[: room // (2 if gap else 1)]:
        line.append(
            BLOCKS[round((units.unit_fraction(value / 100) or 0.0) * 8)],
            style=f"{load_colour(value, palette)} on {palette.track}",
        )
        line.append(gap)
    busy = sum(1 for value in cores if value >= 90)
    if busy:
        line.append(f"  {busy}/{len(cores)} busy", style=palette.muted)
    return [line]


def memory_line(name: str, used: int, total: int, width: int, palette: Palette) -> Text:
    line = label(name)
    value = f"{units.gib(used)}/{units.gib(total)} GiB"
    fraction = used / total if total else None
    colour = palette.warning if fraction is not None and fraction >= 0.9 else palette.normal
    line.append_text(bar(fraction, width - LABEL_WIDTH - len(value) - 1, colour, palette))
    line.append(" " + value)
    return line


def cpu_panel_lines(
    cpu: CpuReading,
    memory: MemoryReading,
    width: int,
    height: int,
    palette: Palette = DEFAULT_PALETTE,
) -> list[Text]:
    """As many lines as ``height`` allows: total, cores, RAM and swap always fit in four."""
    core_rows = max(1, height - 3)
    lines = [cpu_total_line(cpu, width, palette)]
    lines.extend(core_grid_lines(cpu, width, core_rows, palette))
    lines.append(memory_line("RAM", memory.used_bytes, memory.total_bytes, width, palette))
    if memory.swap_total_bytes:
        lines.append(
            memory_line("SWAP", memory.swap_used_bytes, memory.swap_total_bytes, width, palette)
        )
    else:
        lines.append(label("SWAP") + Text.styled("none", style=palette.muted))
    return lines


def cpu_title(cpu: CpuReading, width: int | None = None) -> str:
    """``CPU · 8 cores / 16 threads · load 1.20 0.85 0.70`` in at most ``width`` cells: the
    cores, then the 5 and 15 minute loads go first."""
    threads = f"{cpu.logical_count} threads"
    counts = [threads]
    if cpu.physical_count:
        counts.insert(0, f"{cpu.physical_count} cores / {threads}")
    loads = [""]
    if cpu.load_average is not None:
        one, five, fifteen = cpu.load_average
        loads = [f" · load {one:.2f} {five:.2f} {fifteen:.2f}", f" · load {one:.2f}"]
    forms = [f"CPU · {count}{load}" for load in loads for count in counts]
    forms += [f"CPU{load}" for load in loads] + ["CPU"]
    return next((form for form in forms if width is None or len(form) <= width), "CPU")
