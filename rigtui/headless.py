"""Commands that run without the TUI: for scripts, cron and quick looks over SSH."""

from __future__ import annotations

import json
import time
from typing import TextIO

from rigtui.telemetry.export import snapshot_to_dict
from rigtui.telemetry.model import RigSnapshot
from rigtui.telemetry.sampler import RigSampler
from rigtui.text import units
from rigtui.text.safe import printable

PRIME_DELAY_S = 0.3
"""CPU load is measured between two reads; this is the gap for a one-off snapshot."""


def take_snapshot(sampler: RigSampler, *, prime_delay_s: float = PRIME_DELAY_S) -> RigSnapshot:
    sampler.open()
    try:
        time.sleep(prime_delay_s)
        return sampler.sample()
    finally:
        sampler.close()


def write_json(snapshot: RigSnapshot, out: TextIO) -> None:
    json.dump(snapshot_to_dict(snapshot), out, indent=2)
    out.write("\n")


def format_table(snapshot: RigSnapshot) -> str:
    """A compact, plain-text reading (no colours, safe to pipe)."""
    lines = []
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(snapshot.taken_at))
    nvml = snapshot.nvml
    head = f"{snapshot.hostname} · {stamp}"
    if nvml.available:
        head += f" · driver {nvml.driver_version} · CUDA {nvml.cuda_version}"
    lines.append(head)
    if not snapshot.gpus:
        lines.append(f"no GPU: {nvml.error or 'NVML shows no GPU'}")
    for gpu in snapshot.gpus:
        lines.append(f"GPU {gpu.index}  {gpu.name or '?'}")
        if gpu.lost:
            lines.append("  LOST: the GPU fell off the bus (GPU_IS_LOST)")
            continue
        fans = " ".join("N/A" if f.speed_pct is None else f"{f.speed_pct}%" for f in gpu.fans)
        fans = fans or f"N/A ({gpu.reason('fans') or 'no fan'})"
        vram = (
            f"{units.gib(gpu.memory_used_bytes)}/{units.gib(gpu.memory_total_bytes)} GiB"
            if gpu.memory_used_bytes is not None
            else "N/A"
        )
        lines.append(
            f"  util {units.percent(gpu.utilization_gpu_pct)}"
            f"  mem {units.percent(gpu.utilization_memory_pct)}"
            f"  VRAM {vram}"
            f"  temp {units.celsius(gpu.temperature_c)}"
            f" (slowdown {units.celsius(gpu.temperature_slowdown_c)})"
            f"  fans {fans}"
        )
        power = units.watts(gpu.power_draw_w)
        if gpu.power_limit_w is not None and gpu.power_draw_w is not None:
            power = f"{gpu.power_draw_w:.0f}/{gpu.power_limit_w:.0f} W"
        pstate = f" P{gpu.pstate}" if gpu.pstate is not None else ""
        reasons = units.clock_event_words(gpu.clocks_event_reasons) or "none"
        lines.append(
            f"  power {power}{pstate}"
            f"  SM {units.mhz(gpu.clocks_sm_mhz)}/{units.mhz(gpu.clocks_sm_max_mhz)} MHz"
            f"  PCIe {units.pcie_link(gpu.pcie_link_gen, gpu.pcie_link_width)}"
            f" / {units.pcie_link(gpu.pcie_link_gen_max, gpu.pcie_link_width_max)}"
            f"  RX {units.rate(gpu.pcie_rx_bytes_per_s)}  TX {units.rate(gpu.pcie_tx_bytes_per_s)}"
            f"  clocks held by: {reasons}"
        )
        for process in gpu.processes or ():
            lines.append(
                f"  pid {process.pid:<7} {printable(process.name or '(not visible)'):<16}"
                f" {units.size(process.used_memory_bytes)}"
            )
    cpu = snapshot.cpu
    load = ""
    if cpu.load_average is not None:
        load = "  load " + " ".join(f"{value:.2f}" for value in cpu.load_average)
    memory = snapshot.memory
    lines.append(
        f"CPU {cpu.percent:.1f}% of {cpu.logical_count} threads{load}"
        f"  RAM {units.gib(memory.used_bytes)}/{units.gib(memory.total_bytes)} GiB"
        f"  swap {units.gib(memory.swap_used_bytes)}/{units.gib(memory.swap_total_bytes)} GiB"
    )
    for process in snapshot.processes[:5]:
        lines.append(
            f"  pid {process.pid:<7} {printable(process.name):<16} {process.cpu_pct:6.1f}% CPU"
            f"  {units.size(process.rss_bytes)}"
        )
    return "\n".join(lines) + "\n"


# --- rigtui fit --------------------------------------------------------------------------------


async def gather_models(client) -> list[tuple]:
    """(installed model, its /api/show facts or None) for every installed model."""
    from dataclasses import replace

    from rigtui.llm.ollama import OllamaError

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
    from rigtui.insight.fit import estimate, shape_from

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


# --- rigtui record -----------------------------------------------------------------------------


async def record(
    sampler: RigSampler,
    writer,
    *,
    interval_s: float,
    duration_s: float | None,
    client=None,
    progress: TextIO | None = None,
) -> None:
    """Sample every ``interval_s`` until ``duration_s`` (or until interrupted), writing each."""
    import asyncio

    from rigtui.llm.ollama import OllamaError
    from rigtui.telemetry.power import FAST_SAMPLE_S, spikes_possible

    await asyncio.to_thread(sampler.open)
    try:
        started = time.monotonic()
        next_due = started
        while True:
            snapshot = await asyncio.to_thread(sampler.sample)
            models = error = None
            if client is not None:
                try:
                    models = await client.running()
                except OllamaError as failure:
                    error = str(failure)
            writer.write(snapshot, models, error)
            if progress is not None:
                elapsed = time.monotonic() - started
                progress.write(
                    f"\rrecording {writer.path}: {writer.samples} samples, {elapsed:.0f} s "
                    "(Ctrl-C stops)  "
                )
                progress.flush()
            if duration_s is not None and time.monotonic() - started >= duration_s:
                return
            next_due += interval_s
            # Between samples, power alone ten times a second while a GPU works: the recorded
            # peaks are real (a resting GPU does not spike).
            fast = sampler.fast_power and spikes_possible(snapshot.gpus)
            while (wait := next_due - time.monotonic()) > 0:
                if fast:
                    await asyncio.to_thread(sampler.sample_power)
                    wait = next_due - time.monotonic()
                await asyncio.sleep(min(max(wait, 0), FAST_SAMPLE_S) if fast else wait)
    finally:
        await asyncio.to_thread(sampler.close)
