"""NvmlSource over the simulated driver: every field as scripted, every fault contained."""

from __future__ import annotations

import pynvml
import pytest

from rigtui.sim.nvml import ERROR_NO_PERMISSION, ERROR_NOT_SUPPORTED, ERROR_UNKNOWN
from rigtui.sim.rig import MIB
from rigtui.telemetry.nvml import NvmlSource, decode_clock_event_reasons


def open_source() -> NvmlSource:
    source = NvmlSource()
    status = source.open()
    assert status.available, status.error
    return source


def test_every_field_is_read_in_our_units(sim, clock):
    clock.set(45)
    source = open_source()
    reading = source.read()[0]
    gpu = sim.rig.gpus[0]
    assert reading.name == "NVIDIA GeForce RTX 4090"
    assert reading.pci_bus_id == "00000000:01:00.0"
    assert reading.utilization_gpu_pct == round(gpu.utilization_gpu_pct)
    assert reading.utilization_memory_pct == round(gpu.utilization_memory_pct)
    assert reading.memory_total_bytes == 24564 * MIB
    assert reading.memory_reserved_bytes == 346 * MIB
    assert reading.memory_used_bytes == sim.rig.vram_used_bytes(0)
    assert reading.temperature_c == round(gpu.temperature_c)
    assert reading.temperature_slowdown_c == 87
    assert reading.temperature_shutdown_c == 90
    assert reading.temperature_max_operating_c == 83
    assert [fan.speed_pct for fan in reading.fans] == [round(p) for p in gpu.fans_pct]
    assert [fan.rpm for fan in reading.fans] == [round(r) for r in gpu.fans_rpm]
    assert reading.power_draw_w == round(gpu.power_average_w * 1000) / 1000
    assert reading.power_limit_w == 450.0
    assert reading.power_default_limit_w == 450.0
    assert reading.energy_total_j == int(gpu.energy_mj) / 1000
    assert reading.pstate == 2
    assert reading.clocks_sm_mhz == round(gpu.sm_clock_mhz)
    assert reading.clocks_sm_max_mhz == 3120
    assert reading.clocks_mem_max_mhz == 10501
    assert reading.clocks_event_reasons == decode_clock_event_reasons(gpu.clocks_event_mask)
    assert (reading.pcie_link_gen, reading.pcie_link_width) == (4, 4)
    assert (reading.pcie_link_gen_max, reading.pcie_link_width_max) == (4, 16)
    assert reading.pcie_rx_bytes_per_s == int(gpu.pcie_rx_bytes_per_s / 1024) * 1024
    runner = next(p for p in sim.rig.processes.values() if "runner" in p.cmdline)
    assert [(p.pid, p.used_memory_bytes, p.kind) for p in reading.processes] == [
        (runner.pid, int(runner.gpu[0].vram_bytes), "C")
    ]
    assert dict(reading.unavailable) == {}


def test_the_power_cap_is_named_while_a_reply_runs_and_idle_when_quiet(sim, clock):
    source = open_source()
    clock.set(45)
    assert "sw_power_cap" in source.read()[0].clocks_event_reasons
    clock.set(290)
    quiet = source.read()[0]
    assert quiet.clocks_event_reasons == ("gpu_idle",)
    assert quiet.pstate == 8
    assert quiet.pcie_link_gen == 1  # links train down at idle; not an alarm


def test_fan_stop_reads_zero_percent_and_zero_rpm(sim, clock):
    clock.set(20)
    reading = open_source().read()[0]
    assert reading.temperature_c < 50
    assert [(fan.speed_pct, fan.rpm) for fan in reading.fans] == [(0, 0), (0, 0)]


