"""The JSON contract of ``rigtui snapshot --json`` (documented in the README).

Units are in the key names; a value that could not be read is ``null`` and its reason is listed
under ``unavailable``.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from rigtui.telemetry.model import (
    CpuReading,
    FanReading,
    GpuProcess,
    GpuReading,
    MemoryReading,
    NvmlStatus,
    PowerBudgetReading,
    ProcessReading,
    RigSnapshot,
    freeze_reasons,
)

SCHEMA_VERSION = 1


def gpu_to_dict(gpu: GpuReading) -> dict[str, Any]:
    return {
        "index": gpu.index,
        "name": gpu.name,
        "uuid": gpu.uuid,
        "pci_bus_id": gpu.pci_bus_id,
        "lost": gpu.lost,
        "utilization_gpu_pct": gpu.utilization_gpu_pct,
        "utilization_memory_pct": gpu.utilization_memory_pct,
        "memory_used_bytes": gpu.memory_used_bytes,
        "memory_total_bytes": gpu.memory_total_bytes,
        "memory_reserved_bytes": gpu.memory_reserved_bytes,
        "memory_free_bytes": gpu.memory_free_bytes,
        "temperature_c": gpu.temperature_c,
        "temperature_slowdown_c": gpu.temperature_slowdown_c,
        "temperature_shutdown_c": gpu.temperature_shutdown_c,
        "temperature_max_operating_c": gpu.temperature_max_operating_c,
        "fan_speeds_pct": [fan.speed_pct for fan in gpu.fans],
        "fan_speeds_rpm": [fan.rpm for fan in gpu.fans],
        "power_draw_w": gpu.power_draw_w,
        "power_limit_w": gpu.power_limit_w,
        "power_default_limit_w": gpu.power_default_limit_w,
        "energy_total_j": gpu.energy_total_j,
        "power_instant_w": gpu.power_instant_w,
        "power_peak_1s_w": gpu.power_peak_1s_w,
        "power_peak_60s_w": gpu.power_peak_60s_w,
        "power_peaks_instant": gpu.power_peaks_instant,
        "pstate": f"P{gpu.pstate}" if gpu.pstate is not None else None,
        "clocks_sm_mhz": gpu.clocks_sm_mhz,
        "clocks_sm_max_mhz": gpu.clocks_sm_max_mhz,
        "clocks_mem_mhz": gpu.clocks_mem_mhz,
        "clocks_mem_max_mhz": gpu.clocks_mem_max_mhz,
        "clocks_event_reasons": (
            list(gpu.clocks_event_reasons) if gpu.clocks_event_reasons is not None else None
        ),
        "pcie_link_gen": gpu.pcie_link_gen,
        "pcie_link_gen_max": gpu.pcie_link_gen_max,
        "pcie_link_width": gpu.pcie_link_width,
        "pcie_link_width_max": gpu.pcie_link_width_max,
        "pcie_rx_bytes_per_s": gpu.pcie_rx_bytes_per_s,
        "pcie_tx_bytes_per_s": gpu.pcie_tx_bytes_per_s,
        "processes": (
            [
                {
                    "pid": process.pid,
                    "name": process.name,
                    "used_memory_bytes": process.used_memory_bytes,
                    "type": process.kind,
                    "command": process.command,
                }
                for process in gpu.processes
            ]
            if gpu.processes is not None
            else None
        ),
        "unavailable": {"all": "GPU lost"} if gpu.lost else dict(gpu.unavailable),
    }


def snapshot_to_dict(snapshot: RigSnapshot) -> dict[str, Any]:
    nvml = snapshot.nvml
    return {
        "schema_version": SCHEMA_VERSION,
        "taken_at": datetime.fromtimestamp(snapshot.taken_at, timezone.utc).isoformat(),
        "taken_at_epoch_s": snapshot.taken_at,
        "hostname": snapshot.hostname,
        "nvml": {
            "available": nvml.available,
            "driver_version": nvml.driver_version,
            "cuda_version": nvml.cuda_version,
            "nvml_version": nvml.nvml_version,
            "error": nvml.error,
            "error_code": nvml.error_code,
        },
        "gpus": [gpu_to_dict(gpu) for gpu in snapshot.gpus],
        "cpu": {
            "percent": snapshot.cpu.percent,
            "per_core_pct": list(snapshot.cpu.per_core_pct),
            "load_average": (
                list(snapshot.cpu.load_average) if snapshot.cpu.load_average is not None else None
            ),
            "logical_count": snapshot.cpu.logical_count,
            "physical_count": snapshot.cpu.physical_count,
        },
        "memory": {
            "used_bytes": snapshot.memory.used_bytes,
            "total_bytes": snapshot.memory.total_bytes,
            "available_bytes": snapshot.memory.available_bytes,
            "swap_used_bytes": snapshot.memory.swap_used_bytes,
            "swap_total_bytes": snapshot.memory.swap_total_bytes,
        },
        "power": (
            {
                "budget_w": snapshot.power.budget_w,
                "gpus_peak_60s_w": snapshot.power.peak_60s_w,
                "over_budget_w": snapshot.power.over_budget_w,
                "over_budget_at_epoch_s": snapshot.power.over_budget_at,
            }
            if snapshot.power is not None
            else None
        ),
        "processes": [
            {
                "pid": process.pid,
                "name": process.name,
                "cpu_pct": process.cpu_pct,
                "rss_bytes": process.rss_bytes,
                "username": process.username,
                "command": process.command,
            }
            for process in snapshot.processes
        ],
    }


# --- and back (for replaying a recording) ------------------------------------------------------


def gpu_from_dict(data: dict[str, Any]) -> GpuReading:
    """The inverse of :func:`gpu_to_dict` (what it wrote is what comes back)."""
    pstate = data.get("pstate")
    reasons = data.get("clocks_event_reasons")
    processes = data.get("processes")
    speeds = data.get("fan_speeds_pct") or []
    rpms = data.get("fan_speeds_rpm") or [None] * len(speeds)
    lost = bool(data.get("lost"))
    return GpuReading(
        index=int(data["index"]),
        name=data.get("name"),
        uuid=data.get("uuid"),
        pci_bus_id=data.get("pci_bus_id"),
        lost=lost,
        utilization_gpu_pct=data.get("utilization_gpu_pct"),
        utilization_memory_pct=data.get("utilization_memory_pct"),
        memory_used_bytes=data.get("memory_used_bytes"),
        memory_total_bytes=data.get("memory_total_bytes"),
        memory_reserved_bytes=data.get("memory_reserved_bytes"),
        memory_free_bytes=data.get("memory_free_bytes"),
        temperature_c=data.get("temperature_c"),
        temperature_slowdown_c=data.get("temperature_slowdown_c"),
        temperature_shutdown_c=data.get("temperature_shutdown_c"),
        temperature_max_operating_c=data.get("temperature_max_operating_c"),
        fans=tuple(
            FanReading(index=i, speed_pct=speed, rpm=rpm)
            for i, (speed, rpm) in enumerate(zip(speeds, rpms, strict=False))
        ),
        power_draw_w=data.get("power_draw_w"),
        power_limit_w=data.get("power_limit_w"),
        power_default_limit_w=data.get("power_default_limit_w"),
        energy_total_j=data.get("energy_total_j"),
        power_instant_w=data.get("power_instant_w"),
        power_peak_1s_w=data.get("power_peak_1s_w"),
        power_peak_60s_w=data.get("power_peak_60s_w"),
        power_peaks_instant=bool(data.get("power_peaks_instant")),
        pstate=int(pstate[1:]) if isinstance(pstate, str) and pstate[1:].isdigit() else None,
        clocks_sm_mhz=data.get("clocks_sm_mhz"),
        clocks_sm_max_mhz=data.get("clocks_sm_max_mhz"),
        clocks_mem_mhz=data.get("clocks_mem_mhz"),
        clocks_mem_max_mhz=data.get("clocks_mem_max_mhz"),
        clocks_event_reasons=tuple(reasons) if reasons is not None else None,
        pcie_link_gen=data.get("pcie_link_gen"),
        pcie_link_gen_max=data.get("pcie_link_gen_max"),
        pcie_link_width=data.get("pcie_link_width"),
        pcie_link_width_max=data.get("pcie_link_width_max"),
        pcie_rx_bytes_per_s=data.get("pcie_rx_bytes_per_s"),
        pcie_tx_bytes_per_s=data.get("pcie_tx_bytes_per_s"),
        processes=(
            tuple(
                GpuProcess(
                    pid=int(process["pid"]),
                    name=process.get("name"),
                    used_memory_bytes=process.get("used_memory_bytes"),
                    kind=process.get("type") or "C",
                    command=process.get("command"),
                )
                for process in processes
            )
            if processes is not None
            else None
        ),
        unavailable=freeze_reasons({} if lost else (data.get("unavailable") or {})),
    )


def snapshot_from_dict(data: dict[str, Any]) -> RigSnapshot:
    """The inverse of :func:`snapshot_to_dict`; raises KeyError/TypeError/ValueError on bad data."""
    nvml = data.get("nvml") or {}
    cpu = data["cpu"]
    memory = data["memory"]
    power = data.get("power")
    load = cpu.get("load_average")
    return RigSnapshot(
        taken_at=float(data["taken_at_epoch_s"]),
        hostname=str(data.get("hostname") or "?"),
        nvml=NvmlStatus(
            available=bool(nvml.get("available")),
            driver_version=nvml.get("driver_version"),
            cuda_version=nvml.get("cuda_version"),
            nvml_version=nvml.get("nvml_version"),
            error=nvml.get("error"),
            error_code=nvml.get("error_code"),
        ),
        gpus=tuple(gpu_from_dict(gpu) for gpu in data.get("gpus") or ()),
        cpu=CpuReading(
            percent=float(cpu["percent"]),
            per_core_pct=tuple(float(value) for value in cpu.get("per_core_pct") or ()),
            load_average=tuple(load) if load is not None else None,  # type: ignore[arg-type]
            logical_count=int(cpu.get("logical_count") or 0),
            physical_count=cpu.get("physical_count"),
        ),
        memory=MemoryReading(
            used_bytes=int(memory["used_bytes"]),
            total_bytes=int(memory["total_bytes"]),
            available_bytes=int(memory.get("available_bytes") or 0),
            swap_used_bytes=int(memory.get("swap_used_bytes") or 0),
            swap_total_bytes=int(memory.get("swap_total_bytes") or 0),
        ),
        processes=tuple(
            ProcessReading(
                pid=int(process["pid"]),
                name=str(process.get("name") or "?"),
                cpu_pct=float(process.get("cpu_pct") or 0.0),
                rss_bytes=process.get("rss_bytes"),
                username=process.get("username"),
                command=process.get("command"),
            )
            for process in data.get("processes") or ()
        ),
        power=(
            PowerBudgetReading(
                budget_w=power.get("budget_w"),
                peak_60s_w=power.get("gpus_peak_60s_w"),
                over_budget_w=power.get("over_budget_w"),
                over_budget_at=power.get("over_budget_at_epoch_s"),
            )
            if power is not None
            else None
        ),
    )
