"""The JSON contract of ``rigtui snapshot --json`` (documented in the README).

Units are in the key names; a value that could not be read is ``null`` and its reason is listed
under ``unavailable``.
"""

from __future__ import annotations

import math
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
                    # Added later: optional, a recording without them reads as not measured.
                    "sm_util_pct": process.sm_util_pct,
                    "memory_util_pct": process.memory_util_pct,
                    "encoder_util_pct": process.encoder_util_pct,
                    "decoder_util_pct": process.decoder_util_pct,
                    "utilization_reason": process.utilization_reason,
                }
                for process in gpu.processes
            ]
            if gpu.processes is not None
            else None
        ),
        "unavailable": unavailable_reasons(gpu),
    }


def unavailable_reasons(gpu: GpuReading) -> dict[str, str]:
    """Every field that is null, and why, by the JSON's keys (``all`` for a lost GPU); the fans'
    reasons are per fan, so they are joined."""
    if gpu.lost:
        return {"all": "GPU lost"}
    reasons = dict(gpu.unavailable)
    for key, pairs in (
        ("fan_speeds_pct", [(fan.index, fan.speed_pct, fan.reason) for fan in gpu.fans]),
        ("fan_speeds_rpm", [(fan.index, fan.rpm, fan.rpm_reason) for fan in gpu.fans]),
    ):
        missing = {
            index: reason or "not reported" for index, value, reason in pairs if value is None
        }
        if key in reasons:
            continue  # read back from a recording, which wrote it
        if not gpu.fans and "fans" in reasons:
            reasons[key] = reasons["fans"]
        elif len(set(missing.values())) == 1 and len(missing) == len(pairs):
            reasons[key] = next(iter(missing.values()))
        elif missing:
            reasons[key] = "; ".join(f"fan {index}: {reason}" for index, reason in missing.items())
    return reasons


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

BAD_VALUE = "bad value in the recording"
"""The reason given for a recorded value that was skipped."""

LARGEST_COUNT = 2**64
"""NVML's counters are unsigned 64-bit: a recorded figure above that is not a reading."""


class BadValueError(ValueError):
    """A value a sample cannot do without is not of its kind: the sample is skipped."""


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:39] + "…"


