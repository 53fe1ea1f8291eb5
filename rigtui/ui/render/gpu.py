"""The lines of a GPU card, as Rich text. Pure: a reading, its insight and a width in, lines out.

What the figures mean (why the GPU is slow, whether a fan is broken, what the link carries) is
worked out by ``rigtui.insight`` and handed in; without it the card shows the figures alone."""

from __future__ import annotations

import io
from collections.abc import Iterable

from rich.cells import cell_len
from rich.console import Console
from rich.text import Text

from rigtui.insight.diagnosis import BAD, NOTE, OK, WARN
from rigtui.insight.fans import FanCheck
from rigtui.insight.rig import GpuInsight
from rigtui.telemetry.model import FanReading, GpuReading
from rigtui.text import units
from rigtui.ui.render.palette import DEFAULT_PALETTE, Palette

LABEL_WIDTH = 5
NO_INSIGHT = "–"
"""In place of a judgement the card was not handed (before the first insight arrives)."""


def bar(fraction: float | None, width: int, colour: str, palette: Palette) -> Text:
    filled, empty = units.fraction_bar(fraction, width)
    text = Text.styled(filled, style=f"{colour} on {palette.track}")
    text.append(empty, style=f"on {palette.track}")
    return text


def label(word: str) -> Text:
    return Text.styled(f"{word:<{LABEL_WIDTH}}", style="bold")


def na(reason: str | None, palette: Palette) -> Text:
    text = Text.styled(units.NA, style=palette.muted)
    if reason:
        text.append(f" ({reason})", style=palette.muted)
    return text


_WRAPPING = Console(width=200, color_system=None, file=io.StringIO())
"""Only to wrap text: Rich asks a console for its tab size and the like."""


def fits(line: Text, more: Text | str, width: int) -> bool:
    extra = more.cell_len if isinstance(more, Text) else cell_len(more)
    return line.cell_len + extra <= width


def append_fitting(line: Text, extras: Iterable[Text | str], width: int) -> Text:
    """Append ``extras`` in order, each only while it (and all before it) fits ``width``: the
    figures that matter least come last and are the first to go. Nothing is cut."""
    for extra in extras:
        if not fits(line, extra, width):
            break
        line.append_text(extra if isinstance(extra, Text) else Text(extra))
    return line


def wrapped(line: Text, width: int, indent: int = LABEL_WIDTH) -> list[Text]:
    """``line`` in ``width`` cells: padded if it fits, else wrapped between words with the
    lines after the first indented past the label. Never cut mid-word."""
    if line.cell_len <= width:
        line.pad_right(width - line.cell_len)
        return [line]
    head, body = line[:indent], line[indent:]
    room = max(1, width - indent)
    lines = body.wrap(_WRAPPING, room, overflow="fold")
    out = []
    for number, part in enumerate(lines):
        part.rstrip()
        row = head.copy() if number == 0 else Text(" " * indent)
        row.append_text(part)
        row.pad_right(max(0, width - row.cell_len))
        out.append(row)
    return out


def heat_alarm(headroom_c: float, palette: Palette) -> str | None:
    """The error colour within 5 °C of the slowdown threshold, the warning colour within 15,
    else None (the caller's calm colour): the dashboard's cards and the Fleet tab alike."""
    if headroom_c < 5:
        return palette.error
    if headroom_c < 15:
        return palette.warning
    return None


def temperature_colour(gpu: GpuReading, palette: Palette) -> str:
    """Coloured by headroom to the slowdown threshold (or 83 °C when it is not known)."""
    if gpu.temperature_c is None:
        return palette.muted
    limit = gpu.temperature_slowdown_c or gpu.temperature_max_operating_c or 83
    return heat_alarm(limit - gpu.temperature_c, palette) or palette.good


def vram_colour(fraction: float | None, palette: Palette) -> str:
    if fraction is None:
        return palette.muted
    if fraction >= 0.95:
        return palette.warning
    return palette.normal


def power_alarm(fraction: float | None, palette: Palette) -> str | None:
    """The error colour over the power limit (past the 2% a one-second average wanders), the
    warning colour from 95% of it, else None (the caller's calm colour)."""
    if fraction is None:
        return None
    if fraction > 1.02:
        return palette.error
    if fraction >= 0.95:
        return palette.warning
    return None


def power_colour(fraction: float | None, palette: Palette) -> str:
    if fraction is None:
        return palette.muted
    return power_alarm(fraction, palette) or palette.normal


