"""Where a loaded model lives: the GPU/CPU split as `ollama ps` prints it, checked with NVML."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from rigtui.llm.ollama import RunningModel
from rigtui.telemetry.model import GpuProcess, GpuReading

GIB = 1024**3


def processor_split(size: int, size_vram: int) -> str:
    """The PROCESSOR column of ``ollama ps`` (cmd/cmd.go), with its rounding."""
    if size_vram == 0:
        return "100% CPU"
    if size_vram == size:
        return "100% GPU"
    if size_vram > size or size == 0:
        return "Unknown"
    # Go's math.Round rounds halves away from zero; Python's round() would round 50.5 to 50.
    cpu_percent = math.floor((size - size_vram) / size * 100 + 0.5)
    return f"{cpu_percent}%/{100 - cpu_percent}% CPU/GPU"


def cpu_share(size: int, size_vram: int) -> float | None:
    """The fraction of the model in system RAM (0 fully on GPU, 1 CPU only); None if unknown."""
    if size <= 0 or size_vram > size:
        return None
    return (size - size_vram) / size


def is_ollama_runner(process: GpuProcess) -> bool:
    """The process that holds a loaded model: ``ollama runner`` (or the older llama server)."""
    name = (process.name or "").lower()
    command = (process.command or "").lower()
    if name.startswith("ollama_llama_server") or "ollama_llama_server" in command:
        return True
    return name.startswith("ollama") and (" runner" in command or not command)


@dataclass(frozen=True)
class CrossCheck:
    """What Ollama says is in VRAM next to what NVML sees its runner processes hold."""

    claimed_vram_bytes: int
    runner_vram_bytes: int | None
    """None when NVML cannot attribute memory to processes (or shows no runner)."""
    agrees: bool | None
    """None when there is nothing to compare."""
    loading: bool = False
    """A model is still being copied to the GPU: the runner holds less than it will."""

    def explain(self) -> str:
        claimed = self.claimed_vram_bytes / GIB
        if self.loading and self.runner_vram_bytes is not None:
            return (
                f"loading: the runner holds {self.runner_vram_bytes / GIB:.1f} of the "
                f"{claimed:.1f} GiB Ollama plans for VRAM so far"
            )
        if self.runner_vram_bytes is None:
            return (
                f"Ollama says {claimed:.1f} GiB in VRAM; NVML shows no runner process with a "
                "memory figure to check it against"
            )
        held = self.runner_vram_bytes / GIB
        if self.agrees:
            return f"NVML agrees: the runner holds {held:.1f} GiB (Ollama says {claimed:.1f})"
        if held < claimed:
            return (
                f"Ollama says {claimed:.1f} GiB in VRAM but its runner holds only {held:.1f} GiB: "
                "the model may be running on the CPU"
            )
        return (
            f"The runner holds {held:.1f} GiB of VRAM but Ollama says {claimed:.1f} GiB: "
            "another model or a leak"
        )


def runner_gpus(gpus: Iterable[GpuReading]) -> tuple[int, ...]:
    """The GPUs on which an Ollama runner holds memory."""
    return tuple(
        gpu.index
        for gpu in gpus
        if any(is_ollama_runner(process) for process in gpu.processes or ())
    )


def runner_bytes_by_gpu(gpus: Iterable[GpuReading]) -> dict[int, int]:
    """VRAM the Ollama runners hold, per GPU."""
    held: dict[int, int] = {}
    for gpu in gpus:
        for process in gpu.processes or ():
            if is_ollama_runner(process) and process.used_memory_bytes:
                held[gpu.index] = held.get(gpu.index, 0) + process.used_memory_bytes
    return held


def runner_vram_bytes(gpus: Iterable[GpuReading]) -> int | None:
    total = 0
    seen = False
    for gpu in gpus:
        for process in gpu.processes or ():
            if is_ollama_runner(process) and process.used_memory_bytes is not None:
                total += process.used_memory_bytes
                seen = True
    return total if seen else None


def cross_check(
    running: Iterable[RunningModel], gpus: Iterable[GpuReading], *, loading: bool = False
) -> CrossCheck:
    """Compare all loaded models with all runner processes (NVML cannot tell runners apart).

    The runner also holds its CUDA context and scratch buffers, so a few hundred MiB more than
    Ollama's figure is normal; a disagreement is a runner holding under half of what Ollama
    claims, or a "100% CPU" model whose runner holds gigabytes.
    """
    claimed = sum(model.size_vram_bytes for model in running)
    held = runner_vram_bytes(gpus)
    if held is None:
        return CrossCheck(claimed, None, None, loading)
    if loading and held < claimed:
        return CrossCheck(claimed, held, None, loading=True)
    agrees = held >= claimed * 0.5 if claimed >= GIB else held < 2 * GIB
    return CrossCheck(claimed, held, agrees)


def offload_advice(model: RunningModel) -> str | None:
    """In plain words: how much of the model spilled to the CPU, why it is slow, what helps."""
    share = cpu_share(model.size_bytes, model.size_vram_bytes)
    if share is None or share <= 0:
        return None
    in_ram = (model.size_bytes - model.size_vram_bytes) / 1e9
    total = model.size_bytes / 1e9
    if model.size_vram_bytes == 0:
        lead = (
            f"{model.name} runs entirely on the CPU ({total:.1f} GB in system RAM): expect a "
            "few tokens per second."
        )
    else:
        lead = (
            f"{model.name} is {share:.0%} on the CPU: {in_ram:.1f} of its {total:.1f} GB sit in "
            "system RAM, so every token waits for the CPU and the GPU idles in between."
        )
    context = f"num_ctx, now {model.context_length}" if model.context_length else "num_ctx"
    return (
        f"{lead} Usual remedies: a smaller quantization of the same model, a smaller context "
        f"({context}), or set num_gpu to choose how many layers go to the GPU."
    )