@pytest.mark.parametrize(
    ("function", "field"),
    [
        ("nvmlDeviceGetTemperatureV", "temperature_c"),
        ("nvmlDeviceGetPowerUsage", "power_draw_w"),
        ("nvmlDeviceGetPcieThroughput", "pcie_rx_bytes_per_s"),
        ("nvmlDeviceGetUtilizationRates", "utilization_gpu_pct"),
        ("nvmlDeviceGetMemoryInfo_v2", "memory_used_bytes"),
        ("nvmlDeviceGetCurrentClocksEventReasons", "clocks_event_reasons"),
        ("nvmlDeviceGetComputeRunningProcesses_v3", "processes"),
    ],
)
@pytest.mark.parametrize(
    ("error", "words"),
    [(ERROR_NOT_SUPPORTED, "not supported"), (ERROR_NO_PERMISSION, "no permission")],
)
def test_one_failing_field_is_na_with_its_reason_and_the_rest_still_read(
    sim, clock, function, field, error, words
):
    clock.set(45)
    sim.nvml_library.inject(function, error)
    reading = open_source().read()[0]
    assert getattr(reading, field) is None
    assert reading.reason(field) == words
    # Everything else still has a value.
    assert reading.temperature_c is not None or field == "temperature_c"
    assert reading.power_draw_w is not None or field == "power_draw_w"
    assert reading.memory_total_bytes is not None or field == "memory_used_bytes"
    assert reading.clocks_sm_mhz is not None
    assert reading.fans[0].speed_pct is not None


def test_a_field_that_is_not_supported_is_not_asked_for_again(sim, clock):
    sim.nvml_library.inject("nvmlDeviceGetPcieThroughput", ERROR_NOT_SUPPORTED)
    source = open_source()
    source.read()
    calls = sim.nvml_library.calls["nvmlDeviceGetPcieThroughput"]
    source.read()
    source.read()
    assert sim.nvml_library.calls["nvmlDeviceGetPcieThroughput"] == calls
    assert source.read()[0].reason("pcie_rx_bytes_per_s") == "not supported"


def test_a_transient_error_is_retried(sim, clock):
    sim.nvml_library.inject("nvmlDeviceGetTemperatureV", ERROR_UNKNOWN)
    source = open_source()
    assert source.read()[0].reason("temperature_c") == "the driver gave an unknown error"
    sim.nvml_library.clear_injections()
    assert source.read()[0].temperature_c is not None


def test_a_gpu_without_fans_says_no_fan_sensor(sim, clock):
    sim.nvml_library.inject("nvmlDeviceGetNumFans", ERROR_NOT_SUPPORTED)
    reading = open_source().read()[0]
    assert reading.fans == ()
    assert reading.reason("fans") == "no fan sensor (passive cooling)"


def test_a_fan_that_cannot_be_read_is_na_not_zero(sim, clock):
    sim.nvml_library.inject("nvmlDeviceGetFanSpeed_v2", ERROR_NO_PERMISSION)
    reading = open_source().read()[0]
    assert [(fan.speed_pct, fan.reason) for fan in reading.fans] == [
        (None, "no permission"),
        (None, "no permission"),
    ]


def test_a_gpu_lost_while_running_is_marked_and_the_other_keeps_updating(dual, clock):
    clock.set(45)
    source = open_source()
    assert [gpu.lost for gpu in source.read()] == [False, False]
    dual.rig.gpus[1].lost = True
    clock.set(46)
    first, second = source.read()
    assert second.lost and second.name == "NVIDIA GeForce RTX 4090"
    # What was read of it before it went stays: the exporter's labels, an alert's words.
    assert second.pci_bus_id == "00000000:0A:00.0" and second.uuid.startswith("GPU-")
    assert second.temperature_c is None and second.reason("temperature_c") == "GPU lost"
    assert not first.lost and first.temperature_c is not None
    clock.set(47)
    assert source.read()[0].utilization_gpu_pct is not None


def test_a_gpu_lost_before_start_is_still_listed(dual, clock):
    dual.rig.gpus[0].lost = True
    source = open_source()
    first, second = source.read()
    assert first.lost and first.index == 0
    assert not second.lost and second.memory_total_bytes == 24564 * MIB


def test_driver_not_loaded_is_explained(sim):
    sim.nvml_library.init_error = pynvml.NVML_ERROR_DRIVER_NOT_LOADED
    status = NvmlSource().open()
    assert not status.available
    assert status.error_code == pynvml.NVML_ERROR_DRIVER_NOT_LOADED
    assert "driver is not loaded" in status.error


