"""The fleet as read from Prometheus: plain values the Fleet tab draws (no client, no I/O).

A value Prometheus did not have is ``None`` (the exporter leaves out what a GPU cannot read, and a
rig that is down has no fresh samples). Times are Unix seconds.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FleetGpu:
    """One GPU of one rig, from the ``rigtui_gpu_*`` series with its ``gpu`` label."""

    index: str
    """The ``gpu`` label (NVML's index, as text)."""
    name: str | None = None
    uuid: str | None = None
    lost: bool = False
    utilization_ratio: float | None = None
    memory_used_bytes: float | None = None
    memory_total_bytes: float | None = None
    power_draw_watts: float | None = None
    power_peak_watts: float | None = None
    """The highest power in the last 60 s (``rigtui_gpu_power_peak_watts{window="60s"}``)."""
    power_limit_watts: float | None = None
    temperature_celsius: float | None = None
    temperature_slowdown_celsius: float | None = None
    clock_event_reasons: tuple[str, ...] = ()
    """The reasons holding the clocks down now (series at 1), nvidia-smi's names."""
    pcie_generation: float | None = None
    pcie_generation_max: float | None = None
    pcie_width_lanes: float | None = None
    pcie_width_max_lanes: float | None = None


@dataclass(frozen=True)
class FleetModel:
    """One model loaded in a rig's Ollama (``rigtui_ollama_model_*``)."""

    name: str
    size_bytes: float | None = None
    vram_bytes: float | None = None
    cpu_ratio: float | None = None


@dataclass(frozen=True)
class FleetAlert:
    """A firing or pending alert about a rig (Prometheus' ``/api/v1/alerts``)."""

    name: str
    state: str
    """``firing`` or ``pending``."""
    severity: str | None = None
    summary: str | None = None
    gpu: str | None = None
    """The ``gpu`` label, where the alert is about one GPU."""
    active_since: float | None = None


@dataclass(frozen=True)
class FleetRig:
    """One scrape target with rigtui's metrics: ``instance`` and ``job`` are Prometheus' labels."""

    instance: str
    job: str
    up: bool
    """Prometheus' ``up``: the last scrape succeeded."""
    hostname: str | None = None
    """From ``rigtui_exporter_info``."""
    last_seen: float | None = None
    """When the rig's newest reading was taken (``rigtui_exporter_last_sample_timestamp_seconds``),
    or when it last answered a scrape."""
    stale: bool = False
    """Down, or its newest reading older than a few scrape intervals."""
    gpus: tuple[FleetGpu, ...] = ()
    models: tuple[FleetModel, ...] = ()
    alerts: tuple[FleetAlert, ...] = ()
    ollama_up: bool | None = None
    """None where the rig's exporter does not watch Ollama."""
    power_budget_watts: float | None = None
    power_total_peak_watts: float | None = None
    demo: str = ""
    """The simulated scenario behind a ``--demo`` exporter, else empty."""

    @property
    def firing(self) -> tuple[FleetAlert, ...]:
        return tuple(alert for alert in self.alerts if alert.state == "firing")


@dataclass(frozen=True)
class FleetReading:
    """Every rig Prometheus scrapes with rigtui's metrics, in the order the Fleet tab lists
    them: rigs with firing alerts first, then by instance."""

    server: str
    """The Prometheus URL it was read from."""
    read_at: float
    rigs: tuple[FleetRig, ...] = ()
    alerts_error: str | None = None
    """Why the alerts could not be read (the rigs could), in words."""


@dataclass(frozen=True)
class HistorySeries:
    """One line of a rig's history chart, from a range query: ``(time, value)`` in order, a
    value None where Prometheus had no sample at that step."""

    label: str
    """What it is, as shown: ``GPU 0`` ..."""
    points: tuple[tuple[float, float | None], ...]


@dataclass(frozen=True)
class RigHistory:
    """A rig's history over the last ``window_s``, one chart per quantity (utilization, VRAM,
    power with its peaks and limit, temperature), each with a line per GPU."""

    instance: str
    start: float
    end: float
    step_s: float
    charts: dict[str, tuple[HistorySeries, ...]]
    """By quantity: ``utilization`` (ratio), ``vram`` (bytes), ``power`` (watts),
    ``power_peak`` (watts), ``temperature`` (celsius)."""
    lines: dict[str, float]
    """Reference lines by name, e.g. ``power_limit`` and ``temperature_slowdown`` (the highest
    over the GPUs), ``power_budget``."""


class FleetError(Exception):
    """Prometheus could not be read: unreachable, slow, an error answer, or not Prometheus. The
    message says which, in words fit for the Fleet tab."""
