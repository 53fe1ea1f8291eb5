"""What each GPU reports through NVML's device functions, read from the simulated rig.

Each function here is the body of one exported C function. The library (``library.py``) has
already turned the device handle into the GPU's index ``g``, answered an injected error or a lost
GPU, advanced the rig and taken its lock; the body writes its results through the caller's
pointers and returns an ``nvmlReturn_t``. The running processes are in ``processes.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from ctypes import POINTER, c_int, c_uint, c_ulonglong, c_void_p, cast
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rigtui.sim.nvml.codes import (
    ERROR_ARGUMENT_VERSION_MISMATCH,
    ERROR_INVALID_ARGUMENT,
    ERROR_NOT_SUPPORTED,
    FI_DEV_POWER_AVERAGE,
    FI_DEV_POWER_INSTANT,
    FI_DEV_TOTAL_ENERGY_CONSUMPTION,
    SUCCESS,
    VALUE_TYPE_UNSIGNED_INT,
    VALUE_TYPE_UNSIGNED_LONG_LONG,
)
from rigtui.sim.nvml.structs import (
    FAN_SPEED_INFO_V1_VERSION,
    MEMORY_V2_VERSION,
    TEMPERATURE_V1_VERSION,
    FanSpeedInfoV1,
    FieldValue,
    Memory,
    MemoryV2,
    PciInfo,
    TemperatureV1,
    Utilization,
    write,
    write_string,
)

if TYPE_CHECKING:
    from rigtui.sim.nvml.drivers import DriverProfile
    from rigtui.sim.rig import SimulatedRig

# A pointer argument crosses as a bare address; each body casts it to what it fills.
ptr = c_void_p


@dataclass(frozen=True)
class DeviceFunction:
    """One exported function whose first argument is a device handle.

    ``argtypes`` are the C arguments after the handle; ``implementation`` is called with the
    GPU's index in the handle's place.
    """

    name: str
    argtypes: list
    implementation: Callable[..., int]


def device_functions(
    rig: SimulatedRig, profile: DriverProfile, latency: Callable[[float], None]
) -> list[DeviceFunction]:
    """The device readings, for the driver generation ``profile``; ``latency`` sleeps when the
    library emulates the driver's slow calls."""
    return [
        *_identity(rig),
        *_memory(rig),
        *_utilization(rig),
        *_temperature(rig),
        *_fans(rig),
        *_power(rig, profile),
        *_clocks(rig),
        *_pcie(rig, latency),
    ]


def _identity(rig: SimulatedRig) -> list[DeviceFunction]:
    def index_of(g, out):
        write(out, c_uint, g)
        return SUCCESS

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

    return [
        DeviceFunction(
            "nvmlDeviceGetName",
            [ptr, c_uint],
            lambda g, buf, length: write_string(buf, length, rig.gpus[g].model.name),
        ),
        DeviceFunction(
            "nvmlDeviceGetUUID",
            [ptr, c_uint],
            lambda g, buf, length: write_string(buf, length, rig.gpus[g].uuid),
        ),
        DeviceFunction("nvmlDeviceGetIndex", [ptr], index_of),
        DeviceFunction("nvmlDeviceGetPciInfo_v3", [ptr], pci_info),
    ]


def _memory(rig: SimulatedRig) -> list[DeviceFunction]:
    # The v1 call counts the reserved memory as used (R510 and newer).
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

    return [
        DeviceFunction("nvmlDeviceGetMemoryInfo", [ptr], memory_v1),
        DeviceFunction("nvmlDeviceGetMemoryInfo_v2", [ptr], memory_v2),
    ]


def _utilization(rig: SimulatedRig) -> list[DeviceFunction]:
    def utilization(g, out):
        gpu = rig.gpus[g]
        info = cast(out, POINTER(Utilization)).contents
        info.gpu = round(gpu.utilization_gpu_pct)
        info.memory = round(gpu.utilization_memory_pct)
        return SUCCESS

    return [DeviceFunction("nvmlDeviceGetUtilizationRates", [ptr], utilization)]


def _temperature(rig: SimulatedRig) -> list[DeviceFunction]:
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

    return [
        DeviceFunction("nvmlDeviceGetTemperature", [c_uint, ptr], temperature),
        DeviceFunction("nvmlDeviceGetTemperatureV", [ptr], temperature_v),
        DeviceFunction("nvmlDeviceGetTemperatureThreshold", [c_uint, ptr], threshold),
    ]


def _fans(rig: SimulatedRig) -> list[DeviceFunction]:
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

    return [
        DeviceFunction("nvmlDeviceGetNumFans", [ptr], num_fans),
        DeviceFunction("nvmlDeviceGetFanSpeed", [ptr], lambda g, out: fan_speed_of(g, 0, out)),
        DeviceFunction("nvmlDeviceGetFanSpeed_v2", [c_uint, ptr], fan_speed_of),
        DeviceFunction("nvmlDeviceGetFanSpeedRPM", [ptr], fan_rpm),
    ]


