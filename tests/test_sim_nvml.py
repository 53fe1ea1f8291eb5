"""The simulated NVML library, read through the real pynvml bindings, as a driver would answer."""

from __future__ import annotations

import ctypes

import pynvml
import pytest

from rigtui.sim.nvml import ERROR_NO_PERMISSION, ERROR_NOT_SUPPORTED
from rigtui.sim.rig import MIB


def test_identity_and_static_figures_read_back_in_nvml_units(sim, clock):
    clock.set(45)
    pynvml.nvmlInit()
    assert pynvml.nvmlDeviceGetCount() == 1
    assert pynvml.nvmlSystemGetDriverVersion() == "580.95.05"
    assert pynvml.nvmlSystemGetCudaDriverVersion() == 13000
    handle = pynvml.nvmlDeviceGetHandleByIndex(0)
    assert pynvml.nvmlDeviceGetName(handle) == "NVIDIA GeForce RTX 4090"
    assert pynvml.nvmlDeviceGetUUID(handle).startswith("GPU-")
    assert pynvml.nvmlDeviceGetPciInfo(handle).busId == "00000000:01:00.0"
    # Milliwatts, as NVML reports them.
    assert pynvml.nvmlDeviceGetEnforcedPowerLimit(handle) == 450_000
    assert pynvml.nvmlDeviceGetPowerManagementLimitConstraints(handle) == [150_000, 600_000]
    assert (
        pynvml.nvmlDeviceGetTemperatureThreshold(handle, pynvml.NVML_TEMPERATURE_THRESHOLD_SLOWDOWN)
        == 87
    )
    assert pynvml.nvmlDeviceGetMaxPcieLinkWidth(handle) == 16
    assert pynvml.nvmlDeviceGetCurrPcieLinkWidth(handle) == 4
    assert pynvml.nvmlDeviceGetNumFans(handle) == 2
    pynvml.nvmlShutdown()


def test_dynamic_figures_follow_the_rig(sim, clock):
    clock.set(45)
    pynvml.nvmlInit()
    handle = pynvml.nvmlDeviceGetHandleByIndex(0)
    gpu = sim.rig.gpus[0]
    utilization = pynvml.nvmlDeviceGetUtilizationRates(handle)
    assert utilization.gpu == round(gpu.utilization_gpu_pct)
    assert utilization.gpu >= 90  # a reply is being generated at 45 s
    assert pynvml.nvmlDeviceGetPowerUsage(handle) == round(gpu.power_average_w * 1000)
    assert pynvml.nvmlDeviceGetTemperature(handle, pynvml.NVML_TEMPERATURE_GPU) == round(
        gpu.temperature_c
    )
    assert pynvml.nvmlDeviceGetTemperatureV(handle, pynvml.NVML_TEMPERATURE_GPU) == round(
        gpu.temperature_c
    )
    assert pynvml.nvmlDeviceGetFanSpeed_v2(handle, 1) == round(gpu.fans_pct[1])
    assert pynvml.nvmlDeviceGetFanSpeedRPM(handle) == round(gpu.fans_rpm[0])
    assert pynvml.nvmlDeviceGetTotalEnergyConsumption(handle) == int(gpu.energy_mj)
    assert pynvml.nvmlDeviceGetCurrentClocksEventReasons(handle) == gpu.clocks_event_mask
    assert pynvml.nvmlDeviceGetPerformanceState(handle) == 2
    # KB/s, as NVML reports PCIe throughput.
    assert pynvml.nvmlDeviceGetPcieThroughput(handle, pynvml.NVML_PCIE_UTIL_RX_BYTES) == int(
        gpu.pcie_rx_bytes_per_s / 1024
    )
    values = pynvml.nvmlDeviceGetFieldValues(
        handle, [pynvml.NVML_FI_DEV_POWER_INSTANT, pynvml.NVML_FI_DEV_TOTAL_ENERGY_CONSUMPTION]
    )
    assert values[0].nvmlReturn == pynvml.NVML_SUCCESS
    assert values[0].value.uiVal == round(gpu.power_instant_w * 1000)
    assert values[1].value.ullVal == int(gpu.energy_mj)
    pynvml.nvmlShutdown()


