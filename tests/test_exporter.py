"""The exporter's metrics against the snapshot they come from, over the simulated rig.

Each test reads the simulated rig with rigtui's real sampler (and the simulated Ollama with the
real client), hands it to the board, renders the registry with ``prometheus_client`` and parses
the text back with its parser: what a Prometheus server would store is compared with what
``rigtui snapshot --json`` says of the same reading.
"""

from __future__ import annotations

import asyncio
import math

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from rigtui.exporter import names
from rigtui.exporter.board import MetricsBoard
from rigtui.exporter.collector import KNOWN_CLOCK_EVENT_REASONS, registry_for
from rigtui.llm.ollama import OllamaClient, parse_ollama_host
from rigtui.llm.placement import cpu_share
from rigtui.llm.watch import Connected, Disconnected, FactsRead, Listed, Running
from rigtui.telemetry.export import snapshot_to_dict

GPU_FIELDS = {
    # JSON key: (metric, scale, extra labels)
    "utilization_gpu_pct": (names.UTILIZATION, 0.01, {}),
    "utilization_memory_pct": (names.MEMORY_BANDWIDTH_UTILIZATION, 0.01, {}),
    "memory_used_bytes": (names.MEMORY_USED, 1, {}),
    "memory_total_bytes": (names.MEMORY_TOTAL, 1, {}),
    "memory_reserved_bytes": (names.MEMORY_RESERVED, 1, {}),
    "memory_free_bytes": (names.MEMORY_FREE, 1, {}),
    "temperature_c": (names.TEMPERATURE, 1, {}),
    "temperature_slowdown_c": (names.TEMPERATURE_SLOWDOWN, 1, {}),
    "temperature_shutdown_c": (names.TEMPERATURE_SHUTDOWN, 1, {}),
    "temperature_max_operating_c": (names.TEMPERATURE_MAX_OPERATING, 1, {}),
    "power_draw_w": (names.POWER_DRAW, 1, {}),
    "power_limit_w": (names.POWER_LIMIT, 1, {}),
    "power_default_limit_w": (names.POWER_DEFAULT_LIMIT, 1, {}),
    "energy_total_j": (names.ENERGY, 1, {}),
    "power_instant_w": (names.POWER_INSTANT, 1, {}),
    "power_peak_1s_w": (names.POWER_PEAK, 1, {"window": "1s"}),
    "power_peak_60s_w": (names.POWER_PEAK, 1, {"window": "60s"}),
    "clocks_sm_mhz": (names.CLOCK, 1e6, {"clock": "sm"}),
    "clocks_sm_max_mhz": (names.CLOCK_MAX, 1e6, {"clock": "sm"}),
    "clocks_mem_mhz": (names.CLOCK, 1e6, {"clock": "memory"}),
    "clocks_mem_max_mhz": (names.CLOCK_MAX, 1e6, {"clock": "memory"}),
    "pcie_link_gen": (names.PCIE_GENERATION, 1, {}),
    "pcie_link_gen_max": (names.PCIE_GENERATION_MAX, 1, {}),
    "pcie_link_width": (names.PCIE_WIDTH, 1, {}),
    "pcie_link_width_max": (names.PCIE_WIDTH_MAX, 1, {}),
    "pcie_rx_bytes_per_s": (names.PCIE_RX, 1, {}),
    "pcie_tx_bytes_per_s": (names.PCIE_TX, 1, {}),
}
NOT_SERIES = {
    # Numbers of the JSON that are not series, and why.
    "index": "the gpu label",
    "lost": "rigtui_gpu_lost",
    "power_peaks_instant": "rigtui_gpu_power_peaks_instant",
    "pstate": "rigtui_gpu_performance_state (the JSON has 'P8')",
}


def scrape(board: MetricsBoard, **identity) -> dict[tuple[str, frozenset], float]:
    """The registry rendered as text and parsed back: {(sample name, labels): value}."""
    text = generate_latest(registry_for(board, **identity)).decode()
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = (sample.name, frozenset(sample.labels.items()))
            assert key not in samples, f"{key} served twice"
            samples[key] = sample.value
    return samples


def series(samples, metric: names.Metric, **labels) -> float | None:
    return samples.get((metric.name, frozenset(labels.items())))


def gpu_label_values(gpu: dict) -> dict[str, str]:
    return {
        "gpu": str(gpu["index"]),
        "uuid": gpu["uuid"] or "",
        "name": gpu["name"] or "",
        "pci_bus_id": gpu["pci_bus_id"] or "",
    }


