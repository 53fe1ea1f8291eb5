"""Insight arithmetic: energy, spikes, the PCIe link, "why is it slow", and "will it fit"."""

from __future__ import annotations

import dataclasses

import pytest

from rigtui.insight.diagnosis import BAD, NOTE, OK, WARN, why_slow
from rigtui.insight.fit import (
    MINIMUM_PER_GPU_BYTES,
    ModelShape,
    estimate,
    kv_cache_bytes,
    normalise_quantization,
    ollama_default_num_ctx,
    usable_vram,
)
from rigtui.insight.pcie import LoadMonitor, link_bytes_per_s, link_state, link_words
from rigtui.insight.rig import RigInsight
from rigtui.llm.ollama import RunningModel
from rigtui.llm.placement import processor_split
from rigtui.telemetry.model import (
    CpuReading,
    GpuProcess,
    GpuReading,
    MemoryReading,
    NvmlStatus,
    RigSnapshot,
)
from rigtui.telemetry.power import (
    COUNTER_WRAP_J,
    PowerSample,
    PowerWatch,
    counter_delta_j,
    energy_between,
    integrate_j,
    rests,
)

GIB = 1024**3
MIB = 1024**2


# --- energy ---------------------------------------------------------------------------------


def trace(watts, *, start=0.0, step=1.0, energy_start=None, instant=False):
    samples = []
    energy = energy_start
    for i, w in enumerate(watts):
        if energy is not None and i:
            energy += (w + watts[i - 1]) / 2 * step
        samples.append(PowerSample(start + i * step, w, energy, instant))
    return samples


def test_energy_from_the_counter_is_last_minus_first():
    samples = trace([300.0] * 11, energy_start=1_000_000.0)  # 10 s at 300 W
    reading = energy_between(samples, 0.0, 10.0)
    assert reading.method == "counter"
    assert reading.joules == pytest.approx(3000.0)
    assert reading.average_w == pytest.approx(300.0)
    assert reading.per_token(1500) == pytest.approx(2.0)
    assert reading.tokens_per_joule(1500) == pytest.approx(0.5)


def test_energy_is_integrated_when_there_is_no_counter():
    samples = trace([100.0, 200.0, 300.0])  # trapezoids: (100+200)/2 + (200+300)/2 = 400 J
    reading = energy_between(samples, 0.0, 2.0)
    assert reading.method == "integrated"
    assert reading.joules == pytest.approx(400.0)
    assert integrate_j(samples) == pytest.approx(400.0)
    assert reading.peak_w == 300.0 and reading.peak_is_average


def test_a_counter_reset_is_bridged_by_integration():
    samples = [
        PowerSample(0.0, 100.0, 5_000.0, True),
        PowerSample(1.0, 100.0, 5_100.0, True),
        PowerSample(2.0, 100.0, 20.0, True),  # driver reloaded: the counter starts over
        PowerSample(3.0, 100.0, 120.0, True),
    ]
    reading = energy_between(samples, 0.0, 3.0)
    assert reading.joules == pytest.approx(300.0)  # 100 + 100 (integrated) + 100
    assert "reset" in reading.method


def test_a_counter_wrap_is_counted_through():
    # Near 2**64 mJ a double holds joules only to a few joules: enough for a counter that
    # would take half a billion years to wrap at 1 kW.
    assert counter_delta_j(COUNTER_WRAP_J - 1.0, 4.0) == pytest.approx(5.0, abs=4.0)
    assert counter_delta_j(10.0, 4.0) is None  # a reset, not a wrap
    assert counter_delta_j(4.0, 10.0) == 6.0


def test_two_gpus_add_up():
    watch = PowerWatch()
    for t in range(11):
        watch.add(
            {
                0: PowerSample(float(t), 200.0, 1000.0 + 200.0 * t, True),
                1: PowerSample(float(t), 100.0, 5000.0 + 100.0 * t, True),
            }
        )
    reading = watch.energy([0, 1], 0.0, 10.0)
    assert reading.joules == pytest.approx(3000.0)
    assert reading.peak_w == pytest.approx(300.0)


# --- power spikes ---------------------------------------------------------------------------


