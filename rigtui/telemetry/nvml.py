"""GPU readings through NVML (the ``pynvml`` bindings), one guarded call per field.

What survives driver and binding drift, after nvitop, nvtop and gpustat:

* which function versions exist is probed once (``_v2`` memory, ``_v3``/``_v2``/v1 processes,
  ``TemperatureV``, clock-event vs. throttle reasons, per-fan calls), never per sample;
* the process list is read with the struct layout the *driver* fills, not the one the bindings
  assume (early R535 drivers fill a larger ``_v3`` struct and scramble PIDs otherwise);
* an error on one field makes that field ``None`` with a reason; ``GPU_IS_LOST`` marks that GPU
  lost and leaves the others alone; a field that is not supported is not asked for again.
"""

from __future__ import annotations

import contextlib
import dataclasses
from ctypes import Structure, byref, c_uint, c_ulonglong
from dataclasses import dataclass, field

import pynvml

from rigtui.telemetry.model import FanReading, GpuProcess, GpuReading, NvmlStatus, freeze_reasons

GIB = 1024**3

# Every return code nvml.h defines, as a reason a user can read (a code that an older pynvml
# does not name is left out by ``getattr``).
_ERROR_WORDS_BY_NAME = {
    "UNINITIALIZED": "NVML not initialised",
    "INVALID_ARGUMENT": "the driver refused the request",
    "NOT_SUPPORTED": "not supported",
    "NO_PERMISSION": "no permission",
    "ALREADY_INITIALIZED": "NVML already initialised",
    "NOT_FOUND": "not found",
    "INSUFFICIENT_SIZE": "the driver's answer did not fit",
    "INSUFFICIENT_POWER": "the GPU lacks external power: check its power cables",
    "DRIVER_NOT_LOADED": "the NVIDIA driver is not loaded",
    "TIMEOUT": "timed out",
    "IRQ_ISSUE": "the driver had an interrupt problem",
    "LIBRARY_NOT_FOUND": "the NVML library is missing",
    "FUNCTION_NOT_FOUND": "needs a newer driver",
    "CORRUPTED_INFOROM": "the GPU's infoROM is corrupted",
    "GPU_IS_LOST": "GPU lost",
    "RESET_REQUIRED": "the GPU needs a reset",
    "OPERATING_SYSTEM": "the operating system blocked the request",
    "LIB_RM_VERSION_MISMATCH": "driver library and kernel module differ: reboot",
    "IN_USE": "in use by another program",
    "MEMORY": "the driver ran out of memory",
    "NO_DATA": "no data yet",
    "VGPU_ECC_NOT_SUPPORTED": "not supported on a vGPU with ECC on",
    "INSUFFICIENT_RESOURCES": "the driver lacks the resources",
    "FREQ_NOT_SUPPORTED": "that clock frequency is not supported",
    "ARGUMENT_VERSION_MISMATCH": "the driver and pynvml disagree on a structure's version",
    "DEPRECATED": "no longer offered by the driver",
    "NOT_READY": "not ready",
    "GPU_NOT_FOUND": "GPU not found",
    "INVALID_STATE": "the GPU cannot answer in its present state",
    "RESET_TYPE_NOT_SUPPORTED": "that reset is not supported",
    "UNKNOWN": "the driver gave an unknown error",
}
FIELD_ERROR_WORDS = {
    code: words
    for name, words in _ERROR_WORDS_BY_NAME.items()
    if isinstance(code := getattr(pynvml, f"NVML_ERROR_{name}", None), int)
}

INIT_ERROR_WORDS = {
    pynvml.NVML_ERROR_LIBRARY_NOT_FOUND: (
        "No NVIDIA driver found: the NVML library (libnvidia-ml.so.1) is not installed. "
        "Showing CPU and memory only."
    ),
    pynvml.NVML_ERROR_DRIVER_NOT_LOADED: (
        "The NVIDIA driver is not loaded (the kernel module is not running). "
        "Check `lsmod | grep nvidia` or reboot after installing the driver."
    ),
    pynvml.NVML_ERROR_NO_PERMISSION: (
        "No permission to open the NVIDIA devices (/dev/nvidia*): run as a user allowed to use "
        "the GPU."
    ),
    pynvml.NVML_ERROR_LIB_RM_VERSION_MISMATCH: (
        "The NVIDIA driver library and kernel module are different versions: reboot after the "
        "driver update."
    ),
    pynvml.NVML_ERROR_INSUFFICIENT_POWER: (
        "A GPU is not getting enough power: check the PCIe power cables."
    ),
}

