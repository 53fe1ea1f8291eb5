"""The collector over any reading: missing, zero, huge, NaN, infinite, odd names.

Whatever the rig reports (the snapshots of ``test_properties``, which the dashboard's renderers
are tested over too), a scrape is valid exposition text (both formats), no value is NaN or
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
from rigtui.exporter.collector import registry_for
from rigtui.llm.ollama import RunningModel
from rigtui.llm.watch import Connected, Running
from tests.test_properties import snapshots

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