def scripted_trace(watch: PowerWatch) -> None:
    """10 Hz for 70 s at 440 W, with one 150 ms spike to 688 W at t = 5 s."""
    for tenth in range(700):
        t = tenth / 10
        watts = 688.0 if 5.0 <= t < 5.15 else 440.0
        watch.add({0: PowerSample(t, watts, None, True)})


def test_a_spike_above_the_budget_is_caught_and_remembered_for_a_minute():
    watch = PowerWatch(budget_w=600.0)
    scripted_trace(watch)
    spike = watch.last_over_budget(since=0.0)
    assert spike is not None and (spike.watts, spike.t) == (688.0, 5.0)
    assert watch.last_over_budget(since=10.0) is None
    assert watch.peaks(0, now=5.5).peak_1s_w == 688.0
    assert watch.peaks(0, now=7.0).peak_1s_w == 440.0
    assert watch.peaks(0, now=60.0).peak_60s_w == 688.0
    assert watch.peaks(0, now=69.9).peak_60s_w == 440.0
    assert watch.total_peak(since=0.0) == 688.0


def test_a_peak_is_never_below_the_one_second_average_beside_it():
    """The samples, ten a second, missed what the average took in: 400 W on average over a
    second whose samples read 392 W. The peaks take the averages in too, for a minute."""
    watch = PowerWatch()
    for tenth in range(20):
        watch.add({0: PowerSample(tenth / 10, 392.0, None, True)})
    watch.add_averages(1.0, {0: 400.0, 1: None})
    peaks = watch.peaks(0, now=1.95)
    assert (peaks.latest_w, peaks.peak_1s_w, peaks.peak_60s_w) == (392.0, 400.0, 400.0)
    assert watch.peaks(0, now=2.5).peak_1s_w == 392.0  # the average was over a second ago
    assert watch.peaks(0, now=60.9).peak_60s_w == 400.0
    assert watch.peaks(0, now=61.5).peak_60s_w == 392.0  # the average has aged out
    assert watch.peaks(0, now=62.0).peak_60s_w is None  # and then the samples


def test_without_a_budget_nothing_is_over_it():
    watch = PowerWatch()
    scripted_trace(watch)
    assert watch.last_over_budget(since=0.0) is None


def test_the_instant_field_catches_spikes_the_one_second_average_hides(sim, clock):
    """On the simulated rig: a 688 W transient at 60.1 s of the story."""
    sampler = sim.sampler()
    sampler.open()
    assert sampler.fast_power
    for tenth in range(595, 625):
        clock.set(tenth / 10)
        sampler.sample_power()
    snapshot = sampler.sample()
    gpu = snapshot.gpus[0]
    assert gpu.power_peaks_instant
    assert gpu.power_peak_60s_w > 650  # the spike
    assert gpu.power_draw_w < 550  # the 1 s average that NVML's power reading gives


def test_an_old_driver_says_peaks_are_one_second_averages(make_sim, clock):
    sampler = make_sim(driver="r470").sampler()
    sampler.open()
    assert not sampler.fast_power
    clock.set(45)
    gpu = sampler.sample().gpus[0]
    assert not gpu.power_peaks_instant and gpu.power_instant_w is None
    assert gpu.power_peak_60s_w == gpu.power_draw_w


# --- PCIe -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("gen", "width", "gb_per_s"),
    [(1, 16, 4.0), (2, 16, 8.0), (3, 4, 3.94), (4, 4, 7.88), (4, 16, 31.51), (5, 16, 63.02)],
)
def test_link_bandwidth_table(gen, width, gb_per_s):
    assert link_bytes_per_s(gen, width) / 1e9 == pytest.approx(gb_per_s, abs=0.01)


def test_link_words():
    assert link_words(4, 4) == "Gen4 x4 (7.9 GB/s)"
    assert link_words(3, 4) == "Gen3 x4 (3.9 GB/s)"
    assert link_words(None, 4) == "Gen? x4"


