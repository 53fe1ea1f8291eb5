"""Driver generations, the ones ``--demo-driver`` offers, as the bindings meet them.

Each profile says which symbols that driver exports and how it fills versioned structs, so the
driver-version traps are reproduced: a symbol an older driver lacks is missing from the library
(``pynvml`` reports ``FUNCTION_NOT_FOUND``), an early R535 driver fills a larger process struct
for ``_v3`` than the bindings expect, and the older generations have no instantaneous power field.

This module imports only the structs (ctypes), not the library: ``cli.py`` reads the names for
its options on every start, also on a real rig.
"""

from __future__ import annotations

from ctypes import Structure
from dataclasses import dataclass

from rigtui.sim.nvml.structs import ProcessInfoConfCompute, ProcessInfoV2


@dataclass(frozen=True)
class DriverProfile:
    """Which symbols a driver exports and how it fills versioned structs."""

    version: str
    cuda_version: int
    missing: frozenset[str] = frozenset()
    process_v3_layout: type[Structure] = ProcessInfoV2
    instant_power_field: bool = True
    process_utilization: bool = True
    """Whether ``nvmlDeviceGetProcessUtilization`` answers (else ``NOT_SUPPORTED``)."""


_R580 = DriverProfile(version="580.95.05", cuda_version=13000)
_R550 = DriverProfile(
    version="550.163.01",
    cuda_version=12040,
    missing=frozenset({"nvmlDeviceGetTemperatureV"}),
)
_R535_EARLY = DriverProfile(
    version="535.54.03",
    cuda_version=12020,
    missing=frozenset(
        {
            "nvmlDeviceGetTemperatureV",
            "nvmlDeviceGetFanSpeedRPM",
            "nvmlDeviceGetRunningProcessDetailList",
        }
    ),
    process_v3_layout=ProcessInfoConfCompute,
)
_R470 = DriverProfile(
    version="470.256.02",
    cuda_version=11040,
    missing=frozenset(
        {
            "nvmlDeviceGetTemperatureV",
            "nvmlDeviceGetFanSpeedRPM",
            "nvmlDeviceGetRunningProcessDetailList",
            "nvmlDeviceGetConfComputeMemSizeInfo",
            "nvmlDeviceGetMemoryInfo_v2",
            "nvmlDeviceGetComputeRunningProcesses_v3",
            "nvmlDeviceGetGraphicsRunningProcesses_v3",
            "nvmlDeviceGetCurrentClocksEventReasons",
            "nvmlDeviceGetSupportedClocksEventReasons",
        }
    ),
    instant_power_field=False,
)
_R418 = DriverProfile(
    version="418.226.00",
    cuda_version=10010,
    missing=_R470.missing
    | {
        "nvmlDeviceGetComputeRunningProcesses_v2",
        "nvmlDeviceGetGraphicsRunningProcesses_v2",
        "nvmlDeviceGetNumFans",
        "nvmlDeviceGetFanSpeed_v2",
        "nvmlDeviceGetGpuMaxPcieLinkGeneration",
    },
    instant_power_field=False,
    # A modelling choice: the oldest generation stands for the boards and drivers that answer
    # NOT_SUPPORTED for per-process utilization, so that path is exercised end to end.
    process_utilization=False,
)

DRIVER_PROFILES: dict[str, DriverProfile] = {
    "r580": _R580,
    "r550": _R550,
    "r535-early": _R535_EARLY,
    "r470": _R470,
    "r418": _R418,
}