# Clock-event (formerly "throttle") reason bits, named as nvidia-smi names them.
CLOCK_EVENT_REASONS = (
    (0x1, "gpu_idle"),
    (0x2, "applications_clocks_setting"),
    (0x4, "sw_power_cap"),
    (0x8, "hw_slowdown"),
    (0x10, "sync_boost"),
    (0x20, "sw_thermal_slowdown"),
    (0x40, "hw_thermal_slowdown"),
    (0x80, "hw_power_brake_slowdown"),
    (0x100, "display_clock_setting"),
)

# Errors that will not go away by asking again: stop asking.
_PERMANENT_ERRORS = frozenset(
    {
        pynvml.NVML_ERROR_NOT_SUPPORTED,
        pynvml.NVML_ERROR_FUNCTION_NOT_FOUND,
        pynvml.NVML_ERROR_NO_PERMISSION,
    }
)


def field_error_words(error: pynvml.NVMLError) -> str:
    """Why a field could not be read, in words: never a bare return code."""
    return FIELD_ERROR_WORDS.get(error.value, "the driver gave an error this rigtui does not know")


def init_error_words(error: pynvml.NVMLError) -> str:
    code = error.value
    return INIT_ERROR_WORDS.get(code, f"NVML could not start: {field_error_words(error)}.")


def _lost(index: int, static: _GpuStatic) -> GpuReading:
    """A lost GPU's reading: only what was read of it before it went (if it was seen at all)."""
    return GpuReading(
        index=index, name=static.name, uuid=static.uuid, pci_bus_id=static.pci_bus_id, lost=True
    )


def decode_clock_event_reasons(mask: int) -> tuple[str, ...]:
    words = [word for bit, word in CLOCK_EVENT_REASONS if mask & bit]
    known = 0
    for bit, _ in CLOCK_EVENT_REASONS:
        known |= bit
    unknown = mask & ~known
    if unknown:
        words.append(f"other_0x{unknown:x}")
    return tuple(words)


def format_cuda_version(version: int) -> str:
    """NVML encodes CUDA 12.8 as 12080."""
    return f"{version // 1000}.{version % 1000 // 10}"


class _ProcessInfoV1(Structure):
    """The first process struct (drivers before R470), which current bindings no longer define."""

    _fields_ = [("pid", c_uint), ("usedGpuMemory", c_ulonglong)]


class _ProcessInfoConfCompute(Structure):
    """What early R535 drivers fill for the ``_v3`` calls."""

    _fields_ = [
        ("pid", c_uint),
        ("usedGpuMemory", c_ulonglong),
        ("gpuInstanceId", c_uint),
        ("computeInstanceId", c_uint),
        ("usedGpuCcProtectedMemory", c_ulonglong),
    ]


class _GpuLostError(Exception):
    pass


@dataclass
class _Probe:
    """What this driver offers, found out once."""

    memory_v2: bool = True
    temperature_v: bool = True
    clock_event_function: str = "nvmlDeviceGetCurrentClocksEventReasons"
    per_fan: bool = True
    fan_rpm: bool = True
    fan_rpm_reason: str = "needs a newer driver"
    """Why there is no measured fan speed, once ``fan_rpm`` is False (R550 brought it)."""
    process_suffix: str = "_v3"
    process_layout: type[Structure] = pynvml.c_nvmlProcessInfo_v2_t


@dataclass
class _GpuStatic:
    """Values read once at start: they do not change while the driver runs."""

    name: str | None = None
    uuid: str | None = None
    pci_bus_id: str | None = None
    temperature_slowdown_c: int | None = None
    temperature_shutdown_c: int | None = None
    temperature_max_operating_c: int | None = None
    clocks_sm_max_mhz: int | None = None
    clocks_mem_max_mhz: int | None = None
    pcie_link_gen_max: int | None = None
    pcie_link_width_max: int | None = None
    power_default_limit_w: float | None = None
    fan_count: int | None = None
    unavailable: dict[str, str] = field(default_factory=dict)