def test_memory_v2_excludes_reserved_and_v1_counts_it_as_used(sim, clock):
    clock.set(45)
    pynvml.nvmlInit()
    handle = pynvml.nvmlDeviceGetHandleByIndex(0)
    v1 = pynvml.nvmlDeviceGetMemoryInfo(handle)
    v2 = pynvml.nvmlDeviceGetMemoryInfo(handle, version=pynvml.nvmlMemory_v2)
    assert v2.total == v1.total == 24564 * MIB
    assert v2.reserved == 346 * MIB
    assert v1.used == v2.used + v2.reserved
    assert v2.used == sim.rig.vram_used_bytes(0)
    assert v2.free + v2.used + v2.reserved == v2.total
    pynvml.nvmlShutdown()


def test_processes_list_the_ollama_runner_with_its_vram(sim, clock):
    clock.set(45)
    sim.rig.advance()
    pynvml.nvmlInit()
    handle = pynvml.nvmlDeviceGetHandleByIndex(0)
    processes = pynvml.nvmlDeviceGetComputeRunningProcesses(handle)
    assert len(processes) == 1
    runner = next(p for p in sim.rig.processes.values() if "runner" in p.cmdline)
    assert processes[0].pid == runner.pid
    assert processes[0].usedGpuMemory == int(runner.gpu[0].vram_bytes)
    assert pynvml.nvmlDeviceGetGraphicsRunningProcesses(handle) == []
    pynvml.nvmlShutdown()


def test_errors_come_back_as_the_bindings_exception_classes(sim):
    sim.nvml_library.inject("nvmlDeviceGetFanSpeed_v2", ERROR_NOT_SUPPORTED)
    sim.nvml_library.inject("nvmlDeviceGetPowerUsage", ERROR_NO_PERMISSION, gpu_index=0)
    pynvml.nvmlInit()
    handle = pynvml.nvmlDeviceGetHandleByIndex(0)
    with pytest.raises(pynvml.NVMLError_NotSupported):
        pynvml.nvmlDeviceGetFanSpeed_v2(handle, 0)
    with pytest.raises(pynvml.NVMLError_NoPermission):
        pynvml.nvmlDeviceGetPowerUsage(handle)
    assert str(pynvml.NVMLError(ERROR_NO_PERMISSION)) == "Insufficient Permissions"
    pynvml.nvmlShutdown()


def test_a_symbol_the_driver_lacks_is_function_not_found(make_sim):
    make_sim(driver="r470")
    pynvml.nvmlInit()
    handle = pynvml.nvmlDeviceGetHandleByIndex(0)
    with pytest.raises(pynvml.NVMLError_FunctionNotFound):
        pynvml.nvmlDeviceGetMemoryInfo(handle, version=pynvml.nvmlMemory_v2)
    with pytest.raises(pynvml.NVMLError_FunctionNotFound):
        pynvml.nvmlDeviceGetCurrentClocksEventReasons(handle)
    assert pynvml.nvmlDeviceGetCurrentClocksThrottleReasons(handle) >= 0
    pynvml.nvmlShutdown()


def test_early_r535_fills_a_larger_process_struct_than_the_bindings_expect(make_sim, clock):
    """The trap nvitop #75 describes: reading with the bindings' struct scrambles the PIDs."""
    environment = make_sim(driver="r535-early")
    clock.set(45)
    environment.rig.advance()
    pynvml.nvmlInit()
    handle = pynvml.nvmlDeviceGetHandleByIndex(0)
    runner = next(p for p in environment.rig.processes.values() if "runner" in p.cmdline)
    # One process: the first entry is still right; a second one would be read at the wrong offset.
    environment.rig.spawn("python3", ("python3", "embed.py"), pid=50001)
    environment.rig.gpu_allocate(50001, 0, 1.5e9, fill_rate_bytes_per_s=1e12)
    clock.set(46)
    processes = pynvml.nvmlDeviceGetComputeRunningProcesses(handle)
    pids = [process.pid for process in processes]
    assert pids[0] == runner.pid
    assert pids[1] != 50001, "the bindings read the second entry from the wrong offset"
    pynvml.nvmlShutdown()


