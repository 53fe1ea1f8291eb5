"""Will it fit? An estimate of the VRAM a model needs, and where Ollama would put it.

The formula follows Ollama's own estimator for llama.cpp-run models (``llm/memory.go``,
``fs/ggml/ggml.go`` GraphSize, ``ml/device.go``), simplified where it does not change the answer:

* weights: the GGUF file size from ``/api/tags``. The input embedding (``token_embd``, about
  ``embedding_length × vocab × bits-per-weight / 8``) stays in system RAM, as llama.cpp keeps it;
  the output layer (the vocabulary projection, about ``embedding_length × vocab × 6.5625 / 8``
  bytes: Q6_K in the usual K-quant mixes) goes to the GPU only when everything fits; the rest
  divides evenly over the ``block_count`` repeating layers.
* KV cache (f16): ``num_ctx × num_parallel × (key_length + value_length) × head_count_kv × 2``
  bytes per layer; ``key_length`` defaults to ``embedding_length / head_count``.
* compute graph, at batch 512 (llama family):
  full offload ``max(4·b·(1 + 4·emb + ctx·(1 + heads)), 4·b·(emb + vocab))``; partial offload
  ``4·b·emb + max(4·b·(1 + emb + max(ctx, emb)) + emb²·9/16 + 4·ctx·(b·heads + emb/heads·kv_heads),
  4·b·(emb + vocab) + emb·vocab·105/128)``.
* per GPU used: 457 MiB that Ollama keeps free (CUDA context, cuBLAS), one layer as a buffer,
  and the graph.

A model fits when all that fits in the VRAM Ollama could use: what is free now plus what its
own idle models hold (it unloads those first). Otherwise it splits by whole layers: as many as fit
go to the GPU(s), the rest and the output layer stay in system RAM. Flash attention makes the
real graph smaller, so the estimate errs on the safe side, as Ollama's does.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from rigtui.llm.placement import cpu_share

MIB = 1024**2
GIB = 1024**3
MINIMUM_PER_GPU_BYTES = 457 * MIB
BATCH = 512
DEFAULT_VOCAB = 128_000
"""When ``/api/show`` does not give the vocabulary size (it hides long arrays): modern models
have 128k-256k tokens, so this errs on the small side of the graph."""
OUTPUT_BITS_PER_WEIGHT = 6.5625

# Effective bits per weight of whole models, measured by llama.cpp (tools/quantize README,
# Llama-3.1-8B); Q4_0 computed from its block layout.
BITS_PER_WEIGHT = {
    "Q2_K": 3.1593,
    "Q3_K_S": 3.6429,
    "IQ3_M": 3.7628,
    "Q3_K_L": 4.2979,
    "IQ4_XS": 4.4597,
    "Q4_0": 4.55,
    "Q4_K_S": 4.6672,
    "Q4_K_M": 4.8944,
    "Q5_K_S": 5.5704,
    "Q5_K_M": 5.7036,
    "Q6_K": 6.5633,
    "Q8_0": 8.5008,
    "F16": 16.0005,
    "BF16": 16.0,
}
SUGGESTED_QUANTIZATIONS = ("Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q4_K_S", "IQ4_XS", "Q3_K_S", "Q2_K")


@dataclass(frozen=True)
class ModelShape:
    """What the estimate needs to know about a model (from /api/tags and /api/show)."""

    name: str
    weights_bytes: int
    block_count: int
    embedding_length: int
    head_count: int
    head_count_kv: int
    context_length: int | None = None
    key_length: int | None = None
    value_length: int | None = None
    vocab_size: int | None = None
    quantization: str = ""

    @property
    def head_dims(self) -> tuple[int, int]:
        default = self.embedding_length // max(1, self.head_count)
        return self.key_length or default, self.value_length or default


@dataclass(frozen=True)
class FitEstimate:
    model: str
    num_ctx: int
    available_bytes: tuple[int, ...]
    """Per GPU, what Ollama could use for this model."""
    weights_bytes: int
    kv_bytes: int
    graph_full_bytes: int
    graph_partial_bytes: int
    overhead_bytes: int
    """The 457 MiB minimum and the one-layer buffer, on one GPU."""
    needed_bytes: int
    """Everything on the GPU(s): weights, KV cache, graph and overhead."""
    layers_total: int
    """Repeating layers plus the output layer, as Ollama counts them."""
    layers_on_gpu: int
    gpus_used: int
    cpu_bytes: int
    gpu_bytes: int
    suggestions: tuple[str, ...] = ()
    embedding_bytes: int = 0
    """The input embedding, in system RAM wherever the layers go (part of ``cpu_bytes``)."""

    @property
    def size_bytes(self) -> int:
        """The model's size as ``/api/ps`` would report it: Ollama counts the input embedding
        neither in VRAM nor in what overflows to RAM."""
        return self.gpu_bytes + max(0, self.cpu_bytes - self.embedding_bytes)

    @property
    def size_vram_bytes(self) -> int:
        """Its ``size_vram``, as ``/api/ps`` would report it."""
        return self.gpu_bytes

    @property
    def placement(self) -> str:
        if self.layers_on_gpu >= self.layers_total:
            return "fits"
        if self.layers_on_gpu == 0:
            return "cpu"
        return "partial"

    @property
    def cpu_share(self) -> float:
        """The share `ollama ps` would print as CPU: 0 for a model that fits, 1 on the CPU."""
        share = cpu_share(self.size_bytes, self.size_vram_bytes)
        return 1.0 if share is None else share

    def words(self) -> str:
        if self.placement == "fits":
            gpus = f" on {self.gpus_used} GPUs" if self.gpus_used > 1 else ""
            return f"fits{gpus}: 100% GPU, needs {self.needed_bytes / GIB:.1f} GiB"
        if self.placement == "cpu":
            return "CPU only: not one layer fits in the free VRAM"
        return (
            f"≈{self.cpu_share:.0%} on CPU: {self.layers_on_gpu} of {self.layers_total} layers "
            f"on the GPU (needs {self.needed_bytes / GIB:.1f} GiB for all)"
        )

    def short(self) -> str:
        """For a model list: ``fits``, ``~46% CPU``, ``CPU only``."""
        if self.placement == "fits":
            return "fits"
        if self.placement == "cpu":
            return "CPU only"
        return f"~{self.cpu_share:.0%} CPU"


def kv_cache_bytes(shape: ModelShape, num_ctx: int, num_parallel: int = 1) -> int:
    key, value = shape.head_dims
    per_layer = num_ctx * num_parallel * (key + value) * shape.head_count_kv * 2
    return per_layer * shape.block_count


def graph_bytes(shape: ModelShape, num_ctx: int, num_parallel: int = 1) -> tuple[int, int]:
    """(full offload, partial offload) compute graph, as Ollama's llama GraphSize."""
    ctx = num_ctx * num_parallel
    batch = min(BATCH, ctx)
    emb = shape.embedding_length
    heads = shape.head_count
    kv_heads = shape.head_count_kv
    vocab = shape.vocab_size or DEFAULT_VOCAB
    full = max(4 * batch * (1 + 4 * emb + ctx * (1 + heads)), 4 * batch * (emb + vocab))
    partial = 4 * batch * emb + max(
        4 * batch * (1 + emb + max(ctx, emb))
        + emb * emb * 9 // 16
        + 4 * ctx * (batch * heads + emb // heads * kv_heads),
        4 * batch * (emb + vocab) + emb * vocab * 105 // 128,
    )
    return full, partial


def output_layer_bytes(shape: ModelShape) -> int:
    vocab = shape.vocab_size or DEFAULT_VOCAB
    return min(
        int(shape.embedding_length * vocab * OUTPUT_BITS_PER_WEIGHT / 8), shape.weights_bytes // 4
    )


def input_embedding_bytes(shape: ModelShape) -> int:
    vocab = shape.vocab_size or DEFAULT_VOCAB
    bits = BITS_PER_WEIGHT.get(normalise_quantization(shape.quantization), 4.9)
    return min(int(shape.embedding_length * vocab * bits / 8), shape.weights_bytes // 4)


def estimate(
    shape: ModelShape,
    num_ctx: int,
    available_bytes: Sequence[int],
    *,
    num_parallel: int = 1,
    suggest: bool = True,
) -> FitEstimate:
    """Where Ollama would put ``shape`` at ``num_ctx``, given each GPU's usable VRAM."""
    if shape.context_length:
        num_ctx = min(num_ctx, shape.context_length)
    kv = kv_cache_bytes(shape, num_ctx, num_parallel)
    full_graph, partial_graph = graph_bytes(shape, num_ctx, num_parallel)
    output = output_layer_bytes(shape)
    embedding = input_embedding_bytes(shape)
    blocks = shape.block_count
    layer = (shape.weights_bytes - output - embedding) / blocks + kv / blocks
    overhead = MINIMUM_PER_GPU_BYTES + math.ceil(layer)
    needed = overhead + math.ceil(layer * blocks) + output + full_graph
    gpus = sorted((max(0, free) for free in available_bytes), reverse=True)

    layers_on_gpu = 0
    gpus_used = 0
    # Ollama packs a model onto the fewest GPUs that hold all of it.
    for count in range(1, len(gpus) + 1):
        room = sum(free - overhead - full_graph for free in gpus[:count])
        if room >= layer * blocks + output:
            layers_on_gpu, gpus_used = blocks + 1, count
            break
    if not layers_on_gpu:
        # Split: whole layers on every GPU that takes at least one; the output stays in RAM.
        for free in gpus:
            fit = int((free - overhead - partial_graph) // layer) if layer > 0 else 0
            if fit > 0:
                take = min(fit, blocks - layers_on_gpu)
                layers_on_gpu += take
                gpus_used += 1
            if layers_on_gpu >= blocks:
                layers_on_gpu = blocks  # all blocks but not the output: still a split
                break
    if layers_on_gpu > blocks:
        cpu_bytes = embedding
        gpu_bytes = needed + (gpus_used - 1) * (overhead + full_graph)
    elif layers_on_gpu == 0:
        cpu_bytes = math.ceil(layer * blocks) + output + embedding
        gpu_bytes = 0
    else:
        cpu_bytes = math.ceil(layer * (blocks - layers_on_gpu)) + output + embedding
        gpu_bytes = math.ceil(layer * layers_on_gpu) + gpus_used * (overhead + partial_graph)
    result = FitEstimate(
        model=shape.name,
        num_ctx=num_ctx,
        available_bytes=tuple(available_bytes),
        weights_bytes=shape.weights_bytes,
        kv_bytes=kv,
        graph_full_bytes=full_graph,
        graph_partial_bytes=partial_graph,
        overhead_bytes=overhead,
        needed_bytes=needed,
        layers_total=blocks + 1,
        layers_on_gpu=layers_on_gpu,
        gpus_used=gpus_used,
        cpu_bytes=cpu_bytes,
        gpu_bytes=gpu_bytes,
        embedding_bytes=embedding,
    )
    if suggest and result.placement != "fits" and gpus:
        result = replace(result, suggestions=tuple(_suggestions(shape, result, num_parallel)))
    return result


def _suggestions(shape: ModelShape, result: FitEstimate, num_parallel: int) -> list[str]:
    """What would make it fit: a smaller quantization, a smaller context, num_gpu."""
    suggestions = []
    available = result.available_bytes
    current = BITS_PER_WEIGHT.get(normalise_quantization(shape.quantization))
    if current:
        for quantization in SUGGESTED_QUANTIZATIONS:
            bits = BITS_PER_WEIGHT[quantization]
            if bits >= current:
                continue
            smaller = replace(shape, weights_bytes=int(shape.weights_bytes * bits / current))
            if (
                estimate(
                    smaller, result.num_ctx, available, num_parallel=num_parallel, suggest=False
                ).placement
                == "fits"
            ):
                suggestions.append(
                    f"a {quantization} build of the same model (≈{smaller.weights_bytes / 1e9:.0f}"
                    f" GB) would fit"
                )
                break
        else:
            suggestions.append("no common quantization of this model fits this VRAM")
    weights_alone = shape.weights_bytes + MINIMUM_PER_GPU_BYTES
    if weights_alone > sum(available):
        suggestions.append(
            f"the weights alone ({shape.weights_bytes / GIB:.1f} GiB) exceed the VRAM: "
            "a smaller context cannot make it fit"
        )
    else:
        ctx = result.num_ctx // 2
        while ctx >= 1024:
            if (
                estimate(shape, ctx, available, num_parallel=num_parallel, suggest=False).placement
                == "fits"
            ):
                saved = (result.kv_bytes - kv_cache_bytes(shape, ctx, num_parallel)) / GIB
                suggestions.append(f"num_ctx {ctx} would fit (KV cache {saved:.1f} GiB smaller)")
                break
            ctx //= 2
    if result.placement == "partial":
        suggestions.append(
            f"num_gpu {result.layers_on_gpu} is the most layers that fit; lower keeps VRAM free"
        )
    return suggestions


def normalise_quantization(text: str) -> str:
    """``q4_K_M`` / ``Q4_K_M`` / ``Q4_K - Medium`` → ``Q4_K_M``."""
    text = text.strip().upper().replace(" - MEDIUM", "_M").replace(" - SMALL", "_S")
    return re.sub(r"[^A-Z0-9_]", "", text)


def ollama_default_num_ctx(version: str | None, total_vram_bytes: int) -> int:
    """The context Ollama uses when a request does not set num_ctx.

    2048 up to v0.6.6; 4096 from v0.6.7; from v0.15.5 by total VRAM: 4k below about 23 GiB,
    32k below about 47 GiB, 256k above (always clamped to the model's own maximum).
    """
    numbers = tuple(int(part) for part in re.findall(r"\d+", version or "")[:3])
    if numbers and numbers < (0, 6, 7):
        return 2048
    if not numbers or numbers < (0, 15, 5):
        return 4096
    if total_vram_bytes >= 47 * GIB:
        return 262_144
    if total_vram_bytes >= 23 * GIB:
        return 32_768
    return 4096


def shape_from(facts, size_bytes: int) -> ModelShape | None:
    """A :class:`ModelShape` from ``/api/show`` facts and the ``/api/tags`` size; None when the
    model does not say enough (an embedding model, an unusual architecture) or says nonsense (a
    count that is not a positive whole number)."""
    needed = (facts.block_count, facts.embedding_length, facts.head_count, size_bytes)
    if not all(_positive(value) for value in needed):
        return None

    def optional(value):
        return int(value) if _positive(value) else None

    return ModelShape(
        name=facts.name,
        weights_bytes=int(size_bytes),
        block_count=int(facts.block_count),
        embedding_length=int(facts.embedding_length),
        head_count=int(facts.head_count),
        head_count_kv=optional(facts.head_count_kv) or int(facts.head_count),
        context_length=optional(facts.context_length),
        key_length=optional(facts.key_length),
        value_length=optional(facts.value_length),
        vocab_size=optional(facts.vocab_size),
        quantization=facts.quantization if isinstance(facts.quantization, str) else "",
    )


def _positive(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**63


def usable_vram(gpus, runner_bytes_by_gpu: dict[int, int] | None = None) -> list[int]:
    """Per GPU, what Ollama could give a new model: free VRAM plus what its runners hold
    (it unloads idle models to make room). Lost GPUs offer nothing."""
    runner_bytes_by_gpu = runner_bytes_by_gpu or {}
    usable = []
    for gpu in gpus:
        if gpu.lost or gpu.memory_total_bytes is None:
            continue
        free = gpu.memory_free_bytes
        if free is None and gpu.memory_used_bytes is not None:
            free = gpu.memory_total_bytes - gpu.memory_used_bytes - (gpu.memory_reserved_bytes or 0)
        usable.append(max(0, (free or 0) + runner_bytes_by_gpu.get(gpu.index, 0)))
    return usable