class _FieldReader:
    """Reads the fields of one GPU, turning each NVML error into a reason."""

    def __init__(self, skip: dict[str, str]) -> None:
        self.values: dict[str, object] = {}
        self.unavailable: dict[str, str] = {}
        self._skip = skip

    def read(self, name: str, call, *args):
        if name in self._skip:
            self.unavailable[name] = self._skip[name]
            return None
        try:
            value = call(*args)
        except pynvml.NVMLError as error:
            if error.value == pynvml.NVML_ERROR_GPU_IS_LOST:
                raise _GpuLostError from error
            words = field_error_words(error)
            self.unavailable[name] = words
            if error.value in _PERMANENT_ERRORS:
                self._skip[name] = words
            return None
        return value


class NvmlSource:
    """Every GPU the driver shows, read through ``pynvml``."""

    def __init__(self) -> None:
        self.status = NvmlStatus(available=False, error="NVML not opened")
        self._handles: list[object | None] = []
        self._static: list[_GpuStatic] = []
        self._skip: list[dict[str, str]] = []
        self._lost: list[bool] = []
        self._probe = _Probe()
        self._initialised = False
        self._instant_power: list[bool] = []
        self._utilization_seen_us: list[int] = []
        """Per GPU, the newest per-process utilization sample read (0: none yet)."""
        self._utilization_skip: list[str | None] = []
        """Per GPU, why per-process utilization is not asked for again."""

    # --- lifetime ----------------------------------------------------------------------------

    def open(self) -> NvmlStatus:
        try:
            pynvml.nvmlInit()
        except pynvml.NVMLError as error:
            self.status = NvmlStatus(
                available=False, error=init_error_words(error), error_code=error.value
            )
            return self.status
        self._initialised = True
        driver = self._system_call(pynvml.nvmlSystemGetDriverVersion)
        cuda = self._system_call(pynvml.nvmlSystemGetCudaDriverVersion)
        nvml_version = self._system_call(pynvml.nvmlSystemGetNVMLVersion)
        try:
            count = pynvml.nvmlDeviceGetCount()
        except pynvml.NVMLError as error:
            self.status = NvmlStatus(
                available=False,
                driver_version=_text(driver),
                error=f"NVML could not count the GPUs: {field_error_words(error)}.",
                error_code=error.value,
            )
            return self.status
        for index in range(count):
            self._open_gpu(index)
        if self._handles:
            self._probe_functions()
            self._instant_power = [self._probe_instant_power(i) for i in range(count)]
        self.status = NvmlStatus(
            available=True,
            driver_version=_text(driver),
            cuda_version=format_cuda_version(cuda) if isinstance(cuda, int) else None,
            nvml_version=_text(nvml_version),
            error=None if count else "The NVIDIA driver is running but shows no GPU.",
        )
        return self.status

    def close(self) -> None:
        if self._initialised:
            with contextlib.suppress(pynvml.NVMLError):
                pynvml.nvmlShutdown()
            self._initialised = False

    @property
    def gpu_count(self) -> int:
        return len(self._handles)

    # --- sampling ----------------------------------------------------------------------------

    @property
    def instant_power(self) -> bool:
        """Whether any GPU offers the instantaneous power field (worth sampling fast)."""
        return any(self._instant_power)

    def read_power(self, index: int) -> tuple[float | None, bool, float | None]:
        """(watts, instantaneous?, energy counter in joules): a cheap read, ten times a second.

        One ``nvmlDeviceGetFieldValues`` call for the instantaneous power and the energy
        counter; without the power field, the one-second average from ``GetPowerUsage``.
        """
        handle = self._handles[index] if index < len(self._handles) else None
        if handle is None or self._lost[index]:
            return None, False, None
        try:
            if self._instant_power[index]:
                instant, energy = _field_values(
                    handle,
                    [pynvml.NVML_FI_DEV_POWER_INSTANT, pynvml.NVML_FI_DEV_TOTAL_ENERGY_CONSUMPTION],
                )
                watts = instant / 1000 if instant is not None else None
                return watts, watts is not None, energy / 1000 if energy is not None else None
            watts = pynvml.nvmlDeviceGetPowerUsage(handle) / 1000
        except pynvml.NVMLError as error:
            if error.value == pynvml.NVML_ERROR_GPU_IS_LOST:
                self._lost[index] = True
            return None, False, None
        try:
            energy = pynvml.nvmlDeviceGetTotalEnergyConsumption(handle) / 1000
        except pynvml.NVMLError:
            energy = None
        return watts, False, energy

    def _probe_instant_power(self, index: int) -> bool:
        handle = self._handles[index]
        if handle is None or self._lost[index] or not _exported("nvmlDeviceGetFieldValues"):
            return False
        try:
            instant = _field_values(handle, [pynvml.NVML_FI_DEV_POWER_INSTANT])[0]
        except pynvml.NVMLError:
            return False
        return instant is not None

    def read(self) -> tuple[GpuReading, ...]:
        return tuple(self.read_gpu(index) for index in range(len(self._handles)))

    def read_gpu(self, index: int) -> GpuReading:
        static = self._static[index]
        handle = self._handles[index]
        if handle is None or self._lost[index]:
            return _lost(index, static)
        reader = _FieldReader(self._skip[index])
        try:
            return self._read_fields(index, handle, static, reader)
        except _GpuLostError:
            self._lost[index] = True
            return _lost(index, static)

    def _read_fields(
        self, index: int, handle, static: _GpuStatic, reader: _FieldReader
    ) -> GpuReading:
        read = reader.read
        probe = self._probe

        utilization = read("utilization_gpu_pct", pynvml.nvmlDeviceGetUtilizationRates, handle)
        if utilization is None:
            reader.unavailable["utilization_memory_pct"] = reader.unavailable["utilization_gpu_pct"]

        if probe.memory_v2:
            memory = read(
                "memory_used_bytes", pynvml.nvmlDeviceGetMemoryInfo, handle, pynvml.nvmlMemory_v2
            )
        else:
            memory = read("memory_used_bytes", pynvml.nvmlDeviceGetMemoryInfo, handle)
        if memory is None:
            for name in ("memory_total_bytes", "memory_free_bytes", "memory_reserved_bytes"):
                reader.unavailable[name] = reader.unavailable["memory_used_bytes"]
        reserved = getattr(memory, "reserved", None) if memory is not None else None
        if memory is not None and reserved is None:
            reader.unavailable["memory_reserved_bytes"] = "needs a newer driver"

        if probe.temperature_v:
            temperature = read(
                "temperature_c",
                pynvml.nvmlDeviceGetTemperatureV,
                handle,
                pynvml.NVML_TEMPERATURE_GPU,
            )
        else:
            temperature = read(
                "temperature_c",
                pynvml.nvmlDeviceGetTemperature,
                handle,
                pynvml.NVML_TEMPERATURE_GPU,
            )

        fans = self._read_fans(index, handle, static, reader)

        power_mw = read("power_draw_w", pynvml.nvmlDeviceGetPowerUsage, handle)
        limit_mw = read("power_limit_w", pynvml.nvmlDeviceGetEnforcedPowerLimit, handle)
        energy_mj = read("energy_total_j", pynvml.nvmlDeviceGetTotalEnergyConsumption, handle)
        pstate = read("pstate", pynvml.nvmlDeviceGetPerformanceState, handle)
        sm_clock = read(
            "clocks_sm_mhz", pynvml.nvmlDeviceGetClockInfo, handle, pynvml.NVML_CLOCK_SM
        )
        mem_clock = read(
            "clocks_mem_mhz", pynvml.nvmlDeviceGetClockInfo, handle, pynvml.NVML_CLOCK_MEM
        )
        reasons_mask = read("clocks_event_reasons", self._clock_event_mask, handle)

        link_gen = read("pcie_link_gen", pynvml.nvmlDeviceGetCurrPcieLinkGeneration, handle)
        link_width = read("pcie_link_width", pynvml.nvmlDeviceGetCurrPcieLinkWidth, handle)
        rx_kib = read(
            "pcie_rx_bytes_per_s",
            pynvml.nvmlDeviceGetPcieThroughput,
            handle,
            pynvml.NVML_PCIE_UTIL_RX_BYTES,
        )
        tx_kib = read(
            "pcie_tx_bytes_per_s",
            pynvml.nvmlDeviceGetPcieThroughput,
            handle,
            pynvml.NVML_PCIE_UTIL_TX_BYTES,
        )

        processes = read("processes", self._read_processes, handle)
        if processes:
            processes = self._with_utilization(index, handle, processes)

        unavailable = dict(static.unavailable)
        unavailable.update(reader.unavailable)
        return GpuReading(
            index=index,
            name=static.name,
            uuid=static.uuid,
            pci_bus_id=static.pci_bus_id,
            utilization_gpu_pct=utilization.gpu if utilization is not None else None,
            utilization_memory_pct=utilization.memory if utilization is not None else None,
            memory_used_bytes=memory.used if memory is not None else None,
            memory_total_bytes=memory.total if memory is not None else None,
            memory_reserved_bytes=reserved,
            memory_free_bytes=memory.free if memory is not None else None,
            temperature_c=temperature,
            temperature_slowdown_c=static.temperature_slowdown_c,
            temperature_shutdown_c=static.temperature_shutdown_c,
            temperature_max_operating_c=static.temperature_max_operating_c,
            fans=fans,
            power_draw_w=power_mw / 1000 if power_mw is not None else None,
            power_limit_w=limit_mw / 1000 if limit_mw is not None else None,
            power_default_limit_w=static.power_default_limit_w,
            energy_total_j=energy_mj / 1000 if energy_mj is not None else None,
            pstate=pstate,
            clocks_sm_mhz=sm_clock,
            clocks_sm_max_mhz=static.clocks_sm_max_mhz,
            clocks_mem_mhz=mem_clock,
            clocks_mem_max_mhz=static.clocks_mem_max_mhz,
            clocks_event_reasons=(
                decode_clock_event_reasons(reasons_mask) if reasons_mask is not None else None
            ),
            pcie_link_gen=link_gen,
            pcie_link_gen_max=static.pcie_link_gen_max,
            pcie_link_width=link_width,
            pcie_link_width_max=static.pcie_link_width_max,
            # NVML reports PCIe throughput in KB/s, with KB = 1024 bytes.
            pcie_rx_bytes_per_s=rx_kib * 1024 if rx_kib is not None else None,
            pcie_tx_bytes_per_s=tx_kib * 1024 if tx_kib is not None else None,
            processes=processes,
            unavailable=freeze_reasons(unavailable),
        )

    # --- fields that need more than one call -------------------------------------------------

    def _read_fans(
        self, index: int, handle, static: _GpuStatic, reader: _FieldReader
    ) -> tuple[FanReading, ...]:
        if static.fan_count is None:
            reader.unavailable["fans"] = static.unavailable.get("fans", "not supported")
            return ()
        fans = []
        for fan in range(static.fan_count):
            try:
                if self._probe.per_fan:
                    speed = pynvml.nvmlDeviceGetFanSpeed_v2(handle, fan)
                else:
                    speed = pynvml.nvmlDeviceGetFanSpeed(handle)
            except pynvml.NVMLError as error:
                if error.value == pynvml.NVML_ERROR_GPU_IS_LOST:
                    raise _GpuLostError from error
                words = field_error_words(error)
                fans.append(FanReading(fan, speed_pct=None, reason=words, rpm_reason=words))
                continue
            rpm, rpm_reason = self._fan_rpm(handle, fan)
            fans.append(FanReading(fan, speed_pct=speed, rpm=rpm, rpm_reason=rpm_reason))
        return tuple(fans)

    def _fan_rpm(self, handle, fan: int) -> tuple[int | None, str | None]:
        """The measured speed, or None and why."""
        if not self._probe.fan_rpm:
            return None, self._probe.fan_rpm_reason
        info = pynvml.c_nvmlFanSpeedInfo_t()
        info.version = pynvml.nvmlFanSpeedInfo_v1
        info.fan = fan
        try:
            function = pynvml._nvmlGetFunctionPointer("nvmlDeviceGetFanSpeedRPM")
            pynvml._nvmlCheckReturn(function(handle, byref(info)))
        except pynvml.NVMLError as error:
            if error.value == pynvml.NVML_ERROR_GPU_IS_LOST:
                raise _GpuLostError from error
            words = field_error_words(error)
            if error.value in _PERMANENT_ERRORS:
                self._probe.fan_rpm = False
                self._probe.fan_rpm_reason = words
            return None, words
        return info.speed, None

    def _clock_event_mask(self, handle) -> int:
        function = pynvml._nvmlGetFunctionPointer(self._probe.clock_event_function)
        mask = c_ulonglong()
        pynvml._nvmlCheckReturn(function(handle, byref(mask)))
        return mask.value

    def _read_processes(self, handle) -> tuple[GpuProcess, ...]:
        merged: dict[int, tuple[int | None, str]] = {}
        for word, kind in (("Compute", "C"), ("Graphics", "G")):
            name = f"nvmlDeviceGet{word}RunningProcesses{self._probe.process_suffix}"
            for pid, used in self._running_processes(name, handle):
                if pid in merged:
                    previous_used, previous_kind = merged[pid]
                    used = used if used is not None else previous_used
                    merged[pid] = (used, "C+G" if previous_kind != kind else kind)
                else:
                    merged[pid] = (used, kind)
        return tuple(
            GpuProcess(pid=pid, name=None, used_memory_bytes=used, kind=kind)
            for pid, (used, kind) in sorted(merged.items())
        )

    def _with_utilization(
        self, index: int, handle, processes: tuple[GpuProcess, ...]
    ) -> tuple[GpuProcess, ...]:
        samples, reason = self._process_utilization(index, handle)
        if samples is None:
            return tuple(dataclasses.replace(p, utilization_reason=reason) for p in processes)
        # The driver reports only processes that used the GPU since the last read: the others
        # were idle.
        idle = (0, 0, 0, 0)
        return tuple(
            dataclasses.replace(
                process,
                sm_util_pct=figures[0],
                memory_util_pct=figures[1],
                encoder_util_pct=figures[2],
                decoder_util_pct=figures[3],
            )
            for process in processes
            for figures in [samples.get(process.pid, idle)]
        )

    def _process_utilization(
        self, index: int, handle
    ) -> tuple[dict[int, tuple[int, int, int, int]] | None, str | None]:
        """(SM, memory, encoder, decoder) % by PID since the last read, or None and why.

        ``lastSeenTimeStamp`` is the newest sample's own timestamp, as nvml.h asks (the
        driver's CPU clock, not ours); ``NOT_FOUND`` means no process used the GPU since.
        """
        skipped = self._utilization_skip[index]
        if skipped is not None:
            return None, skipped
        seen_us = self._utilization_seen_us[index]
        try:
            samples = pynvml.nvmlDeviceGetProcessUtilization(handle, seen_us)
        except pynvml.NVMLError as error:
            code = error.value
            if code == pynvml.NVML_ERROR_GPU_IS_LOST:
                raise _GpuLostError from error
            if code in (pynvml.NVML_ERROR_NOT_FOUND, pynvml.NVML_SUCCESS):
                # pynvml raises even for SUCCESS when the size query found nothing to size.
                return ({}, None) if seen_us else (None, "no samples yet")
            words = _utilization_words(error)
            if code in _PERMANENT_ERRORS:
                self._utilization_skip[index] = words
            return None, words
        by_pid: dict[int, tuple[int, int, int, int]] = {}
        newest: dict[int, int] = {}
        for sample in samples:
            figures = (sample.smUtil, sample.memUtil, sample.encUtil, sample.decUtil)
            if max(figures) > 100:
                continue  # some drivers report garbage above 100 (nvtop #110): not a reading
            if sample.timeStamp >= newest.get(sample.pid, -1):
                newest[sample.pid] = sample.timeStamp
                by_pid[sample.pid] = figures
            self._utilization_seen_us[index] = max(
                self._utilization_seen_us[index], sample.timeStamp
            )
        return by_pid, None

    def _running_processes(self, function_name: str, handle) -> list[tuple[int, int | None]]:
        function = pynvml._nvmlGetFunctionPointer(function_name)
        layout = self._probe.process_layout
        count = c_uint(0)
        result = function(handle, byref(count), None)
        if result == pynvml.NVML_SUCCESS:
            return []
        for _ in range(3):
            if result != pynvml.NVML_ERROR_INSUFFICIENT_SIZE:
                break
            # Room for processes that start between the two calls.
            count.value = count.value * 2 + 5
            entries = (layout * count.value)()
            result = function(handle, byref(count), entries)
            if result == pynvml.NVML_SUCCESS:
                return [
                    (
                        entries[i].pid,
                        None
                        if entries[i].usedGpuMemory
                        == pynvml.NVML_VALUE_NOT_AVAILABLE_ulonglong.value
                        else entries[i].usedGpuMemory,
                    )
                    for i in range(count.value)
                ]
        pynvml._nvmlCheckReturn(result)
        return []

    # --- start-up ----------------------------------------------------------------------------

    @staticmethod
    def _system_call(function):
        try:
            return function()
        except pynvml.NVMLError:
            return None

    def _open_gpu(self, index: int) -> None:
        static = _GpuStatic()
        self._static.append(static)
        self._skip.append({})
        self._utilization_seen_us.append(0)
        self._utilization_skip.append(None)
        try:
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
        except pynvml.NVMLError as error:
            self._handles.append(None)
            self._lost.append(True)
            static.unavailable["handle"] = field_error_words(error)
            return
        self._handles.append(handle)
        self._lost.append(False)
        try:
            self._read_static(handle, static)
        except _GpuLostError:
            self._lost[index] = True

    def _read_static(self, handle, static: _GpuStatic) -> None:
        reader = _FieldReader({})
        read = reader.read
        static.name = _text(read("name", pynvml.nvmlDeviceGetName, handle))
        static.uuid = _text(read("uuid", pynvml.nvmlDeviceGetUUID, handle))
        pci = read("pci_bus_id", pynvml.nvmlDeviceGetPciInfo, handle)
        static.pci_bus_id = _text(pci.busId) if pci is not None else None
        static.temperature_slowdown_c = read(
            "temperature_slowdown_c",
            pynvml.nvmlDeviceGetTemperatureThreshold,
            handle,
            pynvml.NVML_TEMPERATURE_THRESHOLD_SLOWDOWN,
        )
        static.temperature_shutdown_c = read(
            "temperature_shutdown_c",
            pynvml.nvmlDeviceGetTemperatureThreshold,
            handle,
            pynvml.NVML_TEMPERATURE_THRESHOLD_SHUTDOWN,
        )
        static.temperature_max_operating_c = read(
            "temperature_max_operating_c",
            pynvml.nvmlDeviceGetTemperatureThreshold,
            handle,
            pynvml.NVML_TEMPERATURE_THRESHOLD_GPU_MAX,
        )
        static.clocks_sm_max_mhz = read(
            "clocks_sm_max_mhz", pynvml.nvmlDeviceGetMaxClockInfo, handle, pynvml.NVML_CLOCK_SM
        )
        static.clocks_mem_max_mhz = read(
            "clocks_mem_max_mhz", pynvml.nvmlDeviceGetMaxClockInfo, handle, pynvml.NVML_CLOCK_MEM
        )
        static.pcie_link_gen_max = read(
            "pcie_link_gen_max", pynvml.nvmlDeviceGetMaxPcieLinkGeneration, handle
        )
        static.pcie_link_width_max = read(
            "pcie_link_width_max", pynvml.nvmlDeviceGetMaxPcieLinkWidth, handle
        )
        default_limit = read(
            "power_default_limit_w", pynvml.nvmlDeviceGetPowerManagementDefaultLimit, handle
        )
        static.power_default_limit_w = default_limit / 1000 if default_limit is not None else None
        static.fan_count = self._fan_count(handle, static)
        static.unavailable.update(reader.unavailable)

    def _fan_count(self, handle, static: _GpuStatic) -> int | None:
        try:
            return pynvml.nvmlDeviceGetNumFans(handle)
        except pynvml.NVMLError as error:
            if error.value == pynvml.NVML_ERROR_GPU_IS_LOST:
                raise _GpuLostError from error
            if error.value == pynvml.NVML_ERROR_FUNCTION_NOT_FOUND:
                # Drivers before R460 know one fan only.
                try:
                    pynvml.nvmlDeviceGetFanSpeed(handle)
                except pynvml.NVMLError as fan_error:
                    static.unavailable["fans"] = _fan_reason(fan_error)
                    return None
                return 1
            static.unavailable["fans"] = _fan_reason(error)
            return None

    def _probe_functions(self) -> None:
        probe = self._probe
        probe.memory_v2 = _exported("nvmlDeviceGetMemoryInfo_v2")
        probe.temperature_v = hasattr(pynvml, "nvmlDeviceGetTemperatureV") and _exported(
            "nvmlDeviceGetTemperatureV"
        )
        if not _exported("nvmlDeviceGetCurrentClocksEventReasons"):
            probe.clock_event_function = "nvmlDeviceGetCurrentClocksThrottleReasons"
        probe.per_fan = _exported("nvmlDeviceGetFanSpeed_v2")
        probe.fan_rpm = hasattr(pynvml, "c_nvmlFanSpeedInfo_t") and _exported(
            "nvmlDeviceGetFanSpeedRPM"
        )
        if _exported("nvmlDeviceGetComputeRunningProcesses_v3"):
            probe.process_suffix = "_v3"
            early_r535 = _exported("nvmlDeviceGetConfComputeMemSizeInfo") and not _exported(
                "nvmlDeviceGetRunningProcessDetailList"
            )
            probe.process_layout = (
                _ProcessInfoConfCompute if early_r535 else pynvml.c_nvmlProcessInfo_v2_t
            )
        elif _exported("nvmlDeviceGetComputeRunningProcesses_v2"):
            probe.process_suffix = "_v2"
            probe.process_layout = pynvml.c_nvmlProcessInfo_v2_t
        else:
            probe.process_suffix = ""
            probe.process_layout = _ProcessInfoV1