def _metric(
    name: str,
    fraction: float | None,
    value: str,
    width: int,
    colour: str,
    palette: Palette,
    reason: str | None,
    extras: Iterable[str] = (),
) -> Text:
    """``NAME ████▌    97%`` in ``width`` cells; ``extras`` follow the value while they fit
    beside a bar of at least four cells."""
    line = label(name)
    if fraction is None and value == units.NA:
        line.append_text(na(reason, palette))
        return line
    shown = append_fitting(Text(value), extras, width - LABEL_WIDTH - 4 - 1).plain
    bar_width = max(1, width - LABEL_WIDTH - cell_len(shown) - 1)
    line.append_text(bar(fraction, bar_width, colour, palette))
    line.append(" " + shown)
    return line


def utilization_line(gpu: GpuReading, width: int, palette: Palette) -> Text:
    util = gpu.utilization_gpu_pct
    mem = gpu.utilization_memory_pct
    reason = gpu.reason("utilization_gpu_pct")
    if width >= 56:
        half = (width - 2) // 2
        line = _metric(
            "GPU",
            None if util is None else util / 100,
            units.percent(util),
            half,
            palette.normal,
            palette,
            reason,
        )
        line.pad_right(max(0, half - line.cell_len) + 2)
        line.append_text(
            _metric(
                "MEM",
                None if mem is None else mem / 100,
                units.percent(mem),
                width - half - 2,
                palette.normal,
                palette,
                reason,
            )
        )
        return line
    value = f"{units.percent(util)} mem {units.percent(mem)}"
    return _metric(
        "GPU", None if util is None else util / 100, value, width, palette.normal, palette, reason
    )


def vram_line(gpu: GpuReading, width: int, palette: Palette) -> Text:
    fraction = gpu.memory_used_fraction
    extras = []
    if gpu.memory_used_bytes is None:
        value = units.NA
    else:
        value = f"{units.gib(gpu.memory_used_bytes)}/{units.gib(gpu.memory_total_bytes)} GiB"
        if gpu.memory_reserved_bytes:
            extras.append(f" +{units.gib(gpu.memory_reserved_bytes)} rsv")
    return _metric(
        "VRAM",
        fraction,
        value,
        width,
        vram_colour(fraction, palette),
        palette,
        gpu.reason("memory_used_bytes"),
        extras,
    )


def peak_text(gpu: GpuReading) -> str:
    """``peak 655 W`` (instantaneous, last minute) or ``peak 479 W (1 s avg)``."""
    if gpu.power_peak_60s_w is None:
        return ""
    kind = "" if gpu.power_peaks_instant else " (1 s avg)"
    return f"peak {gpu.power_peak_60s_w:.0f} W{kind}"


def power_line(gpu: GpuReading, width: int, palette: Palette) -> Text:
    fraction = gpu.power_fraction
    if gpu.power_draw_w is None:
        value = units.NA
    elif gpu.power_limit_w is None:
        value = units.watts(gpu.power_draw_w)
    else:
        value = f"{gpu.power_draw_w:.0f}/{gpu.power_limit_w:.0f} W"
    extras = []
    peak = peak_text(gpu)
    if peak:  # what trips a power supply: kept longer than the P-state
        extras.append(f"  {peak}")
    if gpu.pstate is not None:
        extras.append(f" P{gpu.pstate}")
    return _metric(
        "PWR",
        fraction,
        value,
        width,
        power_colour(fraction, palette),
        palette,
        gpu.reason("power_draw_w"),
        extras,
    )


def temperature_line(gpu: GpuReading, width: int, palette: Palette) -> Text:
    line = label("TEMP")
    if gpu.temperature_c is None:
        line.append_text(na(gpu.reason("temperature_c"), palette))
    else:
        line.append(
            units.celsius(gpu.temperature_c), style=f"bold {temperature_colour(gpu, palette)}"
        )
    extras = []
    if gpu.temperature_slowdown_c is not None:
        headroom = gpu.temperature_slowdown_c - (gpu.temperature_c or 0)
        slowdown = Text(f"  slowdown {gpu.temperature_slowdown_c} °C", style=palette.muted)
        if gpu.temperature_c is not None:
            slowdown.append(
                f" ({headroom:+.0f})" if headroom < 0 else f" ({headroom:.0f} to go)",
                style=palette.muted,
            )
        extras.append(slowdown)
    if gpu.temperature_shutdown_c is not None:
        extras.append(Text(f"  shutdown {gpu.temperature_shutdown_c} °C", style=palette.muted))
    return append_fitting(line, extras, width)


