"""The GPUs' running processes, in the struct layout each entry point fills.

``_v3`` fills the layout of the driver generation (``DriverProfile.process_v3_layout``): on an
early R535 driver that is a larger struct than the bindings expect, the trap the real driver set.
"""

from __future__ import annotations

from ctypes import POINTER, Structure, c_uint, cast
from typing import TYPE_CHECKING

from rigtui.sim.nvml.codes import ERROR_INSUFFICIENT_SIZE, ERROR_NOT_SUPPORTED, SUCCESS
from rigtui.sim.nvml.device import DeviceFunction, ptr
from rigtui.sim.nvml.structs import ProcessInfoConfCompute, ProcessInfoV1, ProcessInfoV2

if TYPE_CHECKING:
    from rigtui.sim.nvml.drivers import DriverProfile
    from rigtui.sim.rig import SimulatedRig


def process_functions(rig: SimulatedRig, profile: DriverProfile) -> list[DeviceFunction]:
    """The compute and graphics process lists in each version, and the generation probes."""

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

    functions = []
    for kind, word in (("C", "Compute"), ("G", "Graphics")):
        functions += [
            DeviceFunction(
                f"nvmlDeviceGet{word}RunningProcesses", [ptr, ptr], processes(kind, ProcessInfoV1)
            ),
            DeviceFunction(
                f"nvmlDeviceGet{word}RunningProcesses_v2",
                [ptr, ptr],
                processes(kind, ProcessInfoV2),
            ),
            DeviceFunction(
                f"nvmlDeviceGet{word}RunningProcesses_v3",
                [ptr, ptr],
                processes(kind, profile.process_v3_layout),
            ),
        ]
    # Present only so that callers can probe which driver generation this is (which of them a
    # driver exports tells an early R535, whose _v3 struct is larger, from the rest).
    functions += [
        DeviceFunction(
            "nvmlDeviceGetConfComputeMemSizeInfo", [ptr], lambda g, out: ERROR_NOT_SUPPORTED
        ),
        DeviceFunction(
            "nvmlDeviceGetRunningProcessDetailList", [ptr], lambda g, out: ERROR_NOT_SUPPORTED
        ),
    ]
    return functions