def reading(environment, at_s: float):
    """The rig at ``at_s`` as the dashboard would read it (power peaks sampled ten times a
    second over the last minute)."""
    return environment.story_so_far(at_s, 1.0, 70)[-1]


def assert_gpu_matches(samples, gpu: dict) -> None:
    labels = gpu_label_values(gpu)
    assert series(samples, names.GPU_INFO, **labels) == 1
    assert series(samples, names.GPU_LOST, **labels) == (1 if gpu["lost"] else 0)
    for field, reason in gpu["unavailable"].items():
        assert series(samples, names.GPU_FIELD_UNAVAILABLE, **labels, field=field, reason=reason)
    if gpu["lost"]:
        served = {
            name for (name, sample_labels) in samples if ("gpu", labels["gpu"]) in sample_labels
        }
        assert served == {"rigtui_gpu_info", "rigtui_gpu_lost", "rigtui_gpu_field_unavailable"}
        return
    for key, (metric, scale, extra) in GPU_FIELDS.items():
        value = series(samples, metric, **labels, **extra)
        if gpu[key] is None:
            assert value is None, f"{key} is null but {metric.name} was served"
        else:
            assert value == pytest.approx(gpu[key] * scale), key
    assert series(samples, names.PSTATE, **labels) == (
        int(gpu["pstate"][1:]) if gpu["pstate"] else None
    )
    for fan, (speed, rpm) in enumerate(
        zip(gpu["fan_speeds_pct"], gpu["fan_speeds_rpm"], strict=True)
    ):
        fan_labels = {**labels, "fan": str(fan)}
        assert series(samples, names.FAN_SPEED, **fan_labels) == (
            None if speed is None else pytest.approx(speed / 100)
        )
        assert series(samples, names.FAN_RPM, **fan_labels) == rpm
    reasons = gpu["clocks_event_reasons"]
    for reason in KNOWN_CLOCK_EVENT_REASONS:
        value = series(samples, names.CLOCK_EVENT_REASON, **labels, reason=reason)
        assert value == (None if reasons is None else float(reason in reasons)), reason
    if gpu["power_peak_60s_w"] is not None:
        peaks_instant = series(samples, names.POWER_PEAKS_INSTANT, **labels)
        assert peaks_instant == (1 if gpu["power_peaks_instant"] else 0)
    processes = gpu["processes"]
    if processes is None:
        assert series(samples, names.PROCESSES, **labels) is None
    else:
        assert series(samples, names.PROCESSES, **labels) == len(processes)
        by_name: dict[str, int] = {}
        for process in processes:
            name = process["name"] or names.NOT_VISIBLE_PROCESS
            by_name[name] = by_name.get(name, 0) + (process["used_memory_bytes"] or 0)
        for name, used in by_name.items():
            assert series(samples, names.PROCESS_MEMORY, **labels, process=name) == used


def assert_host_matches(samples, data: dict) -> None:
    cpu, memory = data["cpu"], data["memory"]
    assert series(samples, names.CPU_UTILIZATION) == pytest.approx(cpu["percent"] / 100)
    for core, percent in enumerate(cpu["per_core_pct"]):
        value = series(samples, names.CPU_CORE_UTILIZATION, core=str(core))
        assert value == pytest.approx(percent / 100)
    assert series(samples, names.CPU_CORES) == cpu["logical_count"]
    for window, load in zip(names.LOAD_WINDOWS, cpu["load_average"] or (), strict=False):
        assert series(samples, names.LOAD_AVERAGE, window=window) == pytest.approx(load)
    assert series(samples, names.MEMORY_HOST_USED) == memory["used_bytes"]
    assert series(samples, names.MEMORY_HOST_TOTAL) == memory["total_bytes"]
    assert series(samples, names.MEMORY_HOST_AVAILABLE) == memory["available_bytes"]
    assert series(samples, names.SWAP_USED) == memory["swap_used_bytes"]
    assert series(samples, names.SWAP_TOTAL) == memory["swap_total_bytes"]
    power = data["power"]
    assert series(samples, names.POWER_BUDGET) == power["budget_w"]
    assert series(samples, names.POWER_TOTAL_PEAK, window="60s") == power["gpus_peak_60s_w"]
    nvml = data["nvml"]
    assert series(samples, names.NVML_UP) == (1 if nvml["available"] else 0)
    assert series(samples, names.GPUS) == len(data["gpus"])
    assert (
        series(
            samples,
            names.NVML_INFO,
            driver_version=nvml["driver_version"],
            cuda_version=nvml["cuda_version"],
            nvml_version=nvml["nvml_version"],
        )
        == 1
    )


