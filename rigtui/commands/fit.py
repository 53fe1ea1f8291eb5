"""``rigtui fit``: for every installed model, whether it fits in VRAM, and what would make it."""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import dataclass, replace

from rigtui.commands.output import emit
from rigtui.commands.snapshot import take_snapshot
from rigtui.config import Settings
from rigtui.insight.fit import estimate, ollama_default_num_ctx, shape_from, usable_vram
from rigtui.llm.ollama import OllamaClient, OllamaError
from rigtui.llm.placement import runner_bytes_by_gpu
from rigtui.sources import DemoOptions, open_rig
from rigtui.text.safe import printable


@dataclass(frozen=True)
class FitOptions:
    num_ctx: int | None = None
    """The context to plan for; None: Ollama's default for its version and this VRAM."""
    vram_gib: tuple[float, ...] = ()
    """Plan for GPUs with this much usable VRAM each instead of this machine's."""
    as_json: bool = False


def run(settings: Settings, demo: DemoOptions | None, options: FitOptions) -> int:
    """Estimate every installed model against the VRAM Ollama could use; the exit code."""
    # A demo stands still at its moment: the figures are of one instant of the story.
    with open_rig(settings, demo, still=True) as rig:
        if options.vram_gib:
            available = [int(gib * 1024**3) for gib in options.vram_gib]
            names = [f"GPU {i} (--vram)" for i in range(len(available))]
            total = sum(available)
            how = "as given with --vram"
        else:
            snapshot = take_snapshot(rig.sampler, prime_delay_s=0.0)
            gpus = [gpu for gpu in snapshot.gpus if not gpu.lost]
            available = usable_vram(gpus, runner_bytes_by_gpu(gpus))
            names = [f"GPU {gpu.index} {gpu.name or ''}".strip() for gpu in gpus]
            total = sum(gpu.memory_total_bytes or 0 for gpu in gpus)
            how = "free now plus what Ollama's own models hold"
        address = rig.ollama_address

        async def ask():
            client = OllamaClient(address)
            try:
                return await client.ollama_version(), await gather_models(client)
            finally:
                await client.close()

        try:
            version, models = asyncio.run(ask())
        except OllamaError as error:
            print(f"rigtui: {error}", file=sys.stderr)
            return 1
    num_ctx = options.num_ctx or ollama_default_num_ctx(version, total)
    rows = fit_rows(models, num_ctx, available)
    if options.as_json:
        document = {
            "ollama": {"address": address.display, "version": version},
            "num_ctx": num_ctx,
            "available_vram_bytes": available,
            "models": rows,
        }
        emit(json.dumps(document, indent=2) + "\n")
    else:
        emit(format_fit_table(rows, available, names, num_ctx, how))
    return 0


async def gather_models(client) -> list[tuple]:
    """(installed model, its /api/show facts or None) for every installed model."""
    models = []
    for model in await client.installed():
        try:
            facts = replace(await client.facts(model.name), size_bytes=model.size_bytes)
        except OllamaError:
            facts = None
        models.append((model, facts))
    return models


def fit_rows(models, num_ctx: int, available: list[int]) -> list[dict]:
    """One row per installed model: its estimate at ``num_ctx`` against ``available`` VRAM."""
    rows = []
    for model, facts in models:
        shape = shape_from(facts, model.size_bytes) if facts is not None else None
        row = {
            "model": model.name,
            "size_bytes": model.size_bytes,
            "parameter_size": model.parameter_size,
            "quantization": model.quantization,
            "num_ctx": num_ctx,
        }
        if shape is None:
            row.update(placement=None, reason="no layer shape (an embedding or unusual model)")
            rows.append(row)
            continue
        result = estimate(shape, num_ctx, available)
        row.update(
            num_ctx=result.num_ctx,
            placement=result.placement,
            needed_bytes=result.needed_bytes,
            weights_bytes=result.weights_bytes,
            kv_cache_bytes=result.kv_bytes,
            graph_bytes=result.graph_full_bytes,
            overhead_bytes=result.overhead_bytes,
            layers_total=result.layers_total,
            layers_on_gpu=result.layers_on_gpu,
            cpu_share=round(result.cpu_share, 4),
            words=result.words(),
            suggestions=list(result.suggestions),
        )
        rows.append(row)
    return rows


def format_fit_table(
    rows: list[dict], available: list[int], gpu_names: list[str], num_ctx: int, how: str
) -> str:
    gib = 1024**3
    lines = []
    if available:
        cards = ", ".join(
            f"{name}: {free / gib:.1f} GiB"
            for name, free in zip(gpu_names, available, strict=False)
        )
        lines.append(f"VRAM Ollama could use ({how}): {cards}")
    else:
        lines.append(f"No GPU ({how}): every model would run on the CPU.")
    lines.append(f"Context: num_ctx {num_ctx} (clamped to each model's maximum)")
    lines.append("")
    header = f"{'MODEL':<30} {'SIZE':>8} {'PARAMS':>7} {'QUANT':<8} {'NEEDS':>9}  PLACEMENT"
    lines.append(header)
    for row in rows:
        needs = f"{row['needed_bytes'] / gib:.1f} GiB" if row.get("needed_bytes") else "-"
        if row.get("placement") is None:
            placement = row["reason"]
        elif row["placement"] == "fits":
            placement = "fits: 100% GPU"
        elif row["placement"] == "cpu":
            placement = "CPU only"
        else:
            placement = (
                f"~{row['cpu_share']:.0%} on CPU ({row['layers_on_gpu']}/{row['layers_total']}"
                " layers on GPU)"
            )
        lines.append(
            f"{printable(row['model'])[:30]:<30} {row['size_bytes'] / 1e9:>6.1f}GB "
            f"{row['parameter_size']:>7} {row['quantization']:<8} {needs:>9}  {placement}"
        )
        for suggestion in row.get("suggestions", ()):
            lines.append(f"{'':<30}   → {suggestion}")
    return "\n".join(lines) + "\n"