def gpu(**fields) -> GpuReading:
    base = GpuReading(
        index=0,
        name="Test",
        utilization_gpu_pct=0,
        temperature_c=45,
        temperature_slowdown_c=87,
        power_draw_w=20.0,
        power_limit_w=450.0,
        clocks_event_reasons=("gpu_idle",),
        pcie_link_gen=4,
        pcie_link_gen_max=4,
        pcie_link_width=4,
        pcie_link_width_max=16,
    )
    return dataclasses.replace(base, **fields)


def test_an_idle_downshift_is_not_a_fault():
    idle = gpu(pcie_link_gen=1)
    state = link_state(idle)
    assert not state.gen_below_max and not state.width_below_max
    assert state.idle_downshift
    assert state.bytes_per_s == link_bytes_per_s(1, 4) == 1e9
    assert why_slow(idle).words == "idle"
    assert not link_state(gpu(pcie_link_gen=4)).idle_downshift  # at its top generation


def test_fan_stop_is_told_apart_from_fans_that_should_turn():
    from rigtui.insight.fans import fan_check
    from rigtui.telemetry.model import FanReading

    cool = fan_check(gpu(temperature_c=41, fans=(FanReading(0, 0, 0), FanReading(1, 0, 0))))
    assert cool.stopped and not cool.stopped_while_hot and not cool.not_spinning
    hot = fan_check(gpu(temperature_c=72, fans=(FanReading(0, 0, 0),)))
    assert hot.stopped_while_hot
    driven = (FanReading(0, 98, 0), FanReading(1, 100, 2990))
    broken = fan_check(gpu(temperature_c=80, fans=driven))
    assert broken.not_spinning == (driven[0],) and not broken.stopped
    assert fan_check(gpu(fans=())) is None


def test_a_link_trained_low_under_load_is_flagged():
    busy = gpu(utilization_gpu_pct=95, clocks_event_reasons=(), pcie_link_gen=2)
    state = link_state(busy)
    assert state.gen_below_max
    assert state.words == "PCIe trained at Gen2 x4 under load: check the cable, riser or BIOS"
    diagnosis = why_slow(busy)
    assert diagnosis.severity == WARN and diagnosis.words == state.words


def test_an_x4_dock_under_load_is_noted_not_alarmed():
    busy = gpu(utilization_gpu_pct=95, clocks_event_reasons=(), pcie_link_gen=4)
    state = link_state(busy)
    assert state.width_below_max and not state.gen_below_max
    assert why_slow(busy).severity == OK


def test_a_model_load_is_measured_against_the_link():
    monitor = LoadMonitor()
    link = {"pcie_link_gen": 4, "pcie_link_width": 4}
    for t, used, rx in (
        (0, 1 * GIB, 0),
        (1, 1 * GIB, 0),
        (2, 6 * GIB, 5.3e9),
        (3, 11 * GIB, 5.3e9),
        (4, 11 * GIB, 0),
        (5, 11 * GIB, 0),
    ):
        monitor.update(float(t), gpu(memory_used_bytes=used, pcie_rx_bytes_per_s=rx, **link))
    load = monitor.last
    assert monitor.current is None and load is not None
    assert load.bytes_loaded == 10 * GIB
    assert load.seconds == 2.0  # from the sample before the first growth to the last growth
    assert load.rate_bytes_per_s == pytest.approx(5 * GIB)
    assert load.link_share == pytest.approx(5 * GIB / 7.877e9, rel=0.01)
    assert load.rx_bytes_per_s == pytest.approx(5.3e9)
    assert load.words().startswith("loaded 10.7 GB at 5.4 GB/s (68% of Gen4 x4 (7.9 GB/s))")


def test_a_reading_of_the_same_moment_does_not_end_a_load():
    monitor = LoadMonitor()
    monitor.update(0.0, gpu(memory_used_bytes=1 * GIB))
    monitor.update(1.0, gpu(memory_used_bytes=6 * GIB))
    monitor.update(1.0, gpu(memory_used_bytes=6 * GIB))  # the same instant read again
    assert monitor.current is not None and monitor.last is None
    monitor.update(2.0, gpu(memory_used_bytes=6 * GIB))  # time passed, nothing grew: it ended
    assert monitor.current is None and monitor.last.bytes_loaded == 5 * GIB


