"""A simulated NVML library, installed beneath the real ``pynvml`` bindings.

``pynvml`` loads ``libnvidia-ml.so.1`` with ctypes and looks every function up by name on the
library object. This module builds an object with the same shape: each exported symbol is a real
C function pointer (a ctypes callback with the C signature from ``nvml.h``), which writes its
results through the pointers it is given into memory laid out as the driver lays it out. So the
bindings' own structs, their ``_v2``/``_v3`` lookups and their ``NVMLError`` mapping run exactly as
on a real driver, and the driver-version traps (a missing symbol is ``FUNCTION_NOT_FOUND``; an
early R535 driver fills a larger process struct than the bindings expect) are reproduced; the
generations are in ``drivers.py``, the structs as ``nvml.h`` declares them in ``structs.py``.
"""

from __future__ import annotations

import ctypes
import threading
import time
from collections.abc import Callable
from ctypes import CFUNCTYPE, POINTER, Structure, c_int, c_uint, c_ulonglong, c_void_p, cast
from dataclasses import dataclass, field

from rigtui.sim.nvml.codes import (
    ERROR_ARGUMENT_VERSION_MISMATCH,
    ERROR_GPU_IS_LOST,
    ERROR_INSUFFICIENT_SIZE,
    ERROR_INVALID_ARGUMENT,
    ERROR_NOT_SUPPORTED,
    ERROR_STRINGS,
    ERROR_UNKNOWN,
    FI_DEV_POWER_AVERAGE,
    FI_DEV_POWER_INSTANT,
    FI_DEV_TOTAL_ENERGY_CONSUMPTION,
    SUCCESS,
    VALUE_TYPE_UNSIGNED_INT,
    VALUE_TYPE_UNSIGNED_LONG_LONG,
)
from rigtui.sim.nvml.drivers import DRIVER_PROFILES, DriverProfile
from rigtui.sim.nvml.structs import (
    FAN_SPEED_INFO_V1_VERSION,
    MEMORY_V2_VERSION,
    TEMPERATURE_V1_VERSION,
    FanSpeedInfoV1,
    FieldValue,
    Memory,
    MemoryV2,
    PciInfo,
    ProcessInfoConfCompute,
    ProcessInfoV1,
    ProcessInfoV2,
    TemperatureV1,
    Utilization,
)
from rigtui.sim.rig import SimulatedRig


@dataclass
class Injection:
    error: int
    gpu_index: int | None


@dataclass
class _Exported:
    prototype: type
    pointer: object
    implementation: Callable[..., int]
    device_call: bool = field(default=True)