def test_a_lost_gpu_answers_gpu_is_lost_and_the_other_keeps_working(dual, clock):
    clock.set(45)
    pynvml.nvmlInit()
    lost = pynvml.nvmlDeviceGetHandleByIndex(1)
    dual.rig.gpus[1].lost = True
    with pytest.raises(pynvml.NVMLError_GpuIsLost):
        pynvml.nvmlDeviceGetTemperature(lost, pynvml.NVML_TEMPERATURE_GPU)
    with pytest.raises(pynvml.NVMLError_GpuIsLost):
        pynvml.nvmlDeviceGetHandleByIndex(1)
    healthy = pynvml.nvmlDeviceGetHandleByIndex(0)
    assert pynvml.nvmlDeviceGetTemperature(healthy, pynvml.NVML_TEMPERATURE_GPU) > 0
    pynvml.nvmlShutdown()


def test_driver_not_loaded_fails_init(sim):
    sim.nvml_library.init_error = pynvml.NVML_ERROR_DRIVER_NOT_LOADED
    with pytest.raises(pynvml.NVMLError_DriverNotLoaded):
        pynvml.nvmlInit()


def test_versioned_structs_reject_a_wrong_version(sim):
    pynvml.nvmlInit()
    handle = pynvml.nvmlDeviceGetHandleByIndex(0)
    memory = pynvml.c_nvmlMemory_v2_t()
    memory.version = 1
    function = pynvml._nvmlGetFunctionPointer("nvmlDeviceGetMemoryInfo_v2")
    assert function(handle, ctypes.byref(memory)) == pynvml.NVML_ERROR_ARGUMENT_VERSION_MISMATCH
    pynvml.nvmlShutdown()


def test_the_same_moment_reads_the_same_whatever_was_read_before(make_sim, clock):
    first = make_sim()
    clock.set(140)
    first.rig.advance()
    direct = (first.rig.gpus[0].temperature_c, first.rig.gpus[0].power_average_w)
    first.uninstall()
    clock.set(0)
    second = make_sim()
    for t in range(0, 141, 7):  # read often on the way: it must not change the outcome
        clock.set(t)
        second.rig.advance()
    clock.set(140)
    second.rig.advance()
    assert (second.rig.gpus[0].temperature_c, second.rig.gpus[0].power_average_w) == direct


# --- per-process utilization (nvmlDeviceGetProcessUtilization) ------------------------------


def _process_utilization(handle, samples, count: int, last_seen_us: int):
    """The C call itself, for the size-query protocol the bindings hide."""
    function = pynvml._nvmlGetFunctionPointer("nvmlDeviceGetProcessUtilization")
    samples_count = ctypes.c_uint(count)
    result = function(
        handle, samples, ctypes.byref(samples_count), ctypes.c_ulonglong(last_seen_us)
    )
    return result, samples_count.value


