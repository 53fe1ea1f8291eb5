"""The collector over any reading: missing, zero, huge, NaN, infinite, odd names.

Whatever the rig reports, a scrape is valid exposition text (both formats), no value is NaN or
infinite, every family is one of the contract's, and counters end in ``_total``.
"""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as parse_openmetrics,
)
from prometheus_client.parser import text_string_to_metric_families

from rigtui.exporter import names
from rigtui.exporter.board import MetricsBoard
from rigtui.exporter.collector import KNOWN_CLOCK_EVENT_REASONS, registry_for
from rigtui.llm.ollama import RunningModel
from rigtui.llm.watch import Connected, Running
from rigtui.telemetry.model import (
    CpuReading,
    FanReading,
    GpuProcess,
    GpuReading,
    MemoryReading,
    NvmlStatus,
    PowerBudgetReading,
    RigSnapshot,
)

ints = st.none() | st.integers(-(2**63), 2**64)
floats = st.none() | st.floats(allow_nan=True, allow_infinity=True)
texts = st.none() | st.text(max_size=20)
reasons = st.dictionaries(st.text(min_size=1, max_size=12), st.text(max_size=20), max_size=3)

fans = st.builds(FanReading, index=st.integers(0, 8), speed_pct=ints, rpm=ints, reason=texts)
processes = st.builds(
    GpuProcess, pid=st.integers(0, 2**31), name=texts, used_memory_bytes=ints, command=texts
)
gpus = st.builds(
    GpuReading,
    index=st.integers(0, 15),
    name=texts,
    uuid=texts,
    pci_bus_id=texts,
    lost=st.booleans(),
    utilization_gpu_pct=ints,
    utilization_memory_pct=ints,
    memory_used_bytes=ints,
    memory_total_bytes=ints,
    temperature_c=ints,
    fans=st.lists(fans, max_size=3).map(tuple),
    power_draw_w=floats,
    power_peak_1s_w=floats,
    power_peak_60s_w=floats,
    power_peaks_instant=st.booleans(),
    energy_total_j=floats,
    pstate=ints,
    clocks_sm_mhz=ints,
    clocks_event_reasons=st.none()
    | st.lists(st.sampled_from([*KNOWN_CLOCK_EVENT_REASONS, "other_0x400"])).map(tuple),
    pcie_rx_bytes_per_s=ints,
    processes=st.none() | st.lists(processes, max_size=4).map(tuple),
    unavailable=reasons,
)


@st.composite
def snapshots(draw) -> RigSnapshot:
    cores = draw(st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=4))
    return RigSnapshot(
        taken_at=draw(
            st.floats(allow_nan=False, allow_infinity=False, min_value=0, max_value=1e12)
        ),
        hostname=draw(st.text(max_size=20)),
        nvml=NvmlStatus(
            available=draw(st.booleans()), driver_version=draw(texts), cuda_version=draw(texts)
        ),
        gpus=tuple(draw(st.lists(gpus, max_size=3, unique_by=lambda gpu: gpu.index))),
        cpu=CpuReading(
            percent=draw(st.floats(allow_nan=True, allow_infinity=True)),
            per_core_pct=tuple(cores),
            load_average=draw(st.none() | st.tuples(*[st.floats(allow_nan=True)] * 3)),
            logical_count=len(cores),
        ),
        memory=MemoryReading(*[draw(st.integers(0, 2**64)) for _ in range(5)]),
        power=draw(
            st.none()
            | st.builds(
                PowerBudgetReading,
                budget_w=floats,
                peak_60s_w=floats,
                rounds=st.integers(0, 2**40),
                rounds_over_budget=st.integers(0, 2**40),
            )
        ),
    )


running_models = st.builds(
    RunningModel,
    name=st.text(max_size=30),
    size_bytes=st.integers(-5, 2**45),
    size_vram_bytes=st.integers(-5, 2**45),
    context_length=st.none() | st.integers(0, 2**20),
    expires_at=st.none(),
)

CONTRACT = {metric.name for metric in names.ALL}


@settings(max_examples=150, deadline=None)
@given(snapshots(), st.lists(running_models, max_size=3, unique_by=lambda model: model.name))
def test_any_reading_renders_as_valid_metrics_of_the_contract(snapshot, models):
    board = MetricsBoard()
    board.took(snapshot)
    board.heard(Connected("0.12.6"))
    board.heard(Running(models))
    registry = registry_for(board, version="0", demo="")
    text = generate_latest(registry).decode()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            assert sample.name in CONTRACT, sample.name
            assert math.isfinite(sample.value), sample
            if family.type == "counter":
                assert sample.name.endswith("_total")
    # OpenMetrics is stricter (counters, info, label escapes): its own parser reads it back.
    families = list(parse_openmetrics(generate_openmetrics(registry).decode()))
    assert any(family.name == "rigtui_exporter" for family in families)
    lost = [gpu for gpu in snapshot.gpus if gpu.lost]
    for gpu in lost:
        assert f'rigtui_gpu_temperature_celsius{{gpu="{gpu.index}"' not in text
