"""Why is this GPU slow? One line in words, from the clock-event reasons, the temperature
headroom, power against the limit, the PCIe link, and where the model lives."""

from __future__ import annotations

from dataclasses import dataclass

from rigtui.insight.pcie import link_state
from rigtui.telemetry.model import GpuReading

OK, NOTE, WARN, BAD = 0, 1, 2, 3


@dataclass(frozen=True)
class Diagnosis:
    words: str
    severity: int
    """0 fine, 1 worth knowing, 2 slowing it down, 3 something is wrong."""


def _temperature_words(gpu: GpuReading) -> str:
    if gpu.temperature_c is None:
        return "thermal slowdown"
    if gpu.temperature_slowdown_c is not None:
        headroom = gpu.temperature_slowdown_c - gpu.temperature_c
        where = "past" if headroom < 0 else "from"
        return f"thermal slowdown ({gpu.temperature_c} °C, {abs(headroom)} °C {where} slowdown)"
    return f"thermal slowdown ({gpu.temperature_c} °C)"


def _idle(gpu: GpuReading, reasons: set[str]) -> bool:
    """The driver says the GPU idles, or it is next to unused (as the card's own "idle")."""
    utilization = gpu.utilization_gpu_pct
    return "gpu_idle" in reasons or (utilization is not None and utilization < 5)


def why_slow(
    gpu: GpuReading, model_cpu_share: float | None = None, *, loading: bool = False
) -> Diagnosis:
    """The reasons that hold this GPU back right now, most important first.

    ``model_cpu_share`` is the share of the model on this GPU that sits in system RAM (from
    Ollama's ``size``/``size_vram``), when there is one; while it is still ``loading`` the split
    binds nothing yet and is not named.
    """
    if gpu.lost:
        return Diagnosis("GPU lost: not working at all", BAD)
    reasons = set(gpu.clocks_event_reasons or ())
    found: list[tuple[int, str]] = []
    if "hw_power_brake_slowdown" in reasons:
        found.append((BAD, "hardware power brake: the PSU or UPS signalled the card to slow down"))
    if "hw_thermal_slowdown" in reasons or "sw_thermal_slowdown" in reasons:
        found.append((BAD, _temperature_words(gpu)))
    elif "hw_slowdown" in reasons and "hw_power_brake_slowdown" not in reasons:
        found.append((BAD, "hardware slowdown (power or temperature protection)"))
    if model_cpu_share is not None and model_cpu_share > 0 and not loading:
        entirely = model_cpu_share >= 0.999
        where = "entirely" if entirely else f"{model_cpu_share:.0%}"
        if _idle(gpu, reasons):
            # Nothing runs: what the split would bind is not happening now.
            found.append(
                (WARN if entirely else NOTE, f"idle (the loaded model is {where} on the CPU)")
            )
        elif entirely:
            found.append((BAD, "model entirely on the CPU: compute bound on the CPU"))
        else:
            found.append((WARN, f"model {where} on CPU: memory bound on system RAM"))
    if "sw_power_cap" in reasons:
        limit = f" at {gpu.power_limit_w:.0f} W" if gpu.power_limit_w else ""
        found.append((NOTE, f"power-capped{limit}"))
    link = link_state(gpu)
    if link is not None and link.gen_below_max:
        found.append((WARN, link.words))
    if gpu.temperature_c is not None and gpu.temperature_slowdown_c is not None:
        headroom = gpu.temperature_slowdown_c - gpu.temperature_c
        if 0 <= headroom < 8 and not (reasons & {"hw_thermal_slowdown", "sw_thermal_slowdown"}):
            found.append((NOTE, f"running hot: {headroom} °C from slowdown"))
    if found:
        found.sort(key=lambda item: -item[0])
        return Diagnosis("; ".join(words for _, words in found[:2]), found[0][0])
    utilization = gpu.utilization_gpu_pct
    if _idle(gpu, reasons):
        return Diagnosis("idle", OK)
    if utilization is not None:
        return Diagnosis(f"full speed: {utilization}% busy, nothing holding the clocks", OK)
    return Diagnosis("no limits reported", OK)
