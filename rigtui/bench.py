"""``rigtui bench``: what each model does on this rig, repeatably.

For every model and prompt (and repeat): the load time, time to first token, prompt and
generation rates, the model's GPU/CPU split, the peak VRAM, average and peak power while
generating, and the energy per token — measured from the rig while the run happens (a sampling
thread reads NVML: the whole rig twice a second, power ten times a second).
"""

from __future__ import annotations

import csv
import io
import json
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

from rigtui.llm.ollama import (
    ChatOptions,
    ModelNotFoundError,
    OllamaClient,
    OllamaError,
    ReplyEnd,
    ReplyPiece,
)
from rigtui.llm.placement import cpu_share, processor_split, runner_gpus
from rigtui.llm.stats import per_second, seconds
from rigtui.telemetry.model import RigSnapshot
from rigtui.telemetry.sampler import RigSampler

DEFAULT_PROMPTS = (
    "In two short paragraphs, explain what limits token generation speed on a single GPU.",
    "Write a Python function that parses a CSV line with quoted fields, with a docstring.",
    "List five checks to run when a local language model suddenly answers slowly.",
)
DEFAULT_MAX_TOKENS = 256


@dataclass(frozen=True)
class BenchRun:
    model: str
    prompt: int
    """Index into the prompt list."""
    repeat: int
    ok: bool
    error: str | None = None
    load_s: float | None = None
    time_to_first_token_s: float | None = None
    prompt_tokens: int | None = None
    prompt_tokens_per_s: float | None = None
    generated_tokens: int | None = None
    generated_tokens_per_s: float | None = None
    gpu_share: float | None = None
    """The model's share in VRAM (from /api/ps: size_vram / size)."""
    processor: str | None = None
    """As ``ollama ps`` prints it."""
    peak_vram_bytes: int | None = None
    average_power_w: float | None = None
    peak_power_w: float | None = None
    energy_j: float | None = None
    joules_per_token: float | None = None
    energy_method: str | None = None


FIELDS = tuple(BenchRun.__dataclass_fields__)


class RigWatcher:
    """A background thread sampling the rig while a benchmark runs (NVML stays on one thread)."""

    def __init__(self, sampler: RigSampler, interval_s: float = 0.5) -> None:
        self.sampler = sampler
        self.interval_s = interval_s
        self.snapshots: list[RigSnapshot] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="rigtui-bench-sampler", daemon=True)
        self.error: str | None = None

    def __enter__(self) -> RigWatcher:
        self.sampler.open()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sampler.close()

    def _run(self) -> None:
        next_full = time.monotonic()
        while not self._stop.is_set():
            try:
                if time.monotonic() >= next_full:
                    snapshot = self.sampler.sample()
                    with self._lock:
                        self.snapshots.append(snapshot)
                        del self.snapshots[:-4000]  # bounded
                    next_full += self.interval_s
                elif self.sampler.fast_power:
                    self.sampler.sample_power()
            except Exception as error:  # noqa: BLE001 - reported with the results, not fatal
                self.error = str(error)
            self._stop.wait(0.1)

    def now(self) -> float:
        return self.sampler.clock()

    def between(self, start: float, end: float) -> list[RigSnapshot]:
        with self._lock:
            return [s for s in self.snapshots if start <= s.taken_at <= end]

    def latest(self) -> RigSnapshot | None:
        with self._lock:
            return self.snapshots[-1] if self.snapshots else None


async def run_one(
    client: OllamaClient,
    watcher: RigWatcher | None,
    model: str,
    prompt: str,
    options: ChatOptions,
) -> dict:
    """One request, streamed; the figures Ollama reports plus what the rig did meanwhile."""
    started = time.monotonic()
    rig_start = watcher.now() if watcher else None
    first_piece = None
    first_at = last_at = None
    end: ReplyEnd | None = None
    async for item in client.chat(model, [{"role": "user", "content": prompt}], options):
        if isinstance(item, ReplyPiece):
            if first_piece is None:
                first_piece = item.arrived_at - started
                first_at = watcher.now() if watcher else None
            last_at = watcher.now() if watcher else None
        else:
            end = item
    result = {"time_to_first_token_s": first_piece, "end": end}
    if watcher is not None and rig_start is not None:
        rig_end = watcher.now()
        # From the sample just before the run: a short run may fall between two samples.
        window = watcher.between(rig_start - watcher.interval_s, rig_end)
        if window:
            result["peak_vram_bytes"] = max(
                sum(gpu.memory_used_bytes or 0 for gpu in snapshot.gpus) for snapshot in window
            )
        latest = watcher.latest()
        gpus = runner_gpus(latest.gpus) if latest else ()
        if not gpus and latest:
            gpus = tuple(gpu.index for gpu in latest.gpus if not gpu.lost)
        if first_at is not None and last_at is not None and last_at > first_at:
            result["energy"] = watcher.sampler.power_watch.energy(gpus, first_at, last_at)
    return result