@pytest.mark.parametrize(
    ("scenario", "at_s", "driver"),
    [
        ("story", 15, "r580"),  # idle, fans stopped
        ("story", 150, "r580"),  # a 70B model spilled to the CPU, a reply running
        ("dual", 60, "r580"),  # two cards, replies with spikes
        ("faults", 82, "r580"),  # GPU 1 lost, GPU 0 in slowdown with the power brake on
        ("story", 60, "r418"),  # an old driver: many fields absent, each with its reason
    ],
)
def test_every_value_of_the_snapshot_is_served_as_its_series(make_sim, scenario, at_s, driver):
    environment = make_sim(scenario, driver)
    environment.power_watch.budget_w = 500.0
    snapshot = reading(environment, at_s)
    board = MetricsBoard(watches_ollama=False, clock=lambda: snapshot.taken_at + 2.5)
    board.took(snapshot)
    samples = scrape(board, version="9.9", demo=scenario)
    data = snapshot_to_dict(snapshot)
    for gpu in data["gpus"]:
        assert_gpu_matches(samples, gpu)
    assert_host_matches(samples, data)
    assert series(samples, names.LAST_SAMPLE) == snapshot.taken_at + 2.5
    assert series(samples, names.SAMPLE_AGE) == 0.0
    assert series(samples, names.EXPORTER_INFO, version="9.9", hostname="llmbox", demo=scenario)
    assert samples[("rigtui_power_rounds_total", frozenset())] == snapshot.power.rounds > 0
    assert not any(name.startswith("rigtui_ollama") for name, _ in samples)


def test_the_scenarios_show_what_they_stage(make_sim):
    faults = snapshot_to_dict(reading(make_sim("faults"), 82))
    lost, slow = faults["gpus"][1], faults["gpus"][0]
    assert lost["lost"] and lost["unavailable"] == {"all": "GPU lost"}
    assert "hw_power_brake_slowdown" in slow["clocks_event_reasons"]
    assert slow["pcie_link_gen"] == 2 < slow["pcie_link_gen_max"]
    old = snapshot_to_dict(reading(make_sim("story", "r418"), 60))["gpus"][0]
    assert old["fan_speeds_rpm"] and not any(old["fan_speeds_rpm"])
    assert "fan_speeds_rpm" in old["unavailable"]


def test_every_json_number_has_a_series(make_sim):
    """A number added to ``rigtui snapshot --json`` must be exported too (or said why not)."""
    gpu = snapshot_to_dict(reading(make_sim("story"), 60))["gpus"][0]
    numbers = {
        key for key, value in gpu.items() if isinstance(value, int | float) or key == "pstate"
    }
    assert numbers <= set(GPU_FIELDS) | set(NOT_SERIES), numbers - set(GPU_FIELDS)


def test_every_metric_of_the_contract_is_served_for_a_full_rig(make_sim):
    environment = make_sim("dual")
    environment.power_watch.budget_w = 600.0
    snapshot = reading(environment, 60)
    board = MetricsBoard()
    board.took(snapshot)
    feed_ollama(board, environment, snapshot)
    served = {name for name, _ in scrape(board)}
    assert not any(gpu.unavailable for gpu in snapshot.gpus), "a full rig reads every field"
    missing = {metric.name for metric in names.ALL} - served
    assert missing == {names.GPU_FIELD_UNAVAILABLE.name}


def feed_ollama(board: MetricsBoard, environment, snapshot) -> list:
    """What the watch would tell the board, read with the real client from the simulated
    Ollama (real HTTP on 127.0.0.1)."""
    address = environment.start_ollama()

    async def read():
        client = OllamaClient(parse_ollama_host(address))
        try:
            version = await client.version()
            installed = await client.installed()
            running = await client.running()
            facts = {model.name: await client.facts(model.name) for model in running}
        finally:
            await client.close()
        return version, installed, running, facts

    try:
        version, installed, running, facts = asyncio.run(read())
    finally:
        environment.stop_ollama()
    sizes = {model.name: model.size_bytes for model in installed}
    facts = {
        name: type(fact)(**{**fact.__dict__, "size_bytes": sizes.get(name)})
        for name, fact in facts.items()
    }
    for event in (Connected(version), Listed(installed), FactsRead(facts), Running(running)):
        board.heard(event)
    return running