def fan_summary(
    gpu: GpuReading, palette: Palette, check: FanCheck | None = None, *, short: bool = False
) -> Text:
    """The fans' speeds, and ``check``'s verdict: fan-stop (normal) told from no sensor
    (passive) and from a fan that should spin but does not. No check, no verdict."""
    if not gpu.fans:
        return na(gpu.reason("fans") or "no fan sensor", palette)
    text = Text()
    speeds = [_fan_speed(fan) for fan in gpu.fans]
    text.append(" ".join(speeds))
    readable = [fan for fan in gpu.fans if fan.speed_pct is not None]
    if check is not None and check.not_spinning:
        broken = check.not_spinning
        which = ", ".join(str(fan.index) for fan in broken)
        message = (
            f"fan {which} not spinning"
            if short
            else f"fan {which}: 0 rpm at {broken[0].speed_pct}% — not spinning"
        )
        text.append(f"  {message}", style=f"bold {palette.error}")
    elif check is not None and check.stopped:
        if check.stopped_while_hot:
            message = (
                "stopped while hot"
                if short
                else (f"stopped at {gpu.temperature_c} °C — check the fans")
            )
            text.append(f"  {message}", style=f"bold {palette.error}")
        else:
            text.append(
                "  fan-stop" if short else "  fan-stop (normal while cool)", style=palette.good
            )
    else:
        rpms = [fan.rpm for fan in readable if fan.rpm is not None]
        if rpms:
            text.append(f"  {' '.join(str(rpm) for rpm in rpms)} rpm", style=palette.muted)
    unreadable = [fan for fan in gpu.fans if fan.speed_pct is None]
    if unreadable and not readable:
        text.append(f"  ({unreadable[0].reason})", style=palette.muted)
    return text


def _fan_speed(fan: FanReading) -> str:
    return units.NA if fan.speed_pct is None else f"{fan.speed_pct}%"


def fan_line(
    gpu: GpuReading, width: int, palette: Palette, insight: GpuInsight | None = None
) -> Text:
    check = insight.fans if insight is not None else None
    line = label("FAN")
    summary = fan_summary(gpu, palette, check)
    if not fits(line, summary, width):
        summary = fan_summary(gpu, palette, check, short=True)
    line.append_text(summary)
    return line


def reasons_text(gpu: GpuReading, palette: Palette) -> Text:
    reasons = gpu.clocks_event_reasons
    if reasons is None:
        return na(gpu.reason("clocks_event_reasons"), palette)
    words = units.clock_event_words(reasons)
    if not reasons:
        return Text.styled("full clocks", style=palette.good)
    if set(reasons) <= {"gpu_idle"}:
        return Text.styled(words, style=palette.muted)
    serious = {
        "hw_slowdown",
        "hw_thermal_slowdown",
        "hw_power_brake_slowdown",
        "sw_thermal_slowdown",
    }
    colour = palette.error if serious & set(reasons) else palette.warning
    return Text.styled(f"▲ {words}", style=f"bold {colour}")


def clocks_line(gpu: GpuReading, width: int, palette: Palette) -> Text:
    line = label("CLK")
    line.append(f"SM {units.mhz(gpu.clocks_sm_mhz)}/{units.mhz(gpu.clocks_sm_max_mhz)}")
    reasons = Text(" MHz  ")
    reasons.append_text(reasons_text(gpu, palette))
    memory = f"  MEM {units.mhz(gpu.clocks_mem_mhz)}/{units.mhz(gpu.clocks_mem_max_mhz)}"
    if fits(line, memory + reasons.plain, width):
        line.append(memory)
    line.append_text(reasons)
    return line


def pcie_line(
    gpu: GpuReading, width: int, palette: Palette, insight: GpuInsight | None = None
) -> Text:
    line = label("PCIe")
    current = units.pcie_link(gpu.pcie_link_gen, gpu.pcie_link_width)
    maximum = units.pcie_link(gpu.pcie_link_gen_max, gpu.pcie_link_width_max)
    link = insight.link if insight is not None else None
    degraded = link is not None and link.gen_below_max
    line.append(current, style=f"bold {palette.warning}" if degraded else "bold")
    if link is not None and link.idle_downshift:
        line.append(" (idle)", style=palette.muted)
    line.append(f" / {maximum}", style=palette.muted)
    received = Text(f"  RX {units.rate(gpu.pcie_rx_bytes_per_s)}")
    load = insight.load if insight is not None else None
    if load is not None and load.rate_bytes_per_s:
        verb = "loading" if insight.loading else "last load"
        share = f" ({load.link_share:.0%})" if load.link_share is not None else ""
        more = Text(f"  {verb} {load.rate_bytes_per_s / 1e9:.1f} GB/s{share}", style=palette.accent)
    else:
        more = Text(f"  TX {units.rate(gpu.pcie_tx_bytes_per_s)}")
    bandwidth = link.bytes_per_s if link is not None else None
    if bandwidth:  # what the link could carry: the first to go
        capacity = Text(f" {bandwidth / 1e9:.1f} GB/s", style=palette.muted)
        if fits(line, capacity.plain + received.plain + more.plain, width):
            line.append_text(capacity)
    line.append_text(received)
    return append_fitting(line, [more], width)