async def run_bench(
    client: OllamaClient,
    models: Sequence[str],
    prompts: Sequence[str],
    *,
    repeat: int = 1,
    warmup: bool = True,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    num_ctx: int | None = None,
    watcher: RigWatcher | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> list[BenchRun]:
    """Every model × prompt × repeat. A model that fails is reported, not fatal."""
    runs: list[BenchRun] = []
    options = ChatOptions(
        temperature=0.0, num_ctx=num_ctx, extra={"num_predict": max_tokens, "seed": 42}
    )
    per_model = len(prompts) * repeat
    total = len(models) * per_model
    for model_index, model in enumerate(models):
        done = model_index * per_model
        load_s = None
        try:
            if warmup:
                if progress:
                    progress(f"{model}: loading (warm-up)", done, total)
                warm = await run_one(
                    client,
                    None,
                    model,
                    "Hi.",
                    ChatOptions(num_ctx=num_ctx, extra={"num_predict": 1}),
                )
                end = warm["end"]
                load_s = seconds(end.load_duration_ns) if end else None
            split = await _split(client, model)
            for repeat_index in range(repeat):
                for prompt_index, prompt in enumerate(prompts):
                    if progress:
                        progress(
                            f"{model}: prompt {prompt_index + 1}, run {repeat_index + 1}",
                            done,
                            total,
                        )
                    measured = await run_one(client, watcher, model, prompt, options)
                    runs.append(_run(model, prompt_index, repeat_index, measured, split, load_s))
                    load_s = None  # the load happens once
                    done += 1
        except ModelNotFoundError:
            runs.append(BenchRun(model, 0, 0, ok=False, error="not installed (ollama pull it)"))
        except OllamaError as error:
            runs.append(BenchRun(model, 0, 0, ok=False, error=str(error)))
    if progress:
        progress("done", total, total)
    return runs


async def _split(client: OllamaClient, model: str) -> tuple[float | None, str | None]:
    try:
        running = await client.running()
    except OllamaError:
        return None, None
    wanted = model if ":" in model else f"{model}:latest"
    for loaded in running:
        if loaded.name in (model, wanted):
            share = cpu_share(loaded.size_bytes, loaded.size_vram_bytes)
            return (
                None if share is None else 1.0 - share,
                processor_split(loaded.size_bytes, loaded.size_vram_bytes),
            )
    return None, None


def _run(model, prompt_index, repeat_index, measured: dict, split, load_s) -> BenchRun:
    end: ReplyEnd | None = measured["end"]
    energy = measured.get("energy")
    generated = end.eval_count if end else None
    return BenchRun(
        model=model,
        prompt=prompt_index,
        repeat=repeat_index,
        ok=end is not None,
        error=None if end is not None else "the stream ended without its final chunk",
        load_s=load_s if load_s is not None else (seconds(end.load_duration_ns) if end else None),
        time_to_first_token_s=measured.get("time_to_first_token_s"),
        prompt_tokens=end.prompt_eval_count if end else None,
        prompt_tokens_per_s=per_second(end.prompt_eval_count, end.prompt_eval_duration_ns)
        if end
        else None,
        generated_tokens=generated,
        generated_tokens_per_s=per_second(end.eval_count, end.eval_duration_ns) if end else None,
        gpu_share=split[0],
        processor=split[1],
        peak_vram_bytes=measured.get("peak_vram_bytes"),
        average_power_w=energy.average_w if energy else None,
        peak_power_w=energy.peak_w if energy else None,
        energy_j=energy.joules if energy else None,
        joules_per_token=energy.per_token(generated) if energy else None,
        energy_method=energy.method if energy else None,
    )


# --- results -----------------------------------------------------------------------------------


def summarise(runs: Sequence[BenchRun]) -> list[dict]:
    """Per model, the median of its successful runs (or its error)."""
    summary = []
    for model in dict.fromkeys(run.model for run in runs):
        mine = [run for run in runs if run.model == model]
        good = [run for run in mine if run.ok]
        if not good:
            summary.append({"model": model, "runs": 0, "error": mine[0].error})
            continue

        def median(name: str, runs: list[BenchRun] = good):
            values = [getattr(run, name) for run in runs if getattr(run, name) is not None]
            return statistics.median(values) if values else None

        loads = [run.load_s for run in good if run.load_s is not None]
        summary.append(
            {
                "model": model,
                "runs": len(good),
                "load_s": loads[0] if loads else None,
                "time_to_first_token_s": median("time_to_first_token_s"),
                "prompt_tokens_per_s": median("prompt_tokens_per_s"),
                "generated_tokens_per_s": median("generated_tokens_per_s"),
                "gpu_share": good[0].gpu_share,
                "processor": good[0].processor,
                "peak_vram_bytes": max(
                    (run.peak_vram_bytes for run in good if run.peak_vram_bytes), default=None
                ),
                "average_power_w": median("average_power_w"),
                "peak_power_w": max(
                    (run.peak_power_w for run in good if run.peak_power_w), default=None
                ),
                "joules_per_token": median("joules_per_token"),
            }
        )
    return summary


def _fmt(value, spec: str, suffix: str = "") -> str:
    return "-" if value is None else f"{value:{spec}}{suffix}"


def format_table(runs: Sequence[BenchRun], prompts: Sequence[str]) -> str:
    lines = []
    header = (
        f"{'MODEL':<26} {'RUN':>5} {'LOAD':>6} {'TTFT':>6} {'PROMPT/s':>9} {'GEN/s':>7} "
        f"{'SPLIT':<16} {'VRAM':>8} {'AVG W':>6} {'PEAK W':>7} {'J/TOK':>6}"
    )
    lines.append(header)
    for run in runs:
        if not run.ok:
            lines.append(f"{run.model[:26]:<26} {'-':>5}  failed: {run.error}")
            continue
        vram = None if run.peak_vram_bytes is None else run.peak_vram_bytes / 1024**3
        lines.append(
            f"{run.model[:26]:<26} {run.prompt + 1:>2}/{run.repeat + 1:<2} "
            f"{_fmt(run.load_s, '.2f', 's'):>6} {_fmt(run.time_to_first_token_s, '.2f', 's'):>6} "
            f"{_fmt(run.prompt_tokens_per_s, ',.0f'):>9} "
            f"{_fmt(run.generated_tokens_per_s, '.1f'):>7} "
            f"{(run.processor or '-'):<16} {_fmt(vram, '.1f', 'G'):>8} "
            f"{_fmt(run.average_power_w, '.0f'):>6} {_fmt(run.peak_power_w, '.0f'):>7} "
            f"{_fmt(run.joules_per_token, '.2f'):>6}"
        )
    lines.append("")
    lines.append("Median per model:")
    for row in summarise(runs):
        if not row["runs"]:
            lines.append(f"  {row['model']}: failed: {row['error']}")
            continue
        lines.append(
            f"  {row['model']}: {_fmt(row['generated_tokens_per_s'], '.1f')} tokens/s generated, "
            f"{_fmt(row['prompt_tokens_per_s'], ',.0f')} tokens/s prompt, first token "
            f"{_fmt(row['time_to_first_token_s'], '.2f')} s, {row['processor'] or 'split unknown'}"
            f", {_fmt(row['joules_per_token'], '.2f')} J/token"
        )
    lines.append("")
    lines.append("Prompts: " + " | ".join(f"{i + 1}: {p[:60]}" for i, p in enumerate(prompts)))
    return "\n".join(lines) + "\n"


def to_json(runs: Sequence[BenchRun], prompts: Sequence[str]) -> str:
    return (
        json.dumps(
            {
                "prompts": list(prompts),
                "runs": [asdict(run) for run in runs],
                "summary": summarise(runs),
            },
            indent=2,
        )
        + "\n"
    )


def to_csv(runs: Sequence[BenchRun]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=FIELDS, lineterminator="\n")
    writer.writeheader()
    for run in runs:
        writer.writerow({key: "" if value is None else value for key, value in asdict(run).items()})
    return buffer.getvalue()


def to_markdown(runs: Sequence[BenchRun]) -> str:
    header = (
        "| model | prompt | run | load s | first token s | prompt tok/s | gen tok/s | split "
        "| peak VRAM GiB | avg W | peak W | J/token |"
    )
    lines = [header, "|" + "---|" * 12]
    for run in runs:
        if not run.ok:
            lines.append(f"| {run.model} | | | failed: {run.error} |" + " |" * 8)
            continue
        vram = None if run.peak_vram_bytes is None else run.peak_vram_bytes / 1024**3
        cells = [
            run.model,
            str(run.prompt + 1),
            str(run.repeat + 1),
            _fmt(run.load_s, ".2f"),
            _fmt(run.time_to_first_token_s, ".2f"),
            _fmt(run.prompt_tokens_per_s, ".0f"),
            _fmt(run.generated_tokens_per_s, ".1f"),
            run.processor or "-",
            _fmt(vram, ".1f"),
            _fmt(run.average_power_w, ".0f"),
            _fmt(run.peak_power_w, ".0f"),
            _fmt(run.joules_per_token, ".2f"),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot(runs: Sequence[BenchRun], width: int = 72, height: int = 18) -> str:
    """Generated tokens/s against the model's share on the GPU, one point per model."""
    from plotext import uncolorize
    from plotext._figure import _figure_class

    rows = [row for row in summarise(runs) if row["runs"] and row["gpu_share"] is not None]
    figure = _figure_class()  # a figure of its own: no global plotext state
    figure.plotsize(width, height)
    figure.theme("clear")
    figure.title("generated tokens/s vs share of the model on the GPU")
    figure.xlabel("% on GPU")
    for row in rows:
        figure.scatter(
            [row["gpu_share"] * 100],
            [row["generated_tokens_per_s"]],
            label=row["model"],
            marker="●",
        )
    figure.xlim(0, 105)
    return uncolorize(figure.build()) + "\n"