def test_no_driver_library_is_explained(monkeypatch):
    """A machine with no NVIDIA driver: pynvml cannot load libnvidia-ml.so.1."""

    def missing(name, *args, **kwargs):
        raise OSError(f"{name}: cannot open shared object file")

    monkeypatch.setattr(pynvml, "nvmlLib", None)
    monkeypatch.setattr(pynvml, "CDLL", missing)
    source = NvmlSource()
    status = source.open()
    assert not status.available
    assert status.error_code == pynvml.NVML_ERROR_LIBRARY_NOT_FOUND
    assert "libnvidia-ml.so.1" in status.error
    assert source.read() == ()


@pytest.mark.parametrize("driver", ["r580", "r550", "r535-early", "r470", "r418"])
def test_each_driver_generation_gives_the_same_figures(make_sim, clock, driver):
    environment = make_sim(driver=driver)
    clock.set(45)
    environment.rig.spawn("python3", ("python3", "embed.py"), pid=50001)
    environment.rig.gpu_allocate(50001, 0, 1.5e9, fill_rate_bytes_per_s=1e12)
    clock.set(46)
    reading = open_source().read()[0]
    runner = next(p for p in environment.rig.processes.values() if "runner" in p.cmdline)
    # The process list survives every struct layout, the early-R535 trap included.
    assert [(p.pid, p.used_memory_bytes) for p in reading.processes] == [
        (runner.pid, int(runner.gpu[0].vram_bytes)),
        (50001, int(1.5e9)),
    ]
    assert reading.temperature_c == round(environment.rig.gpus[0].temperature_c)
    assert reading.clocks_event_reasons is not None
    assert len(reading.fans) == 2 if driver != "r418" else len(reading.fans) == 1
    if driver in ("r470", "r418"):
        # Without the _v2 memory call, "used" includes the reserved memory (R510 semantics).
        assert reading.memory_reserved_bytes is None
        assert reading.reason("memory_reserved_bytes") == "needs a newer driver"
        assert reading.memory_used_bytes == environment.rig.vram_used_bytes(0) + 346 * MIB
    else:
        assert reading.memory_used_bytes == environment.rig.vram_used_bytes(0)


def test_clock_event_reasons_are_decoded_into_nvidia_smi_names():
    assert decode_clock_event_reasons(0) == ()
    assert decode_clock_event_reasons(0x1) == ("gpu_idle",)
    assert decode_clock_event_reasons(0x4 | 0x20) == ("sw_power_cap", "sw_thermal_slowdown")
    assert decode_clock_event_reasons(0x8 | 0x40 | 0x80) == (
        "hw_slowdown",
        "hw_thermal_slowdown",
        "hw_power_brake_slowdown",
    )
    assert decode_clock_event_reasons(0x1000) == ("other_0x1000",)


ERROR_CODES = sorted(
    (value, name)
    for name, value in vars(pynvml).items()
    if name.startswith("NVML_ERROR_") and isinstance(value, int)
)


@pytest.mark.parametrize(("code", "name"), ERROR_CODES, ids=[name for _, name in ERROR_CODES])
def test_every_nvml_return_code_is_a_reason_in_words(code, name):
    from rigtui.telemetry.nvml import field_error_words, init_error_words

    words = field_error_words(pynvml.NVMLError(code))
    assert "NVML error" not in words and not any(char.isdigit() for char in words), words
    assert len(words.split()) >= 2 or words in {"GPU lost"}, words
    opening = init_error_words(pynvml.NVMLError(code))
    assert not any(char.isdigit() for char in opening.replace("libnvidia-ml.so.1", "")), opening


def test_an_unusual_error_on_a_field_reads_in_words(sim, clock):
    from rigtui.telemetry.export import gpu_to_dict

    sim.nvml_library.inject("nvmlDeviceGetTemperatureV", 20)  # NVML_ERROR_MEMORY
    reading = open_source().read()[0]
    assert reading.reason("temperature_c") == "the driver ran out of memory"
    assert gpu_to_dict(reading)["unavailable"]["temperature_c"] == "the driver ran out of memory"