def why_line(gpu: GpuReading, width: int, palette: Palette, insight: GpuInsight | None) -> Text:
    """Why is it slow, in words: the card's last line (wrapped, never cut, by the card)."""
    line = label("WHY")
    if insight is None:
        line.append(NO_INSIGHT, style=palette.muted)
        return line
    diagnosis = insight.diagnosis
    colour = {OK: palette.good, NOTE: palette.warning, WARN: palette.warning, BAD: palette.error}[
        diagnosis.severity
    ]
    line.append(diagnosis.words, style=f"bold {colour}" if diagnosis.severity >= WARN else colour)
    return line


def gpu_title(gpu: GpuReading, width: int | None = None) -> str:
    """``GPU 0 · NVIDIA GeForce RTX 4090`` in at most ``width`` cells: the vendor's words go
    first, then words from the end of the name, never part of a word."""
    name = gpu.name or "name unavailable"
    title = f"GPU {gpu.index} · {name}"
    if width is None or cell_len(title) <= width:
        return title
    words = [word for word in name.split() if word not in ("NVIDIA", "GeForce")]
    while words:
        title = f"GPU {gpu.index} · {' '.join(words)}"
        if cell_len(title) <= width:
            return title
        words.pop()
    return f"GPU {gpu.index}"


def gpu_subtitle(gpu: GpuReading) -> str:
    if gpu.lost:
        return "LOST"
    if not gpu.pci_bus_id:
        return ""
    # 00000000:01:00.0 → 01:00.0 (the PCI domain is almost always zero).
    domain, _, rest = gpu.pci_bus_id.partition(":")
    return f"PCI {rest if domain.strip('0') == '' and rest else gpu.pci_bus_id}"


def lost_lines(gpu: GpuReading, width: int, palette: Palette) -> list[Text]:
    lines = [
        Text.styled(
            "GPU lost: it fell off the bus (NVML_ERROR_GPU_IS_LOST).", style=f"bold {palette.error}"
        ),
        Text("Check the dock or riser cable and the card's power."),
        Text("Recovering it needs a GPU reset or a reboot; the other GPUs keep updating."),
    ]
    return [row for line in lines for row in wrapped(line, width, indent=0)]


def gpu_card_lines(
    gpu: GpuReading,
    width: int,
    palette: Palette = DEFAULT_PALETTE,
    insight: GpuInsight | None = None,
) -> list[Text]:
    """The card's lines in ``width`` cells: optional figures dropped where they do not fit,
    what still does not fit (a long WHY) wrapped between words."""
    if gpu.lost:
        return lost_lines(gpu, width, palette)
    lines = [
        utilization_line(gpu, width, palette),
        vram_line(gpu, width, palette),
        power_line(gpu, width, palette),
        temperature_line(gpu, width, palette),
        fan_line(gpu, width, palette, insight),
        clocks_line(gpu, width, palette),
        pcie_line(gpu, width, palette, insight),
        why_line(gpu, width, palette, insight),
    ]
    return [row for line in lines for row in wrapped(line, width)]


def _pair(left: Text, right: Text, width: int) -> list[Text]:
    """Two figures side by side in halves of ``width``; one above the other where either is
    wider than its half, rather than cut."""
    half = (width - 2) // 2
    if left.cell_len > half or right.cell_len > width - half - 2:
        return wrapped(left, width) + wrapped(right, width)
    left.pad_right(half - left.cell_len + 2)
    left.append_text(right)
    left.pad_right(width - left.cell_len)
    return [left]