def _field_values(handle, field_ids: list[int]) -> list[int | float | None]:
    """Values of NVML fields, None for each field the GPU does not report."""
    values = pynvml.nvmlDeviceGetFieldValues(handle, field_ids)
    result: list[int | float | None] = []
    for value in values:
        if value.nvmlReturn != pynvml.NVML_SUCCESS:
            result.append(None)
            continue
        kind = value.valueType
        if kind == pynvml.NVML_VALUE_TYPE_DOUBLE:
            result.append(value.value.dVal)
        elif kind == pynvml.NVML_VALUE_TYPE_UNSIGNED_INT:
            result.append(value.value.uiVal)
        elif kind == pynvml.NVML_VALUE_TYPE_UNSIGNED_LONG:
            result.append(value.value.ulVal)
        elif kind == pynvml.NVML_VALUE_TYPE_UNSIGNED_LONG_LONG:
            result.append(value.value.ullVal)
        elif kind == pynvml.NVML_VALUE_TYPE_SIGNED_LONG_LONG:
            result.append(value.value.sllVal)
        elif kind == pynvml.NVML_VALUE_TYPE_SIGNED_INT:
            result.append(value.value.siVal)
        else:
            result.append(None)
    return result


def _utilization_words(error: pynvml.NVMLError) -> str:
    if error.value == pynvml.NVML_ERROR_NOT_SUPPORTED:
        return "not supported by this GPU or driver"
    return field_error_words(error)


def _fan_reason(error: pynvml.NVMLError) -> str:
    if error.value == pynvml.NVML_ERROR_NOT_SUPPORTED:
        return "no fan sensor (passive cooling)"
    return field_error_words(error)


def _exported(function_name: str) -> bool:
    try:
        pynvml._nvmlGetFunctionPointer(function_name)
    except pynvml.NVMLError:
        return False
    return True


def _text(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return str(value)