def _rig(taken_at: float, used_bytes: int, *, runner: bool = True) -> RigSnapshot:
    processes = (GpuProcess(4242, "ollama", used_bytes),) if runner else ()
    reading = gpu(
        memory_used_bytes=used_bytes,
        utilization_gpu_pct=18,
        clocks_event_reasons=(),
        processes=processes,
    )
    return RigSnapshot(
        taken_at=taken_at,
        hostname="rig",
        nvml=NvmlStatus(available=True),
        gpus=(reading,),
        cpu=CpuReading(percent=90.0, per_core_pct=(90.0, 90.0)),
        memory=MemoryReading(60 * GIB, 64 * GIB, 4 * GIB, 0, 0),
    )


def test_a_split_reported_after_the_snapshot_is_assessed_without_counting_the_snapshot_twice():
    insight = RigInsight()
    insight.update(_rig(0.0, 1 * GIB))
    loading = _rig(1.0, 23 * GIB)
    before = insight.update(loading)  # Ollama has not reported the model yet
    assert before[0].model_cpu_share is None
    assert before[0].loading
    split = RunningModel("llama3.3:70b", 44 * GIB, 22 * GIB, 4096, None)
    after = insight.assess(loading, [split])
    assert after[0].model_cpu_share == pytest.approx(0.5)
    # Still arriving: the split binds nothing yet, so the card says it loads.
    assert after[0].diagnosis.words.startswith("loading a model: 23.6 GB so far")
    assert why_slow(loading.gpus[0], 0.5).words.startswith("model 50% on CPU")
    # The load is still the one seen once: one snapshot of growth, not two.
    assert after[0].load is before[0].load
    assert after[0].load.bytes_loaded == 22 * GIB


def test_the_first_sample_of_a_load_is_a_load_not_a_model_on_the_cpu(sim):
    """The demo's opening: the 8B model starts loading at 330 s. The first sample after the start
    sees only the new runner's first allocation (0.2 GiB, under the growth that marks a load),
    while Ollama already lists all 5.4 GiB: that sample must say "loading", not "the model may
    be running on the CPU". The 70B load at 401 s starts the same way."""
    from rigtui.llm.placement import cross_check

    insight = RigInsight()
    for snapshot in sim.story_so_far(325.0, 1.0, 600.0):
        insight.update(snapshot)
    sampler = sim.sampler()
    sampler.open()
    said = {}
    for second in [*range(326, 336), *range(399, 412)]:
        sim.clock.set(float(second))  # the story's own clock, from where the story so far left it
        snapshot = sampler.sample()
        running = [
            RunningModel(model.name, model.size_bytes, model.size_vram_bytes, model.num_ctx, None)
            for model in sim.ollama.loaded()
        ]
        insights = insight.update(snapshot, running)
        loading = any(one.loading for one in insights.values())
        check = cross_check(running, snapshot.gpus, loading=loading)
        said[second] = (check.agrees, check.explain(), insights[0].diagnosis.words)
    assert [second for second, (agrees, _, _) in said.items() if agrees is False] == []
    assert (
        said[330][1] == "loading: the runner holds 0.2 of the 5.4 GiB Ollama plans for VRAM so far"
    )
    assert said[330][2] == "loading a model"
    assert said[331][1].startswith("loading: the runner holds 5.0 of the 5.4 GiB")
    assert said[332][1] == "NVML agrees: the runner holds 5.4 GiB (Ollama says 5.4)"
    assert said[401][1].startswith("loading: the runner holds 0.1 of the 22.8 GiB")
    # While the 70B model arrives its split binds nothing yet: it is loading, not memory bound.
    assert all(said[second][2].startswith("loading a model") for second in range(401, 409))
    assert said[409][1].startswith("NVML agrees")


def test_a_runner_that_starts_but_never_grows_is_not_a_load():
    insight = RigInsight()
    insight.update(_rig(0.0, 0, runner=False))
    started = insight.update(_rig(1.0, 300 * MIB))
    assert started[0].loading
    stood = insight.update(_rig(2.0, 300 * MIB))
    assert not stood[0].loading
    assert stood[0].load is None  # nothing was loaded: no "last load" to show