class SimulatedNvmlLibrary:
    """Stands in for the ``CDLL`` object that ``pynvml`` loads; see the module docstring."""

    def __init__(
        self,
        rig: SimulatedRig,
        profile: DriverProfile | str = "r580",
        *,
        emulate_latency: bool = False,
    ) -> None:
        self.rig = rig
        self.profile = DRIVER_PROFILES[profile] if isinstance(profile, str) else profile
        self.emulate_latency = emulate_latency
        self.init_error: int | None = None
        """Set to e.g. ``ERROR_DRIVER_NOT_LOADED`` to make ``nvmlInit`` fail."""
        self.calls: dict[str, int] = {}
        self._injections: dict[str, list[Injection]] = {}
        self._lock = threading.Lock()
        self._handle_memory = [ctypes.create_string_buffer(16) for _ in rig.gpus]
        self._handles = {ctypes.addressof(buf): i for i, buf in enumerate(self._handle_memory)}
        self._error_strings = {
            code: ctypes.create_string_buffer(text.encode()) for code, text in ERROR_STRINGS.items()
        }
        self._exports: dict[str, _Exported] = {}
        self._export_all()

    # --- the CDLL look-alike -------------------------------------------------------------------

    def __getattr__(self, name: str):
        exports = self.__dict__.get("_exports")
        if exports is None or name not in exports or name in self.profile.missing:
            raise AttributeError(name)
        return exports[name].pointer

    def inject(self, function: str, error: int, gpu_index: int | None = None) -> None:
        """Make ``function`` fail with ``error`` on one GPU (or on all: ``gpu_index`` None)."""
        with self._lock:
            self._injections.setdefault(function, []).append(Injection(error, gpu_index))

    def clear_injections(self) -> None:
        with self._lock:
            self._injections.clear()

    # --- plumbing ------------------------------------------------------------------------------

    def _injected_error(self, name: str, gpu_index: int | None) -> int | None:
        for injection in self._injections.get(name, ()):
            if injection.gpu_index is None or injection.gpu_index == gpu_index:
                return injection.error
        return None

    def _export(
        self,
        name: str,
        argtypes: list,
        implementation: Callable[..., int],
        *,
        device_call: bool = True,
        restype=c_int,
    ) -> None:
        prototype = CFUNCTYPE(restype, *argtypes)

        def entry(*args):
            self.calls[name] = self.calls.get(name, 0) + 1
            try:
                if device_call:
                    gpu_index = self._handles.get(args[0] or 0)
                    if gpu_index is None:
                        return ERROR_INVALID_ARGUMENT
                    injected = self._injected_error(name, gpu_index)
                    if injected is not None:
                        return injected
                    self.rig.advance()
                    gpu = self.rig.gpus[gpu_index]
                    if gpu.lost:
                        return ERROR_GPU_IS_LOST
                    with self.rig.lock():
                        return implementation(gpu_index, *args[1:])
                injected = self._injected_error(name, None)
                if injected is not None:
                    return injected
                return implementation(*args)
            except Exception:  # noqa: BLE001 - a C caller cannot receive a Python exception
                return ERROR_UNKNOWN

        pointer = prototype(entry) if restype is c_int else prototype(implementation)
        self._exports[name] = _Exported(prototype, pointer, implementation, device_call)

    @staticmethod
    def _write(pointer: int, ctype, value) -> None:
        cast(pointer, POINTER(ctype))[0] = value

    @staticmethod
    def _write_string(buffer: int, length: int, text: str) -> int:
        data = text.encode()
        if length < len(data) + 1:
            return ERROR_INSUFFICIENT_SIZE
        ctypes.memmove(buffer, data + b"\0", len(data) + 1)
        return SUCCESS

    def _latency(self, seconds: float) -> None:
        if self.emulate_latency:
            time.sleep(seconds)

    # --- the functions -------------------------------------------------------------------------

    def _export_all(self) -> None:  # noqa: PLR0915 - one table of exports reads best in one place
        rig = self.rig
        ptr = c_void_p
        write = self._write

        def system(name, argtypes, impl):
            self._export(name, argtypes, impl, device_call=False)

        def device(name, argtypes, impl):
            self._export(name, [ptr, *argtypes], impl)

        def init(*_flags):
            self._latency(0.05)
            return self.init_error if self.init_error is not None else SUCCESS

        system("nvmlInit", [], init)
        system("nvmlInit_v2", [], init)
        system("nvmlInitWithFlags", [c_uint], init)
        system("nvmlShutdown", [], lambda: SUCCESS)
        self._export(
            "nvmlErrorString",
            [c_int],
            lambda code: ctypes.addressof(
                self._error_strings.get(code, self._error_strings[ERROR_UNKNOWN])
            ),
            device_call=False,
            restype=c_void_p,
        )
        system(
            "nvmlSystemGetDriverVersion",
            [ptr, c_uint],
            lambda buf, length: self._write_string(buf, length, self.profile.version),
        )
        system(
            "nvmlSystemGetNVMLVersion",
            [ptr, c_uint],
            lambda buf, length: self._write_string(
                buf, length, f"{self.profile.cuda_version // 1000}.{self.profile.version}"
            ),
        )

        def cuda_version(out):
            write(out, c_int, self.profile.cuda_version)
            return SUCCESS

        system("nvmlSystemGetCudaDriverVersion", [ptr], cuda_version)
        system("nvmlSystemGetCudaDriverVersion_v2", [ptr], cuda_version)

        def count(out):
            write(out, c_uint, len(rig.gpus))
            return SUCCESS

        system("nvmlDeviceGetCount", [ptr], count)
        system("nvmlDeviceGetCount_v2", [ptr], count)

        def handle_by_index(index, out):
            if index >= len(rig.gpus):
                return ERROR_INVALID_ARGUMENT
            injected = self._injected_error("nvmlDeviceGetHandleByIndex_v2", index)
            if injected is not None:
                return injected
            if rig.gpus[index].lost:
                return ERROR_GPU_IS_LOST
            write(out, c_void_p, ctypes.addressof(self._handle_memory[index]))
            return SUCCESS

        system("nvmlDeviceGetHandleByIndex", [c_uint, ptr], handle_by_index)
        system("nvmlDeviceGetHandleByIndex_v2", [c_uint, ptr], handle_by_index)

        # Identity.
        device(
            "nvmlDeviceGetName",
            [ptr, c_uint],
            lambda g, buf, length: self._write_string(buf, length, rig.gpus[g].model.name),
        )
        device(
            "nvmlDeviceGetUUID",
            [ptr, c_uint],
            lambda g, buf, length: self._write_string(buf, length, rig.gpus[g].uuid),
        )

        def index_of(g, out):
            write(out, c_uint, g)
            return SUCCESS

        device("nvmlDeviceGetIndex", [ptr], index_of)

        def pci_info(g, out):
            info = cast(out, POINTER(PciInfo)).contents
            bus_id = rig.gpus[g].pci_bus_id
            info.busId = bus_id.encode()
            info.busIdLegacy = bus_id[-12:].encode()
            info.domain = int(bus_id.split(":")[0], 16)
            info.bus = int(bus_id.split(":")[1], 16)
            info.device = int(bus_id.split(":")[2].split(".")[0], 16)
            info.pciDeviceId = 0x268410DE
            info.pciSubSystemId = 0x167C10DE
            return SUCCESS

        device("nvmlDeviceGetPciInfo_v3", [ptr], pci_info)

        # Memory. The v1 call counts the reserved memory as used (R510 and newer).
        def memory_v1(g, out):
            gpu = rig.gpus[g]
            used = rig.vram_used_bytes(g) + gpu.model.memory_reserved_bytes
            info = cast(out, POINTER(Memory)).contents
            info.total = gpu.model.memory_total_bytes
            info.used = used
            info.free = gpu.model.memory_total_bytes - used
            return SUCCESS

        def memory_v2(g, out):
            info = cast(out, POINTER(MemoryV2)).contents
            if info.version != MEMORY_V2_VERSION:
                return ERROR_ARGUMENT_VERSION_MISMATCH
            gpu = rig.gpus[g]
            used = rig.vram_used_bytes(g)
            info.total = gpu.model.memory_total_bytes
            info.reserved = gpu.model.memory_reserved_bytes
            info.used = used
            info.free = gpu.model.memory_total_bytes - gpu.model.memory_reserved_bytes - used
            return SUCCESS

        device("nvmlDeviceGetMemoryInfo", [ptr], memory_v1)
        device("nvmlDeviceGetMemoryInfo_v2", [ptr], memory_v2)

        def utilization(g, out):
            gpu = rig.gpus[g]
            info = cast(out, POINTER(Utilization)).contents
            info.gpu = round(gpu.utilization_gpu_pct)
            info.memory = round(gpu.utilization_memory_pct)
            return SUCCESS

        device("nvmlDeviceGetUtilizationRates", [ptr], utilization)

        # Temperature.
        def temperature(g, sensor, out):
            if sensor != 0:
                return ERROR_INVALID_ARGUMENT
            write(out, c_uint, round(rig.gpus[g].temperature_c))
            return SUCCESS

        def temperature_v(g, out):
            info = cast(out, POINTER(TemperatureV1)).contents
            if info.version != TEMPERATURE_V1_VERSION:
                return ERROR_ARGUMENT_VERSION_MISMATCH
            if info.sensorType != 0:
                return ERROR_INVALID_ARGUMENT
            info.temperature = round(rig.gpus[g].temperature_c)
            return SUCCESS

        def threshold(g, kind, out):
            model = rig.gpus[g].model
            values = {
                0: model.temperature_shutdown_c,
                1: model.temperature_slowdown_c,
                3: model.temperature_max_operating_c,
            }
            if kind not in values:
                return ERROR_NOT_SUPPORTED
            write(out, c_uint, values[kind])
            return SUCCESS

        device("nvmlDeviceGetTemperature", [c_uint, ptr], temperature)
        device("nvmlDeviceGetTemperatureV", [ptr], temperature_v)
        device("nvmlDeviceGetTemperatureThreshold", [c_uint, ptr], threshold)

        # Fans.
        def num_fans(g, out):
            fans = rig.gpus[g].model.fan_count
            if fans == 0:
                return ERROR_NOT_SUPPORTED
            write(out, c_uint, fans)
            return SUCCESS

        def fan_speed_of(g, fan, out):
            gpu = rig.gpus[g]
            if gpu.model.fan_count == 0:
                return ERROR_NOT_SUPPORTED
            if fan >= gpu.model.fan_count:
                return ERROR_INVALID_ARGUMENT
            write(out, c_uint, round(gpu.fans_pct[fan]))
            return SUCCESS

        def fan_rpm(g, out):
            info = cast(out, POINTER(FanSpeedInfoV1)).contents
            if info.version != FAN_SPEED_INFO_V1_VERSION:
                return ERROR_ARGUMENT_VERSION_MISMATCH
            gpu = rig.gpus[g]
            if gpu.model.fan_count == 0:
                return ERROR_NOT_SUPPORTED
            if info.fan >= gpu.model.fan_count:
                return ERROR_INVALID_ARGUMENT
            info.speed = round(gpu.fans_rpm[info.fan])
            return SUCCESS

        device("nvmlDeviceGetNumFans", [ptr], num_fans)
        device("nvmlDeviceGetFanSpeed", [ptr], lambda g, out: fan_speed_of(g, 0, out))
        device("nvmlDeviceGetFanSpeed_v2", [c_uint, ptr], fan_speed_of)
        device("nvmlDeviceGetFanSpeedRPM", [ptr], fan_rpm)

        # Power and energy.
        def milliwatts(value):
            def get(g, out):
                write(out, c_uint, round(value(rig.gpus[g]) * 1000))
                return SUCCESS

            return get

        device("nvmlDeviceGetPowerUsage", [ptr], milliwatts(lambda gpu: gpu.power_average_w))
        device("nvmlDeviceGetEnforcedPowerLimit", [ptr], milliwatts(lambda gpu: gpu.power_limit_w))
        device(
            "nvmlDeviceGetPowerManagementLimit", [ptr], milliwatts(lambda gpu: gpu.power_limit_w)
        )
        device(
            "nvmlDeviceGetPowerManagementDefaultLimit",
            [ptr],
            milliwatts(lambda gpu: gpu.model.power_default_limit_w),
        )

        def limit_constraints(g, out_min, out_max):
            model = rig.gpus[g].model
            write(out_min, c_uint, round(model.power_min_limit_w * 1000))
            write(out_max, c_uint, round(model.power_max_limit_w * 1000))
            return SUCCESS

        device("nvmlDeviceGetPowerManagementLimitConstraints", [ptr, ptr], limit_constraints)

        def energy(g, out):
            write(out, c_ulonglong, int(rig.gpus[g].energy_mj))
            return SUCCESS

        device("nvmlDeviceGetTotalEnergyConsumption", [ptr], energy)

        def field_values(g, count, values):
            gpu = rig.gpus[g]
            array = cast(values, POINTER(FieldValue))
            now_us = int(rig.epoch_time() * 1e6)
            for i in range(count):
                entry = array[i]
                entry.timestamp = now_us
                entry.latencyUsec = 0
                entry.nvmlReturn = SUCCESS
                if (
                    entry.fieldId in (FI_DEV_POWER_INSTANT, FI_DEV_POWER_AVERAGE)
                    and entry.scopeId == 0
                ):
                    if (
                        entry.fieldId == FI_DEV_POWER_INSTANT
                        and not self.profile.instant_power_field
                    ):
                        entry.nvmlReturn = ERROR_NOT_SUPPORTED
                        continue
                    watts = (
                        gpu.power_instant_w
                        if entry.fieldId == FI_DEV_POWER_INSTANT
                        else (gpu.power_average_w)
                    )
                    entry.valueType = VALUE_TYPE_UNSIGNED_INT
                    entry.value.uiVal = round(watts * 1000)
                elif entry.fieldId == FI_DEV_TOTAL_ENERGY_CONSUMPTION:
                    entry.valueType = VALUE_TYPE_UNSIGNED_LONG_LONG
                    entry.value.ullVal = int(gpu.energy_mj)
                else:
                    entry.nvmlReturn = ERROR_NOT_SUPPORTED
            return SUCCESS

        device("nvmlDeviceGetFieldValues", [c_int, ptr], field_values)

        def pstate(g, out):
            write(out, c_int, rig.gpus[g].pstate)
            return SUCCESS

        device("nvmlDeviceGetPerformanceState", [ptr], pstate)

        # Clocks and why they are held down.
        def clock(g, kind, out):
            gpu = rig.gpus[g]
            values = {
                0: gpu.sm_clock_mhz,
                1: gpu.sm_clock_mhz,
                2: gpu.mem_clock_mhz,
                3: gpu.sm_clock_mhz * 0.78,
            }
            if kind not in values:
                return ERROR_INVALID_ARGUMENT
            write(out, c_uint, round(values[kind]))
            return SUCCESS

        def max_clock(g, kind, out):
            model = rig.gpus[g].model
            values = {
                0: model.sm_clock_max_mhz,
                1: model.sm_clock_max_mhz,
                2: model.mem_clock_max_mhz,
                3: 2415,
            }
            if kind not in values:
                return ERROR_INVALID_ARGUMENT
            write(out, c_uint, values[kind])
            return SUCCESS

        def reasons(g, out):
            write(out, c_ulonglong, rig.gpus[g].clocks_event_mask)
            return SUCCESS

        def supported_reasons(g, out):
            write(out, c_ulonglong, 0x1FF)
            return SUCCESS

        device("nvmlDeviceGetClockInfo", [c_uint, ptr], clock)
        device("nvmlDeviceGetMaxClockInfo", [c_uint, ptr], max_clock)
        device("nvmlDeviceGetCurrentClocksEventReasons", [ptr], reasons)
        device("nvmlDeviceGetCurrentClocksThrottleReasons", [ptr], reasons)
        device("nvmlDeviceGetSupportedClocksEventReasons", [ptr], supported_reasons)
        device("nvmlDeviceGetSupportedClocksThrottleReasons", [ptr], supported_reasons)

        # PCIe link.
        def uint_of(value):
            def get(g, out):
                write(out, c_uint, value(rig.gpus[g]))
                return SUCCESS

            return get

        device("nvmlDeviceGetCurrPcieLinkGeneration", [ptr], uint_of(lambda gpu: gpu.pcie_gen))
        device("nvmlDeviceGetCurrPcieLinkWidth", [ptr], uint_of(lambda gpu: gpu.pcie_width))
        device("nvmlDeviceGetMaxPcieLinkGeneration", [ptr], uint_of(lambda gpu: gpu.pcie_gen_max))
        device(
            "nvmlDeviceGetMaxPcieLinkWidth", [ptr], uint_of(lambda gpu: gpu.model.pcie_width_max)
        )
        device(
            "nvmlDeviceGetGpuMaxPcieLinkGeneration",
            [ptr],
            uint_of(lambda gpu: gpu.model.pcie_gen_max),
        )

        def pcie_throughput(g, counter, out):
            # The driver samples a counter over a 20 ms window for each call.
            self._latency(0.02)
            gpu = rig.gpus[g]
            if counter == 0:
                value = gpu.pcie_tx_bytes_per_s
            elif counter == 1:
                value = gpu.pcie_rx_bytes_per_s
            else:
                return ERROR_INVALID_ARGUMENT
            write(out, c_uint, int(value / 1024))
            return SUCCESS

        device("nvmlDeviceGetPcieThroughput", [c_uint, ptr], pcie_throughput)

        # Running processes, in the struct layout each entry point fills.
        def processes(kind: str, layout: type[Structure]):
            def get(g, count_out, infos):
                entries = [
                    (pid, work.vram_bytes)
                    for pid, process in sorted(rig.processes.items())
                    if (work := process.gpu.get(g)) is not None
                    and kind in work.kind
                    and work.vram_bytes > 0
                ]
                count = cast(count_out, POINTER(c_uint))
                capacity = count[0]
                count[0] = len(entries)
                if not entries:
                    return SUCCESS
                if not infos or capacity < len(entries):
                    return ERROR_INSUFFICIENT_SIZE
                array = cast(infos, POINTER(layout))
                for i, (pid, vram) in enumerate(entries):
                    array[i].pid = pid
                    array[i].usedGpuMemory = int(vram)
                    if layout is not ProcessInfoV1:
                        array[i].gpuInstanceId = 0xFFFFFFFF
                        array[i].computeInstanceId = 0xFFFFFFFF
                    if layout is ProcessInfoConfCompute:
                        array[i].usedGpuCcProtectedMemory = 0
                return SUCCESS

            return get

        for kind, word in (("C", "Compute"), ("G", "Graphics")):
            device(
                f"nvmlDeviceGet{word}RunningProcesses", [ptr, ptr], processes(kind, ProcessInfoV1)
            )
            device(
                f"nvmlDeviceGet{word}RunningProcesses_v2",
                [ptr, ptr],
                processes(kind, ProcessInfoV2),
            )
            device(
                f"nvmlDeviceGet{word}RunningProcesses_v3",
                [ptr, ptr],
                processes(kind, self.profile.process_v3_layout),
            )

        # Present only so that callers can probe which driver generation this is.
        device("nvmlDeviceGetConfComputeMemSizeInfo", [ptr], lambda g, out: ERROR_NOT_SUPPORTED)
        device("nvmlDeviceGetRunningProcessDetailList", [ptr], lambda g, out: ERROR_NOT_SUPPORTED)


_installed_lock = threading.Lock()


def install(library: SimulatedNvmlLibrary) -> None:
    """Put ``library`` where ``pynvml`` keeps the loaded ``libnvidia-ml``."""
    import pynvml

    with _installed_lock:
        pynvml.nvmlLib = library
        pynvml._nvmlGetFunctionPointer_cache.clear()
        pynvml._nvmlLib_refcount = 0


def uninstall() -> None:
    """Forget the simulated library; the next ``nvmlInit`` looks for the real one again."""
    import pynvml

    with _installed_lock:
        pynvml.nvmlLib = None
        pynvml._nvmlGetFunctionPointer_cache.clear()
        pynvml._nvmlLib_refcount = 0