@pytest.mark.parametrize(("scenario", "spills"), [("story", True), ("dual", False)])
def test_loaded_models_with_ollamas_split_and_rigtuis_prediction(make_sim, scenario, spills):
    environment = make_sim(scenario)
    snapshot = reading(environment, 150)
    board = MetricsBoard()
    board.took(snapshot)
    running = feed_ollama(board, environment, snapshot)
    assert running, "the story has the 70B model loaded at 150 s"
    samples = scrape(board)
    assert series(samples, names.OLLAMA_UP) == 1
    assert series(samples, names.OLLAMA_MODELS_INSTALLED) > 0
    for model in running:
        label = {"model": model.name}
        assert series(samples, names.MODEL_SIZE, **label) == model.size_bytes
        assert series(samples, names.MODEL_VRAM, **label) == model.size_vram_bytes
        share = series(samples, names.MODEL_CPU, **label)
        assert share == pytest.approx(cpu_share(model.size_bytes, model.size_vram_bytes))
        assert (share > 0.05) is spills
        assert series(samples, names.MODEL_CONTEXT, **label) == model.context_length
        assert series(samples, names.MODEL_UNLOAD, **label) == pytest.approx(
            model.expires_at_s - snapshot.taken_at
        )
        predicted = series(samples, names.MODEL_PREDICTED_CPU, **label)
        assert predicted is not None and (predicted > 0.05) is spills


def test_ollama_down_is_up_0_and_no_models(make_sim):
    board = MetricsBoard()
    board.heard(Connected("0.12.6"))
    board.heard(Disconnected("connection refused", 1.0))
    samples = scrape(board)
    assert series(samples, names.OLLAMA_UP) == 0
    assert not any(name.startswith("rigtui_ollama_model") for name, _ in samples)
    # Nothing read yet: the exporter says who it is and that it has failed nothing, no more.
    assert samples[("rigtui_exporter_sampling_failures_total", frozenset())] == 0
    assert series(samples, names.LAST_SAMPLE) is None


def test_a_failed_reading_is_counted_and_the_last_good_one_served(make_sim):
    environment = make_sim("story")
    snapshot = reading(environment, 60)
    now = [snapshot.taken_at]
    board = MetricsBoard(watches_ollama=False, clock=lambda: now[0])
    board.took(snapshot)
    now[0] += 7.0
    board.failed("sampling failed: NVML went away")
    samples = scrape(board)
    assert samples[("rigtui_exporter_sampling_failures_total", frozenset())] == 1
    assert series(samples, names.SAMPLE_AGE) == 7.0
    assert series(samples, names.LAST_SAMPLE) == snapshot.taken_at
    gpu = snapshot.gpus[0]
    labels = gpu_label_values(snapshot_to_dict(snapshot)["gpus"][0])
    assert series(samples, names.TEMPERATURE, **labels) == gpu.temperature_c


def test_a_scrape_reads_the_board_and_nothing_else(make_sim):
    """Swap the board's reading and the next scrape serves it; the rig is not read again."""
    environment = make_sim("dual")
    first, second = reading(environment, 20), reading(environment, 60)
    assert first.gpus[0].temperature_c != second.gpus[0].temperature_c
    board = MetricsBoard(watches_ollama=False)
    board.took(first)
    registry = registry_for(board)
    calls = dict(environment.nvml_library.calls)
    labels = gpu_label_values(snapshot_to_dict(first)["gpus"][0])

    def temperature():
        for family in text_string_to_metric_families(generate_latest(registry).decode()):
            for sample in family.samples:
                if sample.name == names.TEMPERATURE.name and sample.labels == labels:
                    return sample.value
        return None

    assert temperature() == first.gpus[0].temperature_c
    assert temperature() == first.gpus[0].temperature_c  # served again from what was built
    board.took(second)
    assert temperature() == second.gpus[0].temperature_c
    assert environment.nvml_library.calls == calls  # the simulated NVML was never asked


def test_no_value_is_nan_or_infinite_and_counters_end_in_total(make_sim):
    environment = make_sim("faults")
    board = MetricsBoard(watches_ollama=False)
    board.took(reading(environment, 82))
    text = generate_latest(registry_for(board)).decode()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            assert math.isfinite(sample.value), sample
        if family.type == "counter":
            assert all(sample.name.endswith("_total") for sample in family.samples)