# --- why is it slow --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "share", "words", "severity"),
    [
        ({}, None, "idle", OK),
        (
            {"utilization_gpu_pct": 97, "clocks_event_reasons": ()},
            None,
            "full speed: 97% busy, nothing holding the clocks",
            OK,
        ),
        (
            {"utilization_gpu_pct": 97, "clocks_event_reasons": ("sw_power_cap",)},
            None,
            "power-capped at 450 W",
            NOTE,
        ),
        (
            {
                "utilization_gpu_pct": 90,
                "temperature_c": 84,
                "clocks_event_reasons": ("sw_thermal_slowdown",),
            },
            None,
            "thermal slowdown (84 °C, 3 °C from slowdown)",
            BAD,
        ),
        (
            {
                "utilization_gpu_pct": 40,
                "temperature_c": 89,
                "clocks_event_reasons": ("hw_slowdown", "hw_thermal_slowdown"),
            },
            None,
            "thermal slowdown (89 °C, 2 °C past slowdown)",
            BAD,
        ),
        (
            {
                "utilization_gpu_pct": 40,
                "clocks_event_reasons": ("hw_slowdown", "hw_power_brake_slowdown"),
            },
            None,
            "hardware power brake: the PSU or UPS signalled the card to slow down",
            BAD,
        ),
        (
            {"utilization_gpu_pct": 17, "clocks_event_reasons": (), "pcie_link_gen": 4},
            0.38,
            "model 38% on CPU: memory bound on system RAM",
            WARN,
        ),
        (
            {
                "utilization_gpu_pct": 17,
                "clocks_event_reasons": ("sw_power_cap",),
                "pcie_link_gen": 4,
            },
            0.38,
            "model 38% on CPU: memory bound on system RAM; power-capped at 450 W",
            WARN,
        ),
        (
            {"utilization_gpu_pct": 12, "clocks_event_reasons": (), "pcie_link_gen": 4},
            1.0,
            "model entirely on the CPU: compute bound on the CPU",
            BAD,
        ),
        (
            {"utilization_gpu_pct": 3, "clocks_event_reasons": (), "pcie_link_gen": 4},
            1.0,
            "idle (the loaded model is entirely on the CPU)",
            WARN,
        ),
        (
            {
                "utilization_gpu_pct": 90,
                "clocks_event_reasons": (),
                "temperature_c": 81,
                "pcie_link_gen": 4,
            },
            None,
            "running hot: 6 °C from slowdown",
            NOTE,
        ),
        (
            {"utilization_gpu_pct": 0, "clocks_event_reasons": ("gpu_idle",), "pcie_link_gen": 4},
            0.45,
            "idle (the loaded model is 45% on the CPU)",
            NOTE,
        ),
        (
            {"utilization_gpu_pct": 2, "clocks_event_reasons": None},
            0.45,
            "idle (the loaded model is 45% on the CPU)",
            NOTE,
        ),
        (
            {"utilization_gpu_pct": 0, "clocks_event_reasons": ("gpu_idle",)},
            1.0,
            "idle (the loaded model is entirely on the CPU)",
            WARN,
        ),
        ({"lost": True}, None, "GPU lost: not working at all", BAD),
    ],
)
def test_why_slow_says_it_in_words(fields, share, words, severity):
    diagnosis = why_slow(gpu(**fields), share)
    assert diagnosis.words == words
    assert diagnosis.severity == severity


# --- will it fit -----------------------------------------------------------------------------

LLAMA_8B = ModelShape(
    "llama3.1:8b", weights_bytes=4_920_753_328, block_count=32, embedding_length=4096,
    head_count=32, head_count_kv=8, context_length=131072, vocab_size=128256,
    quantization="Q4_K_M",
)  # fmt: skip
LLAMA_70B = ModelShape(
    "llama3.3:70b", weights_bytes=42_520_413_916, block_count=80, embedding_length=8192,
    head_count=64, head_count_kv=8, context_length=131072, vocab_size=128256,
    quantization="Q4_K_M",
)  # fmt: skip
CARD_24_GIB = [24 * GIB]


