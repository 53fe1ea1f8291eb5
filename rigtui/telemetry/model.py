"""Immutable readings of the rig: what the sources produce and every consumer reads.

A value that could not be read is ``None``; the reason, in words, is in the reading's
``unavailable`` mapping under the field's name (``"not supported"``, ``"no permission"``, …).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

EMPTY_REASONS: Mapping[str, str] = MappingProxyType({})


def freeze_reasons(reasons: Mapping[str, str] | None) -> Mapping[str, str]:
    """A read-only copy, so a snapshot cannot be changed after it is taken."""
    if not reasons:
        return EMPTY_REASONS
    return MappingProxyType(dict(reasons))


@dataclass(frozen=True)
class FanReading:
    index: int
    speed_pct: int | None
    """The intended speed NVML reports: 0 during fan-stop, may exceed 100."""
    rpm: int | None = None
    """Measured speed where the driver offers it (R550+)."""
    reason: str | None = None
    """Why ``speed_pct`` is ``None``."""
    rpm_reason: str | None = None
    """Why ``rpm`` is ``None``."""


@dataclass(frozen=True)
class GpuProcess:
    pid: int
    name: str | None
    used_memory_bytes: int | None
    """``None`` where NVML cannot attribute memory to processes (WDDM, MIG, containers)."""
    kind: str = "C"
    """``C`` compute, ``G`` graphics, ``C+G`` both."""
    command: str | None = None
    sm_util_pct: int | None = None
    """This process's share of the SM (``nvmlDeviceGetProcessUtilization``); ``None``: see
    ``utilization_reason``."""
    memory_util_pct: int | None = None
    """Its share of the memory bandwidth (time the memory was read or written)."""
    encoder_util_pct: int | None = None
    decoder_util_pct: int | None = None
    utilization_reason: str | None = None
    """Why the utilization figures are ``None``, in words (not supported, no samples yet...)."""


@dataclass(frozen=True)
class GpuReading:
    index: int
    name: str | None = None
    uuid: str | None = None
    pci_bus_id: str | None = None
    lost: bool = False
    """The GPU fell off the bus (``GPU_IS_LOST``); every other value is ``None``."""

    utilization_gpu_pct: int | None = None
    utilization_memory_pct: int | None = None
    memory_used_bytes: int | None = None
    memory_total_bytes: int | None = None
    memory_reserved_bytes: int | None = None
    memory_free_bytes: int | None = None

    temperature_c: int | None = None
    temperature_slowdown_c: int | None = None
    temperature_shutdown_c: int | None = None
    temperature_max_operating_c: int | None = None

    fans: tuple[FanReading, ...] = ()

    power_draw_w: float | None = None
    power_limit_w: float | None = None
    power_default_limit_w: float | None = None
    energy_total_j: float | None = None
    """NVML's total-energy counter since the driver loaded."""
    power_instant_w: float | None = None
    """The instantaneous power field, where the driver offers it (sampled ten times a second)."""
    power_peak_1s_w: float | None = None
    power_peak_60s_w: float | None = None
    power_peaks_instant: bool = False
    """False: the peaks are of one-second averages (no instantaneous power field)."""
    pstate: int | None = None

    clocks_sm_mhz: int | None = None
    clocks_sm_max_mhz: int | None = None
    clocks_mem_mhz: int | None = None
    clocks_mem_max_mhz: int | None = None
    clocks_event_reasons: tuple[str, ...] | None = None
    """Why the clocks are held down, as nvidia-smi names them (``sw_power_cap`` …)."""

    pcie_link_gen: int | None = None
    pcie_link_gen_max: int | None = None
    pcie_link_width: int | None = None
    pcie_link_width_max: int | None = None
    pcie_rx_bytes_per_s: int | None = None
    pcie_tx_bytes_per_s: int | None = None

    processes: tuple[GpuProcess, ...] | None = None

    unavailable: Mapping[str, str] = field(default_factory=lambda: EMPTY_REASONS)

    def reason(self, field_name: str) -> str | None:
        """Why ``field_name`` is ``None``, or ``None`` when it was read."""
        if self.lost:
            return "GPU lost"
        return self.unavailable.get(field_name)

    @property
    def memory_used_fraction(self) -> float | None:
        if self.memory_used_bytes is None or not self.memory_total_bytes:
            return None
        return self.memory_used_bytes / self.memory_total_bytes

    @property
    def power_fraction(self) -> float | None:
        if self.power_draw_w is None or not self.power_limit_w:
            return None
        return self.power_draw_w / self.power_limit_w


@dataclass(frozen=True)
class NvmlStatus:
    available: bool
    driver_version: str | None = None
    cuda_version: str | None = None
    nvml_version: str | None = None
    error: str | None = None
    """Why NVML is unavailable, in words."""
    error_code: int | None = None


@dataclass(frozen=True)
class CpuReading:
    percent: float
    per_core_pct: tuple[float, ...]
    load_average: tuple[float, float, float] | None = None
    logical_count: int = 0
    physical_count: int | None = None


@dataclass(frozen=True)
class MemoryReading:
    used_bytes: int
    total_bytes: int
    available_bytes: int
    swap_used_bytes: int
    swap_total_bytes: int

    @property
    def used_fraction(self) -> float:
        return self.used_bytes / self.total_bytes if self.total_bytes else 0.0

    @property
    def swap_fraction(self) -> float:
        return self.swap_used_bytes / self.swap_total_bytes if self.swap_total_bytes else 0.0


@dataclass(frozen=True)
class ProcessReading:
    pid: int
    name: str
    cpu_pct: float
    """Share of one core, like top: 800 means eight cores busy."""
    rss_bytes: int | None
    username: str | None = None
    command: str | None = None


@dataclass(frozen=True)
class RigSnapshot:
    taken_at: float
    """Seconds since the epoch."""
    hostname: str
    nvml: NvmlStatus
    gpus: tuple[GpuReading, ...]
    cpu: CpuReading
    memory: MemoryReading
    processes: tuple[ProcessReading, ...] = ()
    power: PowerBudgetReading | None = None


@dataclass(frozen=True)
class PowerBudgetReading:
    """All GPUs' power together against the budget the user gave (a PSU's or UPS's share)."""

    budget_w: float | None
    peak_60s_w: float | None
    """The highest total of a sampling round in the last minute."""
    over_budget_w: float | None = None
    """The highest total above the budget in the last minute, if any."""
    over_budget_at: float | None = None
    rounds: int = 0
    """Power sampling rounds since the sampler started (all GPUs read together)."""
    rounds_over_budget: int = 0
    """Of those, the rounds whose all-GPU total was above the budget."""