def number_problem(value: Any, *, integer: bool, minimum: float | None) -> str | None:
    """Why ``value`` is not a reading of its kind (a finite number, whole if ``integer``, at
    least ``minimum``), or None when it is one."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "not a number"
    if isinstance(value, float) and not math.isfinite(value):
        return "not a finite number"
    if integer and isinstance(value, float) and not value.is_integer():
        return "not a whole number"
    if minimum is not None and value < minimum:
        return "negative" if minimum == 0 else f"below {minimum:g}"
    if abs(value) >= LARGEST_COUNT:
        return "too large"
    return None


class ValueCheck:
    """Reads a recorded sample's values: a recording is input, so each value is checked for
    its kind where it is read, and nothing downstream sees a str where a number belongs, nor
    NaN or infinity. A value that is not of its kind is skipped (None) and noted in
    ``skipped``; one the sample cannot do without raises :class:`BadValueError`."""

    def __init__(self) -> None:
        self.skipped: list[str] = []

    def skip(self, where: str, value: Any, why: str) -> None:
        self.skipped.append(f"{where} ({_shown(value)}: {why})")

    def number(
        self, value: Any, where: str, *, integer: bool = False, minimum: float | None = 0
    ) -> Any:
        if value is None:
            return None
        problem = number_problem(value, integer=integer, minimum=minimum)
        if problem is not None:
            self.skip(where, value, problem)
            return None
        return int(value) if integer else float(value)

    def required(
        self, value: Any, where: str, *, integer: bool = False, minimum: float | None = 0
    ) -> Any:
        problem = number_problem(value, integer=integer, minimum=minimum)
        if problem is not None:
            raise BadValueError(f"{where}: {_shown(value)} is {problem}")
        return int(value) if integer else float(value)

    def text(self, value: Any, where: str) -> str | None:
        if value is None or isinstance(value, str):
            return value
        self.skip(where, value, "not text")
        return None

    def flag(self, value: Any, where: str) -> bool:
        if value is None or isinstance(value, bool):
            return bool(value)
        self.skip(where, value, "not true or false")
        return False

    def texts(self, value: Any, where: str) -> tuple[str, ...] | None:
        if value is None:
            return None
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            return tuple(value)
        self.skip(where, value, "not a list of text")
        return None

    def items(self, value: Any, where: str) -> list[Any]:
        """A list (of objects, numbers …) to read one by one; anything else skipped."""
        if value is None:
            return []
        if isinstance(value, list):
            return value
        self.skip(where, value, "not a list")
        return []

    def entry(self, value: Any, where: str) -> dict[str, Any] | None:
        """An entry of a list (a process, a model): an object, else None (skipped, noted)."""
        if isinstance(value, dict):
            return value
        self.skip(where, value, "not an object")
        return None

    def mapping(self, value: Any, where: str) -> dict[str, Any]:
        if value is None:
            return {}
        if isinstance(value, dict):
            return value
        self.skip(where, value, "not an object")
        return {}


# (field, whole number?, lowest value): the numbers of a GPU reading, as gpu_to_dict writes them.
_GPU_NUMBERS = (
    ("utilization_gpu_pct", True, 0),
    ("utilization_memory_pct", True, 0),
    ("memory_used_bytes", True, 0),
    ("memory_total_bytes", True, 0),
    ("memory_reserved_bytes", True, 0),
    ("memory_free_bytes", True, 0),
    ("temperature_c", True, -273),
    ("temperature_slowdown_c", True, -273),
    ("temperature_shutdown_c", True, -273),
    ("temperature_max_operating_c", True, -273),
    ("power_draw_w", False, 0),
    ("power_limit_w", False, 0),
    ("power_default_limit_w", False, 0),
    ("energy_total_j", False, 0),
    ("power_instant_w", False, 0),
    ("power_peak_1s_w", False, 0),
    ("power_peak_60s_w", False, 0),
    ("clocks_sm_mhz", True, 0),
    ("clocks_sm_max_mhz", True, 0),
    ("clocks_mem_mhz", True, 0),
    ("clocks_mem_max_mhz", True, 0),
    ("pcie_link_gen", True, 0),
    ("pcie_link_gen_max", True, 0),
    ("pcie_link_width", True, 0),
    ("pcie_link_width_max", True, 0),
    ("pcie_rx_bytes_per_s", True, 0),
    ("pcie_tx_bytes_per_s", True, 0),
)


def gpu_from_dict(
    data: dict[str, Any], check: ValueCheck | None = None, where: str = "gpu"
) -> GpuReading:
    """The inverse of :func:`gpu_to_dict` (what it wrote is what comes back); a value not of its
    kind is skipped into ``check`` and reads as unavailable, ``"bad value in the recording"``."""
    check = check if check is not None else ValueCheck()
    if not isinstance(data, dict):
        raise BadValueError(f"{where}: {_shown(data)} is not an object")
    bad: dict[str, str] = {}

    def text(key: str) -> str | None:
        value = check.text(data.get(key), f"{where}.{key}")
        if value is None and data.get(key) is not None:
            bad[key] = BAD_VALUE
        return value

    index = check.required(data.get("index"), f"{where}.index", integer=True)
    lost = check.flag(data.get("lost"), f"{where}.lost")
    name, uuid, pci_bus_id = text("name"), text("uuid"), text("pci_bus_id")
    numbers: dict[str, Any] = {}
    for key, integer, minimum in _GPU_NUMBERS:
        value = data.get(key)
        numbers[key] = check.number(value, f"{where}.{key}", integer=integer, minimum=minimum)
        if numbers[key] is None and value is not None:
            bad[key] = BAD_VALUE
    speeds = [
        check.number(speed, f"{where}.fan_speeds_pct[{i}]", integer=True)
        for i, speed in enumerate(
            check.items(data.get("fan_speeds_pct"), f"{where}.fan_speeds_pct")
        )
    ]
    rpms = [
        check.number(rpm, f"{where}.fan_speeds_rpm[{i}]", integer=True)
        for i, rpm in enumerate(check.items(data.get("fan_speeds_rpm"), f"{where}.fan_speeds_rpm"))
    ]
    rpms += [None] * (len(speeds) - len(rpms))
    pstate = check.text(data.get("pstate"), f"{where}.pstate")
    reasons = check.texts(data.get("clocks_event_reasons"), f"{where}.clocks_event_reasons")
    if reasons is None and data.get("clocks_event_reasons") is not None:
        bad["clocks_event_reasons"] = BAD_VALUE
    processes = None
    if data.get("processes") is not None:
        processes = tuple(
            process
            for i, item in enumerate(check.items(data.get("processes"), f"{where}.processes"))
            if (process := _gpu_process(item, check, f"{where}.processes[{i}]")) is not None
        )
    unavailable = {
        key: reason
        for key, reason in check.mapping(data.get("unavailable"), f"{where}.unavailable").items()
        if isinstance(key, str) and isinstance(reason, str)
    }
    unavailable.update(bad)
    return GpuReading(
        index=index,
        name=name,
        uuid=uuid,
        pci_bus_id=pci_bus_id,
        lost=lost,
        fans=tuple(
            FanReading(
                index=i,
                speed_pct=speed,
                rpm=rpm,
                reason=unavailable.get("fan_speeds_pct") if speed is None else None,
                rpm_reason=unavailable.get("fan_speeds_rpm") if rpm is None else None,
            )
            for i, (speed, rpm) in enumerate(zip(speeds, rpms, strict=False))
        ),
        power_peaks_instant=check.flag(
            data.get("power_peaks_instant"), f"{where}.power_peaks_instant"
        ),
        pstate=int(pstate[1:]) if pstate is not None and pstate[1:].isdigit() else None,
        clocks_event_reasons=reasons,
        processes=processes,
        unavailable=freeze_reasons({} if lost else unavailable),
        **numbers,
    )


def _pid(data: Any, check: ValueCheck, where: str) -> int | None:
    """The PID of a process entry, None when the entry is not one (skipped, noted)."""
    entry = check.entry(data, where)
    return None if entry is None else check.number(entry.get("pid"), f"{where}.pid", integer=True)


def _gpu_process(data: Any, check: ValueCheck, where: str) -> GpuProcess | None:
    pid = _pid(data, check, where)
    if pid is None:
        return None
    return GpuProcess(
        pid=pid,
        name=check.text(data.get("name"), f"{where}.name"),
        used_memory_bytes=check.number(
            data.get("used_memory_bytes"), f"{where}.used_memory_bytes", integer=True
        ),
        kind=check.text(data.get("type"), f"{where}.type") or "C",
        command=check.text(data.get("command"), f"{where}.command"),
        **{
            name: check.number(data.get(name), f"{where}.{name}", integer=True)
            for name in ("sm_util_pct", "memory_util_pct", "encoder_util_pct", "decoder_util_pct")
        },
        utilization_reason=(
            check.text(data.get("utilization_reason"), f"{where}.utilization_reason")
            if "sm_util_pct" in data
            else "not in this recording"
        ),
    )


def _process(data: Any, check: ValueCheck, where: str) -> ProcessReading | None:
    pid = _pid(data, check, where)
    if pid is None:
        return None
    return ProcessReading(
        pid=pid,
        name=check.text(data.get("name"), f"{where}.name") or "?",
        cpu_pct=check.number(data.get("cpu_pct"), f"{where}.cpu_pct") or 0.0,
        rss_bytes=check.number(data.get("rss_bytes"), f"{where}.rss_bytes", integer=True),
        username=check.text(data.get("username"), f"{where}.username"),
        command=check.text(data.get("command"), f"{where}.command"),
    )


def _load_average(value: Any, check: ValueCheck) -> tuple[float, float, float] | None:
    if value is None:
        return None
    if isinstance(value, list) and len(value) == 3:
        numbers = [number_problem(item, integer=False, minimum=0) is None for item in value]
        if all(numbers):
            return (float(value[0]), float(value[1]), float(value[2]))
    check.skip("cpu.load_average", value, "not three numbers")
    return None


def _per_core(value: Any, check: ValueCheck) -> tuple[float, ...]:
    items = check.items(value, "cpu.per_core_pct")
    if all(number_problem(item, integer=False, minimum=0) is None for item in items):
        return tuple(float(item) for item in items)
    check.skip("cpu.per_core_pct", value, "not a list of numbers")
    return ()


def snapshot_from_dict(data: dict[str, Any], check: ValueCheck | None = None) -> RigSnapshot:
    """The inverse of :func:`snapshot_to_dict`. Values not of their kind are skipped into
    ``check``; raises :class:`BadValueError` (a ValueError), KeyError or TypeError when what the
    sample cannot do without (its time, the CPU, the memory) is missing or bad."""
    check = check if check is not None else ValueCheck()
    if not isinstance(data, dict):
        raise BadValueError(f"{_shown(data)} is not an object")
    nvml = check.mapping(data.get("nvml"), "nvml")
    cpu = data["cpu"]
    memory = data["memory"]
    if not isinstance(cpu, dict) or not isinstance(memory, dict):
        raise BadValueError("cpu or memory is not an object")
    power = check.mapping(data.get("power"), "power") if data.get("power") is not None else None
    used = check.required(memory.get("used_bytes"), "memory.used_bytes", integer=True)
    total = check.required(memory.get("total_bytes"), "memory.total_bytes", integer=True)
    return RigSnapshot(
        taken_at=check.required(data.get("taken_at_epoch_s"), "taken_at_epoch_s"),
        hostname=check.text(data.get("hostname"), "hostname") or "?",
        nvml=NvmlStatus(
            available=check.flag(nvml.get("available"), "nvml.available"),
            driver_version=check.text(nvml.get("driver_version"), "nvml.driver_version"),
            cuda_version=check.text(nvml.get("cuda_version"), "nvml.cuda_version"),
            nvml_version=check.text(nvml.get("nvml_version"), "nvml.nvml_version"),
            error=check.text(nvml.get("error"), "nvml.error"),
            error_code=check.number(nvml.get("error_code"), "nvml.error_code", integer=True),
        ),
        gpus=tuple(
            gpu_from_dict(gpu, check, f"gpus[{i}]")
            for i, gpu in enumerate(check.items(data.get("gpus"), "gpus"))
        ),
        cpu=CpuReading(
            percent=check.required(cpu.get("percent"), "cpu.percent"),
            per_core_pct=_per_core(cpu.get("per_core_pct"), check),
            load_average=_load_average(cpu.get("load_average"), check),
            logical_count=check.number(cpu.get("logical_count"), "cpu.logical_count", integer=True)
            or 0,
            physical_count=check.number(
                cpu.get("physical_count"), "cpu.physical_count", integer=True
            ),
        ),
        memory=MemoryReading(
            used_bytes=used,
            total_bytes=total,
            available_bytes=check.number(
                memory.get("available_bytes"), "memory.available_bytes", integer=True
            )
            or 0,
            swap_used_bytes=check.number(
                memory.get("swap_used_bytes"), "memory.swap_used_bytes", integer=True
            )
            or 0,
            swap_total_bytes=check.number(
                memory.get("swap_total_bytes"), "memory.swap_total_bytes", integer=True
            )
            or 0,
        ),
        processes=tuple(
            process
            for i, item in enumerate(check.items(data.get("processes"), "processes"))
            if (process := _process(item, check, f"processes[{i}]")) is not None
        ),
        power=(
            PowerBudgetReading(
                budget_w=check.number(power.get("budget_w"), "power.budget_w"),
                peak_60s_w=check.number(power.get("gpus_peak_60s_w"), "power.gpus_peak_60s_w"),
                over_budget_w=check.number(power.get("over_budget_w"), "power.over_budget_w"),
                over_budget_at=check.number(
                    power.get("over_budget_at_epoch_s"), "power.over_budget_at_epoch_s"
                ),
            )
            if power is not None
            else None
        ),
    )