def test_worked_example_llama_8b_at_4k_on_a_24_gib_card():
    # KV: 4096 tokens × (128 + 128) head dims × 8 KV heads × 2 bytes × 32 layers = 512 MiB.
    assert kv_cache_bytes(LLAMA_8B, 4096) == 536_870_912
    result = estimate(LLAMA_8B, 4096, CARD_24_GIB)
    assert result.kv_bytes == 536_870_912
    # Graph, full offload: max(4·512·(1 + 4·4096 + 4096·(1+32)), 4·512·(4096 + 128256))
    #   = max(2048 · 151553, 2048 · 132352) = 310_380_544.
    assert result.graph_full_bytes == 310_380_544
    # Output layer 4096 × 128256 × 6.5625 / 8 = 430_940_160; input embedding (stays in RAM)
    # 4096 × 128256 × 4.8944 / 8 = 321_400_917; per layer (4_920_753_328 − 430_940_160
    # − 321_400_917) / 32 + 536_870_912 / 32 = 147_040_098.84.
    # Needed: 457 MiB + one layer (buffer) + 32 layers + output + graph
    #   = 479_199_232 + 147_040_099 + 4_705_283_163 + 430_940_160 + 310_380_544 = 6_072_843_198.
    assert result.needed_bytes == 6_072_843_198
    assert result.placement == "fits" and result.layers_on_gpu == result.layers_total == 33
    assert result.short() == "fits"
    assert result.words() == "fits: 100% GPU, needs 5.7 GiB"
    # `ollama ps` says 100% GPU: the input embedding that stays in RAM is in neither its size
    # nor its VRAM figure, so a script reading cpu_share must read 0.
    assert result.cpu_share == 0.0
    assert processor_split(result.size_bytes, result.size_vram_bytes) == "100% GPU"


def test_worked_example_llama_70b_at_4k_splits_on_one_24_gib_card():
    result = estimate(LLAMA_70B, 4096, CARD_24_GIB)
    # KV 4096 × 256 × 8 × 2 × 80 = 1.25 GiB; output 8192 × 128256 × 6.5625 / 8 = 861_880_320;
    # input embedding 8192 × 128256 × 4.8944 / 8 = 642_801_834; per layer (42_520_413_916
    # − 861_880_320 − 642_801_834) / 80 + 1_342_177_280 / 80 = 529_473_863.0.
    assert result.kv_bytes == 1_342_177_280
    # Graph, partial offload: 4·512·8192 + max(4·512·(1 + 8192 + 8192) + 8192²·9/16
    #   + 4·4096·(512·64 + 128·8), 4·512·(8192 + 128256) + 8192·128256·105/128)
    #   = 16_777_216 + max(33_556_480 + 37_748_736 + 553_648_128, 279_445_504 + 861_880_320)
    #   = 16_777_216 + 1_141_325_824 = 1_158_103_040.
    assert result.graph_partial_bytes == 1_158_103_040
    # On the GPU: (24 GiB − 457 MiB − one layer − partial graph) // layer
    #   = (25_769_803_776 − 1_008_673_096 − 1_158_103_040) // 529_473_863.0 = 44 layers.
    assert result.placement == "partial"
    assert (result.layers_on_gpu, result.layers_total) == (44, 81)
    # In RAM: 36 layers + output + input embedding = 20_565_741_223; on the GPU: 44 layers +
    # overhead + graph = 25_463_626_110. Ollama's size leaves the input embedding out (it counts
    # neither in VRAM nor in its overflow): 19_922_939_389 in RAM of 45_386_565_499, 43.9 %, and
    # `ollama ps` would print 44%/56% CPU/GPU.
    assert (result.cpu_bytes, result.gpu_bytes) == (20_565_741_223, 25_463_626_110)
    assert (result.size_bytes, result.size_vram_bytes) == (45_386_565_499, 25_463_626_110)
    assert result.cpu_share == pytest.approx(0.4390, abs=1e-4)
    assert processor_split(result.size_bytes, result.size_vram_bytes) == "44%/56% CPU/GPU"
    assert result.short() == "~44% CPU"
    assert "the weights alone (39.6 GiB) exceed the VRAM" in " ".join(result.suggestions)
    assert "num_gpu 44 is the most layers that fit" in " ".join(result.suggestions)