def _power(rig: SimulatedRig, profile: DriverProfile) -> list[DeviceFunction]:
    def milliwatts(value):
        def get(g, out):
            write(out, c_uint, round(value(rig.gpus[g]) * 1000))
            return SUCCESS

        return get

    def limit_constraints(g, out_min, out_max):
        model = rig.gpus[g].model
        write(out_min, c_uint, round(model.power_min_limit_w * 1000))
        write(out_max, c_uint, round(model.power_max_limit_w * 1000))
        return SUCCESS

    def energy(g, out):
        write(out, c_ulonglong, int(rig.gpus[g].energy_mj))
        return SUCCESS

    def field_values(g, count, values):
        gpu = rig.gpus[g]
        array = cast(values, POINTER(FieldValue))
        now_us = int(rig.epoch_time() * 1e6)
        for i in range(count):
            entry = array[i]
            entry.timestamp = now_us
            entry.latencyUsec = 0
            entry.nvmlReturn = SUCCESS
            if entry.fieldId in (FI_DEV_POWER_INSTANT, FI_DEV_POWER_AVERAGE) and entry.scopeId == 0:
                if entry.fieldId == FI_DEV_POWER_INSTANT and not profile.instant_power_field:
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

    return [
        DeviceFunction(
            "nvmlDeviceGetPowerUsage", [ptr], milliwatts(lambda gpu: gpu.power_average_w)
        ),
        DeviceFunction(
            "nvmlDeviceGetEnforcedPowerLimit", [ptr], milliwatts(lambda gpu: gpu.power_limit_w)
        ),
        DeviceFunction(
            "nvmlDeviceGetPowerManagementLimit", [ptr], milliwatts(lambda gpu: gpu.power_limit_w)
        ),
        DeviceFunction(
            "nvmlDeviceGetPowerManagementDefaultLimit",
            [ptr],
            milliwatts(lambda gpu: gpu.model.power_default_limit_w),
        ),
        DeviceFunction(
            "nvmlDeviceGetPowerManagementLimitConstraints", [ptr, ptr], limit_constraints
        ),
        DeviceFunction("nvmlDeviceGetTotalEnergyConsumption", [ptr], energy),
        DeviceFunction("nvmlDeviceGetFieldValues", [c_int, ptr], field_values),
    ]


def _clocks(rig: SimulatedRig) -> list[DeviceFunction]:
    """The performance state, the clocks and why they are held down."""

    def pstate(g, out):
        write(out, c_int, rig.gpus[g].pstate)
        return SUCCESS

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

    return [
        DeviceFunction("nvmlDeviceGetPerformanceState", [ptr], pstate),
        DeviceFunction("nvmlDeviceGetClockInfo", [c_uint, ptr], clock),
        DeviceFunction("nvmlDeviceGetMaxClockInfo", [c_uint, ptr], max_clock),
        DeviceFunction("nvmlDeviceGetCurrentClocksEventReasons", [ptr], reasons),
        DeviceFunction("nvmlDeviceGetCurrentClocksThrottleReasons", [ptr], reasons),
        DeviceFunction("nvmlDeviceGetSupportedClocksEventReasons", [ptr], supported_reasons),
        DeviceFunction("nvmlDeviceGetSupportedClocksThrottleReasons", [ptr], supported_reasons),
    ]


def _pcie(rig: SimulatedRig, latency: Callable[[float], None]) -> list[DeviceFunction]:
    def uint_of(value):
        def get(g, out):
            write(out, c_uint, value(rig.gpus[g]))
            return SUCCESS

        return get

    def pcie_throughput(g, counter, out):
        # The driver samples a counter over a 20 ms window for each call.
        latency(0.02)
        gpu = rig.gpus[g]
        if counter == 0:
            value = gpu.pcie_tx_bytes_per_s
        elif counter == 1:
            value = gpu.pcie_rx_bytes_per_s
        else:
            return ERROR_INVALID_ARGUMENT
        write(out, c_uint, int(value / 1024))
        return SUCCESS

    return [
        DeviceFunction(
            "nvmlDeviceGetCurrPcieLinkGeneration", [ptr], uint_of(lambda gpu: gpu.pcie_gen)
        ),
        DeviceFunction(
            "nvmlDeviceGetCurrPcieLinkWidth", [ptr], uint_of(lambda gpu: gpu.pcie_width)
        ),
        DeviceFunction(
            "nvmlDeviceGetMaxPcieLinkGeneration", [ptr], uint_of(lambda gpu: gpu.pcie_gen_max)
        ),
        DeviceFunction(
            "nvmlDeviceGetMaxPcieLinkWidth", [ptr], uint_of(lambda gpu: gpu.model.pcie_width_max)
        ),
        DeviceFunction(
            "nvmlDeviceGetGpuMaxPcieLinkGeneration",
            [ptr],
            uint_of(lambda gpu: gpu.model.pcie_gen_max),
        ),
        DeviceFunction("nvmlDeviceGetPcieThroughput", [c_uint, ptr], pcie_throughput),
    ]
