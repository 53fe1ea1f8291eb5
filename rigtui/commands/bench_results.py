"""What a ``rigtui bench`` run measured, and the ways to show it: a table, JSON, CSV, Markdown
and a plot of tokens/s against the share of the model on the GPU."""

from __future__ import annotations

import csv
import io
import json
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass


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
        f"{'MODEL':<26} {'PROMPT':>6} {'RUN':>3} {'LOAD':>6} {'TTFT':>6} "
        f"{'PROMPT tok/s':>12} {'GEN tok/s':>9} "
        f"{'SPLIT':<16} {'VRAM':>8} {'AVG W':>6} {'PEAK W':>7} {'J/TOK':>6}"
    )
    lines.append(header)
    for run in runs:
        if not run.ok:
            lines.append(f"{run.model[:26]:<26} {'-':>6} {'-':>3}  failed: {run.error}")
            continue
        vram = None if run.peak_vram_bytes is None else run.peak_vram_bytes / 1024**3
        lines.append(
            f"{run.model[:26]:<26} {run.prompt + 1:>6} {run.repeat + 1:>3} "
            f"{_fmt(run.load_s, '.2f', 's'):>6} {_fmt(run.time_to_first_token_s, '.2f', 's'):>6} "
            f"{_fmt(run.prompt_tokens_per_s, ',.0f'):>12} "
            f"{_fmt(run.generated_tokens_per_s, '.1f'):>9} "
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