def test_fit_json_cpu_share_is_what_ollama_ps_would_print(capsys):
    import json

    from rigtui.cli import main

    assert main(["fit", "--json", "--demo", "--demo-at", "20"]) == 0
    rows = {row["model"]: row for row in json.loads(capsys.readouterr().out)["models"]}
    small, big = rows["llama3.1:8b"], rows["llama3.3:70b"]
    assert (small["placement"], small["cpu_share"]) == ("fits", 0.0)
    assert small["words"].startswith("fits: 100% GPU")
    assert big["placement"] == "partial"
    assert big["words"].startswith(f"≈{big['cpu_share']:.0%} on CPU")


def test_the_70b_model_fits_on_two_24_gib_cards():
    result = estimate(LLAMA_70B, 4096, CARD_24_GIB * 2)
    assert result.placement == "fits" and result.gpus_used == 2


def test_no_gpu_means_cpu_only():
    result = estimate(LLAMA_8B, 4096, [])
    assert result.placement == "cpu" and result.cpu_share == 1.0
    assert result.words() == "CPU only: not one layer fits in the free VRAM"
    assert estimate(LLAMA_8B, 4096, [MINIMUM_PER_GPU_BYTES]).placement == "cpu"


def test_a_smaller_context_or_quantization_is_suggested_when_it_would_fit():
    coder = ModelShape(
        "qwen2.5-coder:32b", weights_bytes=19_851_336_256, block_count=64,
        embedding_length=5120, head_count=40, head_count_kv=8, context_length=32768,
        vocab_size=152064, quantization="Q4_K_M",
    )  # fmt: skip
    result = estimate(coder, 32768, CARD_24_GIB)
    assert result.placement == "partial"
    assert any(s.startswith("num_ctx 8192 would fit") for s in result.suggestions)
    assert any(s.startswith("a Q2_K build of the same model") for s in result.suggestions)


def test_the_context_is_clamped_to_the_model_maximum():
    short = dataclasses.replace(LLAMA_8B, context_length=8192)
    assert estimate(short, 131072, CARD_24_GIB).num_ctx == 8192


@pytest.mark.parametrize(
    ("version", "vram_gib", "num_ctx"),
    [
        ("0.5.7", 24, 2048),
        ("0.12.6", 24, 4096),
        ("0.15.5", 16, 4096),
        ("0.15.5", 24, 32768),
        ("0.20.1", 48, 262144),
        (None, 24, 4096),
    ],
)
def test_ollama_default_context_by_version(version, vram_gib, num_ctx):
    assert ollama_default_num_ctx(version, vram_gib * GIB) == num_ctx


def test_quantization_names_are_normalised():
    assert normalise_quantization("q4_K_M") == "Q4_K_M"
    assert normalise_quantization("Q4_K - Medium") == "Q4_K_M"


def test_usable_vram_counts_what_ollama_would_unload_and_skips_lost_gpus():
    cards = [
        GpuReading(index=0, memory_total_bytes=24 * GIB, memory_free_bytes=10 * GIB),
        GpuReading(index=1, lost=True),
    ]
    assert usable_vram(cards, {0: 6 * GIB}) == [16 * GIB]


def test_a_gpu_rests_only_when_idle_and_drawing_little():
    def gpu(**fields) -> GpuReading:
        base = dict(index=0, utilization_gpu_pct=0, power_instant_w=18.0, power_limit_w=450.0)
        return GpuReading(**{**base, **fields})

    assert rests(gpu())
    assert not rests(gpu(utilization_gpu_pct=3))
    assert not rests(gpu(power_instant_w=120.0))  # a quarter of 450 W is 112.5 W
    assert rests(gpu(power_instant_w=None, power_draw_w=30.0))  # the 1 s average stands in
    assert not rests(gpu(utilization_gpu_pct=None))  # unknown counts as working
    assert not rests(gpu(power_instant_w=None))
    assert not rests(gpu(power_limit_w=None))
    assert rests(gpu(lost=True, utilization_gpu_pct=None))  # nothing to read on a lost GPU