def gpu_card_compact_lines(
    gpu: GpuReading,
    width: int,
    palette: Palette = DEFAULT_PALETTE,
    insight: GpuInsight | None = None,
) -> list[Text]:
    """Five lines, two figures on most: for several GPUs on a short terminal."""
    if gpu.lost:
        return lost_lines(gpu, width, palette)[:2]
    half = (width - 2) // 2
    right = width - half - 2
    vram = vram_line(gpu, half, palette)
    power = power_line(gpu, right, palette)
    temperature = label("TEMP")
    if gpu.temperature_c is None:
        temperature.append_text(na(gpu.reason("temperature_c"), palette))
    else:
        temperature.append(
            units.celsius(gpu.temperature_c), style=f"bold {temperature_colour(gpu, palette)}"
        )
        if gpu.temperature_slowdown_c is not None:
            headroom = gpu.temperature_slowdown_c - gpu.temperature_c
            append_fitting(
                temperature,
                [Text(f" ({headroom:.0f} to go)", style=palette.muted)],
                half,
            )
    fans = label("FAN")
    check = insight.fans if insight is not None else None
    summary = fan_summary(gpu, palette, check)
    if not fits(fans, summary, right):
        summary = fan_summary(gpu, palette, check, short=True)
    if not fits(fans, summary, right) and gpu.fans:
        # The speeds alone, with the verdict if it still fits (a broken fan does).
        summary = Text(" ".join(_fan_speed(fan) for fan in gpu.fans))
    fans.append_text(summary)
    clocks = label("CLK")
    clocks.append(f"{units.mhz(gpu.clocks_sm_mhz)} ")
    clocks.append_text(reasons_text(gpu, palette))
    trained = Text(units.pcie_link(gpu.pcie_link_gen, gpu.pcie_link_width), style="bold")
    received = Text(f" RX {units.rate(gpu.pcie_rx_bytes_per_s)}")
    widest = Text(f" /x{gpu.pcie_link_width_max or '?'}", style=palette.muted)
    # "Gen4 x4" says what it is: its label is the first to go, before the receive rate.
    link = label("PCIe") if fits(label("PCIe"), trained + received, right) else Text()
    link.append_text(trained)
    if fits(link, widest + received, right):
        link.append_text(widest)
    link.append_text(received)
    return [
        *wrapped(utilization_line(gpu, width, palette), width),
        *_pair(vram, power, width),
        *_pair(temperature, fans, width),
        *_pair(clocks, link, width),
        *wrapped(why_line(gpu, width, palette, insight), width),
    ]


def gpu_card_brief_lines(
    gpu: GpuReading,
    width: int,
    palette: Palette = DEFAULT_PALETTE,
    insight: GpuInsight | None = None,
) -> list[Text]:
    """Two lines, as nvitop fits a GPU: load, memory, power, temperature and fans; then WHY.
    For many GPUs on a short terminal. Figures that do not fit are left out whole, from the
    end."""
    if gpu.lost:
        return lost_lines(gpu, width, palette)[:1]
    util = gpu.utilization_gpu_pct
    figures = Text(f"  {units.percent(util)}")
    if gpu.memory_used_bytes is not None:
        vram = f"{units.gib(gpu.memory_used_bytes)}/{units.gib(gpu.memory_total_bytes)} GiB"
        figures.append("  VRAM ", style="bold")
        figures.append(vram, style=vram_colour(gpu.memory_used_fraction, palette))
    pieces: list[Text] = []
    if gpu.power_draw_w is not None:
        power = Text("  PWR ", style="bold")
        limit = f"/{gpu.power_limit_w:.0f}" if gpu.power_limit_w is not None else ""
        power.append(
            f"{gpu.power_draw_w:.0f}{limit} W", style=power_colour(gpu.power_fraction, palette)
        )
        pieces.append(power)
    if gpu.temperature_c is not None:
        pieces.append(
            Text(
                f"  {units.celsius(gpu.temperature_c)}",
                style=f"bold {temperature_colour(gpu, palette)}",
            )
        )
    if gpu.fans:
        fans = Text("  FAN ", style="bold")
        fans.append_text(
            fan_summary(gpu, palette, insight.fans if insight is not None else None, short=True)
        )
        pieces.append(fans)
    line = label("GPU")
    # The bar takes what the figures leave, at least four cells.
    shown = append_fitting(figures.copy(), pieces, width - LABEL_WIDTH - 4)
    line.append_text(
        bar(
            None if util is None else util / 100,
            max(4, width - LABEL_WIDTH - shown.cell_len),
            palette.normal,
            palette,
        )
    )
    line.append_text(shown)
    return [
        *wrapped(line, width),
        *wrapped(why_line(gpu, width, palette, insight), width),
    ]