def test_fan_figures_that_are_null_in_the_json_say_why(make_sim, clock):
    from rigtui.telemetry.export import gpu_to_dict

    old = make_sim(driver="r470")  # no per-fan RPM before R550
    exported = gpu_to_dict(open_source().read()[0])
    assert exported["fan_speeds_rpm"] == [None, None]
    assert exported["unavailable"]["fan_speeds_rpm"] == "needs a newer driver"
    old.uninstall()

    current = make_sim()
    current.nvml_library.inject("nvmlDeviceGetFanSpeed_v2", ERROR_NO_PERMISSION)
    exported = gpu_to_dict(open_source().read()[0])
    assert exported["fan_speeds_pct"] == [None, None]
    assert exported["unavailable"]["fan_speeds_pct"] == "no permission"
    assert exported["unavailable"]["fan_speeds_rpm"] == "no permission"


# --- per-process utilization -----------------------------------------------------------------


def _runner(environment):
    return next(p for p in environment.rig.processes.values() if "runner" in p.cmdline)


def test_each_gpu_process_has_its_sm_and_memory_bandwidth_share(sim, clock):
    clock.set(45)
    source = open_source()
    process = source.read()[0].processes[0]
    work = _runner(sim).gpu[0]
    assert process.pid == _runner(sim).pid
    assert (process.sm_util_pct, process.memory_util_pct) == (
        round(work.sm_now_pct),
        round(work.mem_now_pct),
    )
    assert process.sm_util_pct > 50 and process.utilization_reason is None
    assert (process.encoder_util_pct, process.decoder_util_pct) == (0, 0)


def test_no_sample_since_the_last_read_means_idle_not_unknown(sim, clock):
    """NOT_FOUND after samples were read: nothing used the GPU since, so 0 %."""
    clock.set(5)  # the story is idle: only this process on the GPU
    sim.rig.list_real_process(50001, "embed", 0, sm_util_pct=40.0, mem_util_pct=10.0)
    clock.set(6)
    source = open_source()
    (busy,) = source.read()[0].processes
    assert (busy.sm_util_pct, busy.memory_util_pct) == (40, 10)
    assert source.read()[0].processes[0].sm_util_pct == 40  # still busy: a newer sample
    sim.rig.gpu_activity(50001, 0, sm_util_pct=0.0)
    clock.set(7)
    (idle,) = source.read()[0].processes
    assert (idle.sm_util_pct, idle.memory_util_pct, idle.utilization_reason) == (0, 0, None)


def test_a_process_without_any_sample_yet_is_na_with_that_reason(sim, clock):
    """The driver answers NOT_FOUND before it has any sample: not 0 %, "no samples yet"."""
    clock.set(5)  # before the story's model loads: nothing else on the GPU
    sim.rig.list_real_process(50001, "embed", 0)  # holds memory, has not computed yet
    clock.set(6)
    source = open_source()
    (process,) = source.read()[0].processes
    assert process.pid == 50001 and process.used_memory_bytes == 1024 * MIB
    assert (process.sm_util_pct, process.utilization_reason) == (None, "no samples yet")


@pytest.mark.parametrize(
    ("driver", "error", "reason"),
    [
        ("r418", None, "not supported by this GPU or driver"),
        ("r580", ERROR_NO_PERMISSION, "no permission"),
        ("r580", pynvml.NVML_ERROR_FUNCTION_NOT_FOUND, "needs a newer driver"),
    ],
)
def test_per_process_utilization_unavailable_is_na_with_the_reason(
    make_sim, clock, driver, error, reason
):
    environment = make_sim(driver=driver)
    if error is not None:
        environment.nvml_library.inject("nvmlDeviceGetProcessUtilization", error)
    clock.set(45)
    source = open_source()
    reading = source.read()[0]
    (process,) = reading.processes
    assert process.sm_util_pct is None and process.memory_util_pct is None
    assert process.utilization_reason == reason
    assert process.used_memory_bytes == int(_runner(environment).gpu[0].vram_bytes)  # the rest read
    # Not supported or not permitted: not asked again.
    calls = environment.nvml_library.calls.get("nvmlDeviceGetProcessUtilization", 0)
    source.read()
    assert environment.nvml_library.calls.get("nvmlDeviceGetProcessUtilization", 0) == calls


def test_a_gpu_lost_during_the_utilization_call_is_marked_lost(sim, clock):
    clock.set(45)
    source = open_source()
    sim.nvml_library.inject("nvmlDeviceGetProcessUtilization", pynvml.NVML_ERROR_GPU_IS_LOST)
    assert source.read()[0].lost
