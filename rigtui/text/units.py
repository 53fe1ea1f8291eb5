"""Numbers in words a person reads at a glance. Pure functions, no terminal needed."""

from __future__ import annotations

GIB = 1024**3
MIB = 1024**2

NA = "N/A"

CLOCK_EVENT_WORDS = {
    "gpu_idle": "idle",
    "applications_clocks_setting": "app clocks",
    "sw_power_cap": "power cap",
    "hw_slowdown": "HW slowdown",
    "sync_boost": "sync boost",
    "sw_thermal_slowdown": "thermal (SW)",
    "hw_thermal_slowdown": "thermal (HW)",
    "hw_power_brake_slowdown": "power brake",
    "display_clock_setting": "display clock",
}


def gib(value: float | None, digits: int = 1) -> str:
    if value is None:
        return NA
    return f"{value / GIB:.{digits}f}"


def size(value: float | None) -> str:
    """Bytes with a binary unit: 512 MiB, 21.4 GiB."""
    if value is None:
        return NA
    if abs(value) >= GIB:
        return f"{value / GIB:.1f} GiB"
    if abs(value) >= MIB:
        return f"{value / MIB:.0f} MiB"
    if abs(value) >= 1024:
        return f"{value / 1024:.0f} KiB"
    return f"{value:.0f} B"


def rate(bytes_per_s: float | None) -> str:
    """Transfer rates in decimal units, as link speeds are quoted: 6.8 GB/s, 310 MB/s."""
    if bytes_per_s is None:
        return NA
    if bytes_per_s >= 1e9:
        return f"{bytes_per_s / 1e9:.1f} GB/s"
    if bytes_per_s >= 1e6:
        return f"{bytes_per_s / 1e6:.0f} MB/s"
    if bytes_per_s >= 1e3:
        return f"{bytes_per_s / 1e3:.0f} kB/s"
    return f"{bytes_per_s:.0f} B/s"


def watts(value: float | None) -> str:
    return NA if value is None else f"{value:.0f} W"


def celsius(value: float | None) -> str:
    return NA if value is None else f"{value:.0f} °C"


def percent(value: float | None) -> str:
    return NA if value is None else f"{value:.0f}%"


def mhz(value: float | None) -> str:
    return NA if value is None else f"{value:.0f}"


def clock_event_words(reasons: tuple[str, ...] | None) -> str:
    """What holds the clocks down, in short words; empty when nothing does."""
    if reasons is None:
        return NA
    shown = [CLOCK_EVENT_WORDS.get(reason, reason) for reason in reasons]
    # HW slowdown is reported alongside its specific cause; say the cause only.
    if "HW slowdown" in shown and ("thermal (HW)" in shown or "power brake" in shown):
        shown.remove("HW slowdown")
    return ", ".join(shown)


def pcie_link(gen: int | None, width: int | None) -> str:
    if gen is None and width is None:
        return NA
    gen_text = f"Gen{gen}" if gen is not None else "Gen?"
    width_text = f"x{width}" if width is not None else "x?"
    return f"{gen_text} {width_text}"


def duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s" if seconds else f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def drawable(value: float | None) -> bool:
    """A number a chart or bar can place: finite and of a sane magnitude (not NaN, infinity or
    1e308, whose arithmetic overflows)."""
    return value is not None and value == value and abs(value) < 1e300


def unit_fraction(fraction: float | None) -> float | None:
    """``fraction`` held to 0..1 for drawing; None for no value or not a number (NaN)."""
    if fraction is None or fraction != fraction:
        return None
    return max(0.0, min(1.0, fraction))


def fraction_bar(fraction: float | None, width: int) -> tuple[str, str]:
    """A bar of ``width`` cells split into (filled, empty) text, with eighth-cell precision."""
    if width <= 0:
        return "", ""
    fraction = unit_fraction(fraction)
    if fraction is None:
        return "", "·" * width
    eighths = round(fraction * width * 8)
    full, remainder = divmod(eighths, 8)
    partial = " ▏▎▍▌▋▊▉"[remainder] if remainder else ""
    filled = "█" * full + partial
    return filled, " " * (width - len(filled))