def test_process_utilization_reads_each_process_share_through_the_bindings(sim, clock):
    clock.set(45)  # a reply is being generated
    sim.rig.list_real_process(50001, "embed", 0, vram_bytes=512 * MIB, sm_util_pct=10.0)
    clock.set(46)
    pynvml.nvmlInit()
    handle = pynvml.nvmlDeviceGetHandleByIndex(0)
    samples = pynvml.nvmlDeviceGetProcessUtilization(handle, 0)
    by_pid = {sample.pid: sample for sample in samples}
    runner = next(p for p in sim.rig.processes.values() if "runner" in p.cmdline)
    work = runner.gpu[0]
    assert set(by_pid) == {runner.pid, 50001}
    assert by_pid[runner.pid].smUtil == round(work.sm_now_pct) and work.sm_now_pct > 50
    assert by_pid[runner.pid].memUtil == round(work.mem_now_pct)
    assert by_pid[50001].smUtil == round(sim.rig.processes[50001].gpu[0].sm_now_pct) > 0
    # Together they never exceed the GPU: over 100 % the SM is shared in proportion.
    assert sum(sample.smUtil for sample in samples) <= 101
    # CPU time in microseconds, the rig's clock: what the next call passes back.
    assert by_pid[runner.pid].timeStamp == int(work.sampled_at_s * 1e6)
    assert (by_pid[runner.pid].encUtil, by_pid[runner.pid].decUtil) == (0, 0)
    pynvml.nvmlShutdown()


def test_process_utilization_follows_the_size_query_protocol(sim, clock):
    clock.set(45)
    pynvml.nvmlInit()
    handle = pynvml.nvmlDeviceGetHandleByIndex(0)
    # NULL buffer: the count needed, and INSUFFICIENT_SIZE.
    assert _process_utilization(handle, None, 0, 0) == (pynvml.NVML_ERROR_INSUFFICIENT_SIZE, 1)
    # A buffer sized for none: the same.
    array = (pynvml.c_nvmlProcessUtilizationSample_t * 1)()
    assert _process_utilization(handle, array, 0, 0) == (pynvml.NVML_ERROR_INSUFFICIENT_SIZE, 1)
    # Sized right: filled, and the count written back.
    assert _process_utilization(handle, array, 1, 0) == (pynvml.NVML_SUCCESS, 1)
    assert array[0].pid == next(p.pid for p in sim.rig.processes.values() if p.gpu)
    # Time moves on, the GPU keeps working: a newer sample, stamped later.
    clock.set(46)
    later = pynvml.nvmlDeviceGetProcessUtilization(handle, array[0].timeStamp)
    assert [sample.timeStamp > array[0].timeStamp for sample in later] == [True]
    pynvml.nvmlShutdown()


def test_process_utilization_after_the_work_stops_is_not_found(sim, clock):
    clock.set(5)  # the story is idle: only this process on the GPU
    sim.rig.list_real_process(50001, "embed", 0, sm_util_pct=40.0)
    clock.set(6)
    pynvml.nvmlInit()
    handle = pynvml.nvmlDeviceGetHandleByIndex(0)
    (busy,) = pynvml.nvmlDeviceGetProcessUtilization(handle, 0)
    assert (busy.pid, busy.smUtil) == (50001, 40)
    sim.rig.gpu_activity(50001, 0, sm_util_pct=0.0)
    clock.set(7)
    # Its last sample is older than the one already read: NOT_FOUND, count 0.
    assert _process_utilization(handle, None, 0, busy.timeStamp) == (
        pynvml.NVML_ERROR_NOT_FOUND,
        0,
    )
    with pytest.raises(pynvml.NVMLError_NotFound):
        pynvml.nvmlDeviceGetProcessUtilization(handle, busy.timeStamp)
    pynvml.nvmlShutdown()


def test_process_utilization_on_an_idle_gpu_is_not_found(sim, clock):
    clock.set(5)  # the story begins idle: no process on the GPU
    pynvml.nvmlInit()
    handle = pynvml.nvmlDeviceGetHandleByIndex(0)
    with pytest.raises(pynvml.NVMLError_NotFound):
        pynvml.nvmlDeviceGetProcessUtilization(handle, 0)
    pynvml.nvmlShutdown()


def test_process_utilization_is_not_supported_on_the_oldest_driver(make_sim, clock):
    make_sim(driver="r418")
    clock.set(45)
    pynvml.nvmlInit()
    handle = pynvml.nvmlDeviceGetHandleByIndex(0)
    with pytest.raises(pynvml.NVMLError_NotSupported):
        pynvml.nvmlDeviceGetProcessUtilization(handle, 0)
    pynvml.nvmlShutdown()
