"""What a real Prometheus stored from each exporter equals the snapshot of the same still rig."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.prometheus

GPU_FIELDS = (
    # (metric, the snapshot's key, scale from the snapshot's unit to the metric's)
    ("rigtui_gpu_utilization_ratio", "utilization_gpu_pct", 0.01),
    ("rigtui_gpu_memory_bandwidth_utilization_ratio", "utilization_memory_pct", 0.01),
    ("rigtui_gpu_memory_used_bytes", "memory_used_bytes", 1),
    ("rigtui_gpu_memory_total_bytes", "memory_total_bytes", 1),
    ("rigtui_gpu_temperature_celsius", "temperature_c", 1),
    ("rigtui_gpu_temperature_slowdown_celsius", "temperature_slowdown_c", 1),
    ("rigtui_gpu_power_draw_watts", "power_draw_w", 1),
    ("rigtui_gpu_power_limit_watts", "power_limit_w", 1),
    ("rigtui_gpu_pcie_link_generation", "pcie_link_gen", 1),
    ("rigtui_gpu_pcie_link_generation_max", "pcie_link_gen_max", 1),
    ("rigtui_gpu_pcie_link_width_lanes", "pcie_link_width", 1),
    ("rigtui_gpu_pcie_link_width_max_lanes", "pcie_link_width_max", 1),
)


def _latest(fleet, metric: str, rig, **labels: str) -> float | None:
    selector = ",".join(
        f'{key}="{value}"' for key, value in {"instance": rig.instance, **labels}.items()
    )
    return fleet.value(f"{metric}{{{selector}}}")


@pytest.mark.parametrize("name", ["fits", "offload", "lost"])
def test_every_gpu_figure_prometheus_holds_is_the_snapshots(fleet, name):
    rig = fleet.rigs[name]
    gpus = rig.snapshot["gpus"]
    assert gpus, "the snapshot has GPUs"
    for gpu in gpus:
        index = str(gpu["index"])
        lost = _latest(fleet, "rigtui_gpu_lost", rig, gpu=index)
        assert lost == (1.0 if gpu["lost"] else 0.0), (name, index)
        for metric, key, scale in GPU_FIELDS:
            stored = _latest(fleet, metric, rig, gpu=index)
            expected = gpu[key]
            if expected is None:
                # Not read (a lost GPU): the series is absent, not 0.
                assert stored is None, (name, index, metric, stored)
            else:
                assert stored == pytest.approx(expected * scale, rel=1e-6), (name, index, metric)
        labels = fleet.query(f'rigtui_gpu_info{{instance="{rig.instance}",gpu="{index}"}}')
        # A label with no value (a lost GPU's UUID cannot be read) is no label in Prometheus.
        assert [series["metric"].get("uuid") for series in labels] == [gpu["uuid"]]
        assert labels[0]["metric"].get("pci_bus_id") == gpu["pci_bus_id"]


def test_a_lost_gpu_is_lost_and_its_readings_are_absent(fleet):
    rig = fleet.rigs["lost"]
    assert _latest(fleet, "rigtui_gpu_lost", rig, gpu="1") == 1.0
    assert _latest(fleet, "rigtui_gpu_temperature_celsius", rig, gpu="1") is None
    assert _latest(fleet, "rigtui_gpu_temperature_celsius", rig, gpu="0") is not None


def test_the_host_and_the_budget_are_the_snapshots(fleet):
    rig = fleet.rigs["offload"]
    memory = rig.snapshot["memory"]
    assert _latest(fleet, "rigtui_memory_total_bytes", rig) == memory["total_bytes"]
    assert _latest(fleet, "rigtui_cpu_logical_cores", rig) == rig.snapshot["cpu"]["logical_count"]
    assert _latest(fleet, "rigtui_power_budget_watts", rig) == 60.0
    assert _latest(fleet, "rigtui_power_budget_watts", fleet.rigs["fits"]) is None
    # Every round of the offload rig is over its 60 W budget: the counter climbs in Prometheus.
    fleet.wait_until(
        f'increase(rigtui_power_rounds_over_budget_total{{instance="{rig.instance}"}}[30s]) > 0'
    )


def test_the_spilled_model_and_its_cpu_share(fleet):
    offload = fleet.query(
        f'rigtui_ollama_model_cpu_ratio{{instance="{fleet.rigs["offload"].instance}"}}'
    )
    fits = fleet.query(f'rigtui_ollama_model_cpu_ratio{{instance="{fleet.rigs["fits"].instance}"}}')
    assert [series["metric"]["model"] for series in offload] == ["llama3.3:70b"]
    assert 0.3 < float(offload[0]["value"][1]) < 0.6
    assert [float(series["value"][1]) for series in fits] == [0.0]


def test_a_stopped_exporter_is_down_with_its_last_reading_kept(fleet):
    gone = fleet.rigs["gone"]
    assert fleet.value(f'up{{instance="{gone.instance}"}}') == 0.0
    last = fleet.value(
        f'last_over_time(rigtui_exporter_last_sample_timestamp_seconds{{instance="{gone.instance}"}}[10m])'
    )
    assert last is not None and last > 0
