"""Fit estimates for the models Ollama has, against the GPUs as they are now."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from rigtui.insight.fit import (
    FitEstimate,
    estimate,
    ollama_default_num_ctx,
    shape_from,
    usable_vram,
)
from rigtui.llm.ollama import ModelFacts, RunningModel
from rigtui.llm.placement import runner_bytes_by_gpu
from rigtui.telemetry.model import GpuReading


def fit_estimates(
    gpus: Sequence[GpuReading],
    facts: Mapping[str, ModelFacts],
    ollama_version: str | None,
    num_ctx: int | None = None,
) -> dict[str, FitEstimate]:
    """Where each installed model would go now, at ``num_ctx`` (else Ollama's default)."""
    available = usable_vram(gpus, runner_bytes_by_gpu(gpus))
    if num_ctx is None:
        total = sum(gpu.memory_total_bytes or 0 for gpu in gpus if not gpu.lost)
        num_ctx = ollama_default_num_ctx(ollama_version, total)
    estimates = {}
    for name, model_facts in facts.items():
        shape = shape_from(model_facts, model_facts.size_bytes or 0)
        if shape is not None:
            estimates[name] = estimate(shape, num_ctx, available)
    return estimates


def load_predictions(
    gpus: Sequence[GpuReading],
    running: Iterable[RunningModel],
    facts: Mapping[str, ModelFacts],
) -> dict[str, FitEstimate]:
    """What the estimate predicts for each loaded model, as if it were loading alone now at the
    context it was loaded with (set beside what Ollama actually did)."""
    available = usable_vram(gpus, runner_bytes_by_gpu(gpus))
    predictions = {}
    for model in running:
        model_facts = facts.get(model.name)
        shape = shape_from(model_facts, model_facts.size_bytes or 0) if model_facts else None
        if shape is not None and model.context_length:
            predictions[model.name] = estimate(
                shape, model.context_length, available, suggest=False
            )
    return predictions
