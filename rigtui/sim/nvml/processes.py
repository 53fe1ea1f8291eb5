"""The GPUs' running processes, in the struct layout each entry point fills.

``_v3`` fills the layout of the driver generation (``DriverProfile.process_v3_layout``): on an
early R535 driver that is a larger struct than the bindings expect, the trap the real driver set.
"""

from __future__ import annotations

from ctypes import POINTER, Structure, c_uint, c_ulonglong, cast
from typing import TYPE_CHECKING

from rigtui.sim.nvml.codes import (
    ERROR_INSUFFICIENT_SIZE,
    ERROR_INVALID_ARGUMENT,
    ERROR_NOT_FOUND,
    ERROR_NOT_SUPPORTED,
    SUCCESS,
)
from rigtui.sim.nvml.device import DeviceFunction, ptr
from rigtui.sim.nvml.structs import (
    ProcessInfoConfCompute,
    ProcessInfoV1,
    ProcessInfoV2,
    ProcessUtilizationSample,
)

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
    functions.append(
        DeviceFunction(
            "nvmlDeviceGetProcessUtilization",
            [ptr, ptr, c_ulonglong],
            process_utilization(rig, profile),
        )
    )
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


def process_utilization(rig: SimulatedRig, profile: DriverProfile):
    """``nvmlDeviceGetProcessUtilization(device, samples, *count, lastSeenTimeStamp)``, as
    ``nvml.h`` documents it: one sample per process that used the GPU after
    ``lastSeenTimeStamp`` (CPU time in µs; 0: every sample the driver keeps); called with
    ``samples`` NULL, or a ``*count`` too small, it sets ``*count`` to the number needed and
    answers ``INSUFFICIENT_SIZE``; with no sample since the timestamp, ``NOT_FOUND``."""

    def get(g, samples_out, count_out, last_seen_us):
        if not count_out:
            return ERROR_INVALID_ARGUMENT
        if not profile.process_utilization:
            return ERROR_NOT_SUPPORTED
        count = cast(count_out, POINTER(c_uint))
        now_us = int(rig.epoch_time() * 1e6)
        entries = []
        for pid, process in sorted(rig.processes.items()):
            work = process.gpu.get(g)
            if work is None or work.sampled_at_s is None:
                continue
            if work.sm_now_pct + work.mem_now_pct > 0:
                # The driver keeps sampling a busy process on its own clock: under a clock that
                # stands still (staged pictures) there is still a sample newer than the last.
                stamp = max(now_us, last_seen_us + 1)
            else:
                stamp = int(work.sampled_at_s * 1e6)  # idle now: its last busy moment
            if stamp > last_seen_us:
                entries.append((pid, work, stamp))
        if not entries:
            count[0] = 0
            return ERROR_NOT_FOUND
        if not samples_out or count[0] < len(entries):
            count[0] = len(entries)
            return ERROR_INSUFFICIENT_SIZE
        array = cast(samples_out, POINTER(ProcessUtilizationSample))
        for i, (pid, work, stamp) in enumerate(entries):
            array[i].pid = pid
            array[i].timeStamp = stamp
            array[i].smUtil = round(work.sm_now_pct)
            array[i].memUtil = round(work.mem_now_pct)
            array[i].encUtil = 0
            array[i].decUtil = 0
        count[0] = len(entries)
        return SUCCESS

    return get
