"""``rigtui bench``: what each model does on this rig, repeatably.

For every model and prompt (and repeat): the load time, time to first token, prompt and
generation rates, the model's GPU/CPU split, the peak VRAM, average and peak power while
generating, and the energy per token — measured from the rig while the run happens (a sampling
thread reads NVML: the whole rig twice a second, power ten times a second).
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from rigtui.commands.bench_results import (
    BenchRun,
    format_table,
    plot,
    to_csv,
    to_json,
    to_markdown,
)
from rigtui.commands.output import emit
from rigtui.config import Settings, SettingsError
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
from rigtui.sources import DemoOptions, open_rig
from rigtui.telemetry.model import RigSnapshot
from rigtui.telemetry.sampler import RigSampler

DEFAULT_PROMPTS = (
    "In two short paragraphs, explain what limits token generation speed on a single GPU.",
    "Write a Python function that parses a CSV line with quoted fields, with a docstring.",
    "List five checks to run when a local language model suddenly answers slowly.",
)
DEFAULT_MAX_TOKENS = 256


@dataclass(frozen=True)
class BenchOptions:
    models: tuple[str, ...] = ()
    all_models: bool = False
    """Also every installed model (but embedding models)."""
    prompts: tuple[str, ...] = ()
    prompt_file: Path | None = None
    """Prompts separated by blank lines, after ``prompts``; neither: the built-in set."""
    repeat: int = 1
    warmup: bool = True
    max_tokens: int = DEFAULT_MAX_TOKENS
    num_ctx: int | None = None
    output: str = "table"
    """"table", "json", "csv" or "markdown"."""
    plot: bool = False


def run(settings: Settings, demo: DemoOptions | None, options: BenchOptions) -> int:
    """Run the prompt set against the models and print the results; the exit code."""
    try:
        prompts = _prompts(options)
    except SettingsError as error:
        print(f"rigtui: error: {error}", file=sys.stderr)
        return 2
    with open_rig(settings, demo) as rig:
        progress = _progress()

        async def go():
            client = OllamaClient(rig.ollama_address)
            try:
                await client.ollama_version()  # a web server's 404s are not "not installed"
                models = list(options.models)
                if options.all_models:
                    models += [m.name for m in await client.installed() if "embed" not in m.name]
                with RigWatcher(rig.sampler) as watcher:
                    return await run_bench(
                        client,
                        list(dict.fromkeys(models)),
                        prompts,
                        repeat=options.repeat,
                        warmup=options.warmup,
                        max_tokens=options.max_tokens,
                        num_ctx=options.num_ctx,
                        watcher=watcher,
                        progress=progress,
                    )
            finally:
                await client.close()

        try:
            runs = asyncio.run(go())
        except OllamaError as error:
            print(f"\nrigtui: {error}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print("\nrigtui: bench interrupted", file=sys.stderr)
            return 130
    return _output(options, runs, prompts)


def _prompts(options: BenchOptions) -> list[str]:
    prompts = list(options.prompts)
    if options.prompt_file is not None:
        try:
            text = options.prompt_file.read_text(encoding="utf-8")
        except OSError as error:
            raise SettingsError(f"cannot read {options.prompt_file}: {error.strerror}") from None
        except UnicodeDecodeError:
            raise SettingsError(f"{options.prompt_file} is not UTF-8 text") from None
        prompts += [block.strip() for block in text.split("\n\n") if block.strip()]
        if not prompts:
            raise SettingsError(f"{options.prompt_file} holds no prompt")
    return prompts or list(DEFAULT_PROMPTS)


def _output(options: BenchOptions, runs: list[BenchRun], prompts: list[str]) -> int:
    if options.output == "json":
        emit(to_json(runs, prompts))
    elif options.output == "csv":
        emit(to_csv(runs))
    elif options.output == "markdown":
        emit(to_markdown(runs))
    else:
        emit(format_table(runs, prompts))
    if options.plot:
        emit(plot(runs))
    return 0 if any(run.ok for run in runs) else 1


def _progress() -> Callable[[str, int, int], None]:
    """A bar on a terminal; plain lines when stderr goes to a file or a pipe."""
    if not sys.stderr.isatty():

        def lines(what: str, done: int, total: int) -> None:
            print(f"[{done}/{total}] {what}", file=sys.stderr, flush=True)

        return lines

    def bar(what: str, done: int, total: int) -> None:
        width = 30
        filled = int(width * done / total) if total else width
        sys.stderr.write(
            f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {what[:60]:<60}"
        )
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()

    return bar


# --- the engine --------------------------------------------------------------------------------


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
