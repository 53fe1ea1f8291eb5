"""The fleet read from a real Prometheus scraping real ``rigtui exporter --demo`` rigs (the
``fleet`` fixture of conftest.py): what the Fleet tab shows equals what each rig's snapshot says
and what Prometheus itself holds."""

from __future__ import annotations

import asyncio
import time

import pytest

from rigtui.fleet.model import FleetError, FleetReading, FleetRig
from rigtui.fleet.prometheus import PrometheusClient
from rigtui.fleet.reading import read_fleet, read_history

pytestmark = pytest.mark.prometheus


def read(url: str) -> FleetReading:
    async def once() -> FleetReading:
        client = PrometheusClient(url)
        try:
            return await read_fleet(client, now=time.time())
        finally:
            await client.aclose()

    return asyncio.run(once())


def by_instance(reading: FleetReading) -> dict[str, FleetRig]:
    return {rig.instance: rig for rig in reading.rigs}


def firing_by_instance(alerts: list[dict]) -> dict[str, set[str]]:
    firing: dict[str, set[str]] = {}
    for alert in alerts:
        instance = alert["labels"].get("instance")
        if instance is not None:
            firing.setdefault(instance, set()).add(alert["labels"]["alertname"])
    return firing


def test_every_rig_is_listed_and_the_gone_one_is_stale(fleet) -> None:
    rigs = by_instance(read(fleet.prometheus_url))
    assert set(rigs) == {rig.instance for rig in fleet.rigs.values()}
    for name, rig in fleet.rigs.items():
        read_rig = rigs[rig.instance]
        assert read_rig.job == "rigtui"
        assert read_rig.demo == rig.scenario
        assert (read_rig.up, read_rig.stale) == (name != "gone", name == "gone")
        assert read_rig.last_seen is not None


def test_each_gpu_equals_the_rig_snapshot(fleet) -> None:
    rigs = by_instance(read(fleet.prometheus_url))
    for name, rig in fleet.rigs.items():
        gpus = {gpu.index: gpu for gpu in rigs[rig.instance].gpus}
        assert set(gpus) == {str(gpu["index"]) for gpu in rig.snapshot["gpus"]}, name
        for expected in rig.snapshot["gpus"]:
            gpu = gpus[str(expected["index"])]
            assert gpu.lost is expected["lost"], name
            if expected["lost"]:
                continue
            assert gpu.name == expected["name"]
            assert gpu.uuid == expected["uuid"]
            assert gpu.utilization_ratio == pytest.approx(expected["utilization_gpu_pct"] / 100)
            assert gpu.memory_used_bytes == expected["memory_used_bytes"]
            assert gpu.memory_total_bytes == expected["memory_total_bytes"]
            assert gpu.temperature_celsius == expected["temperature_c"]
            assert gpu.temperature_slowdown_celsius == expected["temperature_slowdown_c"]
            assert gpu.power_limit_watts == expected["power_limit_w"]
            assert gpu.pcie_generation == expected["pcie_link_gen"]
            assert gpu.pcie_generation_max == expected["pcie_link_gen_max"]
            assert set(gpu.clock_event_reasons) == set(expected["clocks_event_reasons"])


def test_the_lost_gpu_shows_lost(fleet) -> None:
    lost = by_instance(read(fleet.prometheus_url))[fleet.rigs["lost"].instance]
    assert [(gpu.index, gpu.lost) for gpu in lost.gpus] == [("0", False), ("1", True)]
    assert lost.gpus[1].utilization_ratio is None


def test_the_offload_rig_model_shows_its_cpu_share(fleet) -> None:
    offload = fleet.rigs["offload"]
    held = fleet.query(f'rigtui_ollama_model_cpu_ratio{{instance="{offload.instance}"}}')
    assert held, "Prometheus holds no model for the offload rig"
    rigs = by_instance(read(fleet.prometheus_url))
    models = {model.name: model for model in rigs[offload.instance].models}
    for series in held:
        model = models[series["metric"]["model"]]
        assert model.cpu_ratio == float(series["value"][1])
        assert model.cpu_ratio > 0
        assert model.size_bytes is not None and model.vram_bytes is not None
        assert model.vram_bytes < model.size_bytes
    fits = rigs[fleet.rigs["fits"].instance]
    assert fits.models and all(model.cpu_ratio == 0 for model in fits.models)
    assert rigs[offload.instance].power_budget_watts == offload.power_budget_w


def test_firing_alerts_are_attached_to_their_rig_and_come_first(fleet) -> None:
    lost = fleet.rigs["lost"].instance
    fleet.wait_until(f'ALERTS{{alertstate="firing", instance="{lost}"}}', timeout_s=30)
    for _ in range(10):  # the rigs hold still; alerts may still be settling between reads
        before = firing_by_instance(fleet.firing())
        reading = read(fleet.prometheus_url)
        if firing_by_instance(fleet.firing()) == before:
            break
    else:
        pytest.fail("the firing alerts never held still")
    for rig in reading.rigs:
        assert {alert.name for alert in rig.firing} == before.get(rig.instance, set())
    assert lost in before
    assert fleet.rigs["fits"].instance not in before
    ranks = [0 if rig.firing else 1 if rig.alerts else 2 for rig in reading.rigs]
    assert ranks == sorted(ranks)
    assert reading.alerts_error is None


def test_history_has_points_for_each_gpu(fleet) -> None:
    fits = fleet.rigs["fits"]

    async def history():
        client = PrometheusClient(fleet.prometheus_url)
        try:
            return await read_history(
                client, fits.instance, end=time.time(), window_s=60, points=60
            )
        finally:
            await client.aclose()

    read_back = asyncio.run(history())
    assert read_back.step_s == 1
    for chart in ("utilization", "vram", "power", "power_peak", "temperature"):
        lines = read_back.charts[chart]
        assert [line.label for line in lines] == ["GPU 0", "GPU 1"], chart
        assert all(any(value is not None for _, value in line.points) for line in lines), chart
    expected_vram = [gpu["memory_used_bytes"] for gpu in fits.snapshot["gpus"]]
    newest = [
        next(value for _, value in reversed(line.points) if value is not None)
        for line in read_back.charts["vram"]
    ]
    assert newest == expected_vram
    assert read_back.lines["power_limit"] == max(
        gpu["power_limit_w"] for gpu in fits.snapshot["gpus"]
    )


def test_a_bad_query_is_a_fleet_error_in_prometheus_words(fleet) -> None:
    async def bad():
        client = PrometheusClient(fleet.prometheus_url)
        try:
            return await client.query("rigtui_gpu_utilization_ratio +")
        finally:
            await client.aclose()

    with pytest.raises(FleetError) as caught:
        asyncio.run(bad())
    words = str(caught.value)
    assert "refused /api/v1/query (bad_data)" in words
    assert "parse error" in words
