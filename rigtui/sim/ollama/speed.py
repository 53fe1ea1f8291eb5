"""How fast a placed model runs, loads and downloads (documented, deterministic).

Generation is memory-bandwidth bound: time per token = Σ weights on GPU i / (bandwidth_i ×
:data:`GPU_BANDWIDTH_EFFICIENCY`) + weights in RAM / :data:`CPU_BANDWIDTH_BYTES_PER_S` (about
143 tok/s for llama3.1:8b on an RTX 4090; about 2 tok/s for llama3.3:70b split on one). Prompt
evaluation is compute bound: 2 × parameters FLOP a token at the GPU's effective rate, or
:data:`CPU_PROMPT_FLOPS` for layers in RAM (thousands of tok/s on the GPU, about 60 split).
Loading reads the GGUF at 2.4 GB/s, 5.6 GB/s once it is in the page cache.

These figures are at ``speed`` 1: the server divides every wait by its ``speed``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rigtui.sim.ollama.models import ModelSpec
from rigtui.sim.ollama.placement import Placement

COLD_LOAD_BYTES_PER_S = 2.4e9
WARM_LOAD_BYTES_PER_S = 5.6e9
RUNNER_START_S = 0.25
GPU_BANDWIDTH_EFFICIENCY = 0.7
CPU_BANDWIDTH_BYTES_PER_S = 40e9
"""System RAM as a token generator sees it (dual-channel DDR5, effective)."""
CPU_PROMPT_FLOPS = 4e12
"""Effective rate for prompt evaluation of layers left in RAM: llama.cpp runs large prompt
batches of those layers on the GPU, streaming their weights over PCIe, so it is far faster
than the CPU's generation; one effective figure stands in for that."""
DOWNLOAD_BYTES_PER_S = 100e6


@dataclass(frozen=True)
class GpuFigures:
    """What a card offers a language model: memory bandwidth, and FLOP/s on quantized prompts."""

    memory_bandwidth_bytes_per_s: float
    prompt_flops: float


GPU_FIGURES: dict[str, GpuFigures] = {
    "NVIDIA GeForce RTX 4090": GpuFigures(1008e9, 41e12),
    "NVIDIA GeForce RTX 4080": GpuFigures(717e9, 25e12),
    "NVIDIA GeForce RTX 3090": GpuFigures(936e9, 24e12),
    "NVIDIA GeForce RTX 3060": GpuFigures(360e9, 8e12),
}
"""Vendor memory bandwidth; prompt FLOP/s about half the FP16 tensor peak (FP32 accumulate)."""
DEFAULT_GPU_FIGURES = GpuFigures(900e9, 30e12)


def rates(spec: ModelSpec, placement: Placement, gpu_names: Sequence[str]) -> tuple[float, float]:
    """(seconds a generated token, seconds a prompt token) at ``speed`` 1.

    ``gpu_names``: each GPU's model name, by index, to look up its :data:`GPU_FIGURES`.
    """
    total = placement.layers_total
    layer_bytes = spec.size_bytes / total
    layer_flops = 2.0 * spec.parameter_count / total
    generate = prompt = 0.0
    for index, layers in placement.gpu_layers:
        figures = GPU_FIGURES.get(gpu_names[index], DEFAULT_GPU_FIGURES)
        bandwidth = figures.memory_bandwidth_bytes_per_s * GPU_BANDWIDTH_EFFICIENCY
        generate += layers * layer_bytes / bandwidth
        prompt += layers * layer_flops / figures.prompt_flops
    cpu_layers = total - placement.layers_on_gpu
    generate += cpu_layers * layer_bytes / CPU_BANDWIDTH_BYTES_PER_S
    prompt += cpu_layers * layer_flops / CPU_PROMPT_FLOPS
    return generate, prompt


def load_seconds(spec: ModelSpec, *, cached: bool) -> float:
    """Starting a runner and reading the GGUF, from disk or (``cached``) the page cache."""
    rate = WARM_LOAD_BYTES_PER_S if cached else COLD_LOAD_BYTES_PER_S
    return RUNNER_START_S + spec.size_bytes / rate
