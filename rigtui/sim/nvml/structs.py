"""The structs the simulated library writes into, as ``nvml.h`` declares them.

They are written from NVML's documented headers, not borrowed from ``pynvml``, so a disagreement
between the bindings and the driver shows up here as it would on a real rig. ``write`` and
``write_string`` put a result where the caller's pointer says, as the C functions do.
"""

from __future__ import annotations

import ctypes
from ctypes import (
    POINTER,
    Structure,
    Union,
    c_char,
    c_double,
    c_int,
    c_int64,
    c_uint,
    c_uint32,
    c_ulong,
    c_ulonglong,
    c_ushort,
    cast,
    sizeof,
)

from rigtui.sim.nvml.codes import ERROR_INSUFFICIENT_SIZE, SUCCESS


class Memory(Structure):
    _fields_ = [("total", c_ulonglong), ("free", c_ulonglong), ("used", c_ulonglong)]


class MemoryV2(Structure):
    _fields_ = [
        ("version", c_uint),
        ("total", c_ulonglong),
        ("reserved", c_ulonglong),
        ("free", c_ulonglong),
        ("used", c_ulonglong),
    ]


MEMORY_V2_VERSION = sizeof(MemoryV2) | (2 << 24)


class Utilization(Structure):
    _fields_ = [("gpu", c_uint), ("memory", c_uint)]


class TemperatureV1(Structure):
    _fields_ = [("version", c_uint), ("sensorType", c_uint), ("temperature", c_int)]


TEMPERATURE_V1_VERSION = sizeof(TemperatureV1) | (1 << 24)


class FanSpeedInfoV1(Structure):
    _fields_ = [("version", c_uint), ("fan", c_uint), ("speed", c_uint)]


FAN_SPEED_INFO_V1_VERSION = sizeof(FanSpeedInfoV1) | (1 << 24)


class PciInfo(Structure):
    _fields_ = [
        ("busIdLegacy", c_char * 16),
        ("domain", c_uint),
        ("bus", c_uint),
        ("device", c_uint),
        ("pciDeviceId", c_uint),
        ("pciSubSystemId", c_uint),
        ("busId", c_char * 32),
    ]


class ProcessInfoV1(Structure):
    _fields_ = [("pid", c_uint), ("usedGpuMemory", c_ulonglong)]


class ProcessInfoV2(Structure):
    _fields_ = [
        ("pid", c_uint),
        ("usedGpuMemory", c_ulonglong),
        ("gpuInstanceId", c_uint),
        ("computeInstanceId", c_uint),
    ]


class ProcessInfoConfCompute(Structure):
    """The layout early R535 drivers fill for ``_v3`` (one field more than the bindings expect)."""

    _fields_ = [
        ("pid", c_uint),
        ("usedGpuMemory", c_ulonglong),
        ("gpuInstanceId", c_uint),
        ("computeInstanceId", c_uint),
        ("usedGpuCcProtectedMemory", c_ulonglong),
    ]


class ProcessUtilizationSample(Structure):
    """``nvmlProcessUtilizationSample_t``: one process's utilization at one CPU timestamp (µs)."""

    _fields_ = [
        ("pid", c_uint),
        ("timeStamp", c_ulonglong),
        ("smUtil", c_uint),
        ("memUtil", c_uint),
        ("encUtil", c_uint),
        ("decUtil", c_uint),
    ]


class Value(Union):
    _fields_ = [
        ("dVal", c_double),
        ("uiVal", c_uint),
        ("ulVal", c_ulong),
        ("ullVal", c_ulonglong),
        ("sllVal", ctypes.c_longlong),
        ("siVal", c_int),
        ("usVal", c_ushort),
    ]


class FieldValue(Structure):
    _fields_ = [
        ("fieldId", c_uint32),
        ("scopeId", c_uint32),
        ("timestamp", c_int64),
        ("latencyUsec", c_int64),
        ("valueType", c_uint),
        ("nvmlReturn", c_uint),
        ("value", Value),
    ]


def write(pointer: int, ctype, value) -> None:
    """Store ``value`` as a ``ctype`` at the address the caller passed."""
    cast(pointer, POINTER(ctype))[0] = value


def write_string(buffer: int, length: int, text: str) -> int:
    """Copy ``text`` with its terminating NUL into the caller's buffer, if it fits."""
    data = text.encode()
    if length < len(data) + 1:
        return ERROR_INSUFFICIENT_SIZE
    ctypes.memmove(buffer, data + b"\0", len(data) + 1)
    return SUCCESS
