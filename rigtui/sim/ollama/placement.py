"""Where a model goes: whole layers on the GPUs, the rest in system RAM.

This is the SIMULATOR's own rule, deliberately simpler than Ollama's memory estimator
(``llm/memory.go``): memory = weights + f16 KV cache at ``num_ctx`` (2 bytes × num_ctx ×
(key_len + value_len) × kv_heads × blocks) + one compute graph per GPU used (the shape of
Ollama's llama ``fullOffload`` graph estimate at batch 512); each GPU offers its free VRAM less
:data:`GPU_OVERHEAD_BYTES`. A model that fits goes wholly to the GPU (one GPU if one suffices,
else spread by layers); otherwise idle models are evicted first (the scheduler's part), and only
a model loaded alone is split by whole layers (``block_count + 1`` equal layers) with the rest in
system RAM. ``num_gpu: 0`` is CPU only; ``num_gpu: N`` forces N layers. Tests of rigtui's own fit
estimate must NOT be checked against these figures.

The planners here are pure: they are handed what each GPU offers and answer a
:class:`Placement`; the scheduler decides what to evict and when to split.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from rigtui.sim.ollama.models import ModelSpec
from rigtui.sim.rig import MIB

BATCH_SIZE = 512
GPU_OVERHEAD_BYTES = 457 * MIB
"""Per GPU, kept free for the CUDA context and Ollama's own margin."""


@dataclass(frozen=True)
class Placement:
    """Where a runner's memory is: whole layers per GPU, the rest in system RAM."""

    size_bytes: int
    layers_total: int
    gpu_layers: tuple[tuple[int, int], ...] = ()
    """(GPU index, layers) for each GPU used."""
    gpu_vram_bytes: tuple[tuple[int, int], ...] = ()
    """(GPU index, bytes) for each GPU used."""

    @property
    def size_vram_bytes(self) -> int:
        return sum(size for _, size in self.gpu_vram_bytes)

    @property
    def layers_on_gpu(self) -> int:
        return sum(layers for _, layers in self.gpu_layers)

    @property
    def gpus(self) -> tuple[int, ...]:
        return tuple(index for index, _ in self.gpu_layers)

    @property
    def cpu_bytes(self) -> int:
        return self.size_bytes - self.size_vram_bytes

    @property
    def offloaded(self) -> bool:
        """Some layers run on the CPU (or all of them)."""
        return self.layers_on_gpu < self.layers_total


def memory_figures(spec: ModelSpec, num_ctx: int) -> tuple[int, int, int]:
    """(weights, f16 KV cache, compute graph) in bytes for a runner at ``num_ctx``."""
    kv = 2 * num_ctx * (2 * spec.head_dim) * spec.head_count_kv * spec.block_count
    graph = (
        4
        * BATCH_SIZE
        * max(
            1 + 4 * spec.embedding_length + num_ctx * (1 + spec.head_count),
            spec.embedding_length + spec.vocab_size,
        )
    )
    return spec.size_bytes, kv, graph


def _per_layer_bytes(spec: ModelSpec, num_ctx: int) -> float:
    weights, kv, _ = memory_figures(spec, num_ctx)
    return (weights + kv) / (spec.block_count + 1)


def _place(spec: ModelSpec, num_ctx: int, layers: Mapping[int, int]) -> Placement:
    weights, kv, graph = memory_figures(spec, num_ctx)
    total = spec.block_count + 1
    used = [(gpu, count) for gpu, count in sorted(layers.items()) if count > 0]
    size = weights + kv + graph * max(1, len(used))
    per_layer = (weights + kv) / total
    vram = [(gpu, graph + int(count * per_layer)) for gpu, count in used]
    if used and sum(count for _, count in used) == total:
        # Fully offloaded: the last GPU takes the rounding so that size_vram == size exactly.
        vram[-1] = (vram[-1][0], size - sum(size for _, size in vram[:-1]))
    return Placement(size, total, tuple(used), tuple(vram))


def _capacity(spec: ModelSpec, num_ctx: int, usable: Mapping[int, int]) -> dict[int, int]:
    _, _, graph = memory_figures(spec, num_ctx)
    per_layer = _per_layer_bytes(spec, num_ctx)
    return {gpu: max(0, math.floor((free - graph) / per_layer)) for gpu, free in usable.items()}


def _spread(count: int, capacity: Mapping[int, int]) -> dict[int, int]:
    """``count`` layers over the GPUs in proportion to their room (``sum(capacity) >= count``)."""
    room = sum(capacity.values())
    shares = {gpu: min(cap, count * cap // room) for gpu, cap in capacity.items()} if room else {}
    left = count - sum(shares.values())
    while left > 0:
        for gpu in sorted(capacity, key=lambda g: shares[g] - capacity[g]):
            if left and shares[gpu] < capacity[gpu]:
                shares[gpu] += 1
                left -= 1
    return shares


def plan_full(spec: ModelSpec, num_ctx: int, usable: Mapping[int, int]) -> Placement | None:
    """Wholly on the GPU(s), or ``None``. ``usable``: bytes each GPU offers, by index."""
    if not usable:
        return None
    weights, kv, graph = memory_figures(spec, num_ctx)
    best = max(usable, key=lambda gpu: usable[gpu])
    if weights + kv + graph <= usable[best]:
        return _place(spec, num_ctx, {best: spec.block_count + 1})
    capacity = _capacity(spec, num_ctx, usable)
    if sum(capacity.values()) >= spec.block_count + 1:
        return _place(spec, num_ctx, _spread(spec.block_count + 1, capacity))
    return None


def plan_partial(spec: ModelSpec, num_ctx: int, usable: Mapping[int, int]) -> Placement:
    """As many whole layers as fit on the GPU(s); the rest in system RAM."""
    capacity = _capacity(spec, num_ctx, usable)
    total = spec.block_count + 1
    if sum(capacity.values()) >= total:
        return _place(spec, num_ctx, _spread(total, capacity))
    return _place(spec, num_ctx, capacity)


def plan_forced(
    spec: ModelSpec, num_ctx: int, layers: int, usable: Mapping[int, int]
) -> Placement | None:
    """Exactly ``layers`` on the GPU(s) (``num_gpu: N``), or ``None`` if they do not fit."""
    layers = min(layers, spec.block_count + 1)
    capacity = _capacity(spec, num_ctx, usable)
    if sum(capacity.values()) < layers:
        return None
    return _place(spec, num_ctx, _spread(layers, capacity))


def plan_cpu(spec: ModelSpec, num_ctx: int) -> Placement:
    return _place(spec, num_ctx, {})
