"""Command line: arguments → Settings → the dashboard or a headless command."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from rigtui import __version__
from rigtui.config import (
    Settings,
    SettingsError,
    load_settings,
    validate_history,
    validate_interval,
    validate_power_budget,
)
from rigtui.llm.ollama import parse_ollama_host
from rigtui.sources import DashboardSource

DEMO_START_S = 325.0
"""The demo opens 25 s into the story's second loop: the first loop fills the charts, and a
model starts loading a few seconds later."""


def _interval(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds as a number, got {text!r}") from None
    try:
        return validate_interval(value, "interval")
    except SettingsError as error:
        raise argparse.ArgumentTypeError(str(error).removeprefix("interval: ")) from None


def _history(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected minutes as a number, got {text!r}") from None
    try:
        return validate_history(value, "history")
    except SettingsError as error:
        raise argparse.ArgumentTypeError(str(error).removeprefix("history: ")) from None


def _power_budget(text: str) -> float:
    try:
        value = float(text.lower().removesuffix("w"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected watts as a number, got {text!r}") from None
    try:
        return validate_power_budget(value, "power budget")
    except SettingsError as error:
        raise argparse.ArgumentTypeError(str(error).removeprefix("power budget: ")) from None


def _positive(name: str, low: float, high: float) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{name} must be between {low:g} and {high:g}")
        return value

    return parse


def _common_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    """Options that work before or after the command name."""
    from rigtui.sim.nvml import DRIVER_PROFILES
    from rigtui.sim.scenario import SCENARIOS

    default = argparse.SUPPRESS if suppress else None
    parser.add_argument(
        "--interval",
        type=_interval,
        metavar="SECONDS",
        default=default,
        help="seconds between samples, 0.25 to 60 (default 1)",
    )
    parser.add_argument(
        "--history",
        type=_history,
        metavar="MINUTES",
        default=default,
        help="how far back the charts reach (default 10)",
    )
    parser.add_argument(
        "--demo",
        action="store_true",
        default=default,
        help="run over the simulated rig instead of this machine's GPUs",
    )
    parser.add_argument(
        "--scenario",
        choices=sorted(SCENARIOS),
        metavar="NAME",
        default=default,
        help="the simulated rig's story (implies --demo): "
        + ", ".join(sorted(SCENARIOS))
        + " (default story)",
    )
    parser.add_argument(
        "--demo-at",
        type=_positive("--demo-at", 0, 86400),
        metavar="SECONDS",
        default=default,
        help="where in the scenario to start",
    )
    parser.add_argument(
        "--demo-speed",
        type=_positive("--demo-speed", 0.1, 100),
        metavar="FACTOR",
        default=default,
        help="play the scenario faster",
    )
    parser.add_argument(
        "--demo-driver",
        choices=sorted(DRIVER_PROFILES),
        metavar="DRIVER",
        default=default,
        help="simulate an older driver: " + ", ".join(sorted(DRIVER_PROFILES)),
    )
    parser.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        default=default,
        help="settings file (default ~/.config/rigtui/config.toml)",
    )
    parser.add_argument(
        "--ollama-host",
        metavar="ADDRESS",
        default=default,
        help="where Ollama listens, like OLLAMA_HOST (default 127.0.0.1:11434)",
    )
    parser.add_argument(
        "--power-budget",
        type=_power_budget,
        metavar="WATTS",
        default=default,
        help="what the PSU/UPS can give the GPUs together; spikes above it are flagged",
    )
    parser.add_argument(
        "--no-ollama",
        action="store_true",
        default=default,
        help="do not talk to Ollama (no chat, no loaded-model view)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rigtui",
        description="A terminal dashboard for GPU rigs that run local LLMs.",
        epilog="Keys in the dashboard: q quit, p pause, + / - interval, ? help.",
    )
    parser.add_argument("--version", action="version", version=f"rigtui {__version__}")
    parser.add_argument(
        "--replay",
        type=Path,
        metavar="FILE",
        help="show a recording (from rigtui record) instead of the live rig",
    )
    parser.add_argument(
        "--theme", metavar="NAME", default=None, help="a Textual theme (default textual-dark)"
    )
    _common_options(parser, suppress=False)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    snapshot = commands.add_parser("snapshot", help="print one reading and exit")
    snapshot.add_argument(
        "--json",
        action="store_true",
        help="machine-readable output (the contract is in the README)",
    )
    _common_options(snapshot, suppress=True)
    recorder = commands.add_parser(
        "record",
        help="sample the rig to a file until Ctrl-C or --duration",
        description="Sample every GPU, the CPU, memory and Ollama's loaded models at --interval "
        "and append them to FILE: JSON Lines (one sample a line, what --replay shows in full) "
        "or CSV (one row per GPU per sample, units in the header). Each sample is flushed as "
        "it is written, so a kill loses at most one.",
    )
    recorder.add_argument("file", type=Path, metavar="FILE")
    recorder.add_argument(
        "--duration",
        type=_duration,
        metavar="TIME",
        help="stop after this long: seconds, or 90s, 10m, 2h",
    )
    recorder.add_argument(
        "--format", choices=("jsonl", "csv"), help="default: csv for a .csv file, else jsonl"
    )
    existing = recorder.add_mutually_exclusive_group()
    existing.add_argument("--append", action="store_true", help="add to an existing recording")
    existing.add_argument("--force", action="store_true", help="replace an existing file")
    _common_options(recorder, suppress=True)
    bench = commands.add_parser(
        "bench",
        help="run a prompt set against models and report speed, split, power and energy",
        description="Run prompts against one or more models (through Ollama) and report, for "
        "each run, load time, time to first token, prompt and generation rates, the model's "
        "GPU/CPU split, peak VRAM, average and peak power and joules per token.",
    )
    bench.add_argument("--model", action="append", metavar="NAME", help="a model (repeatable)")
    bench.add_argument("--all", action="store_true", help="every installed model")
    bench.add_argument(
        "--prompt",
        action="append",
        metavar="TEXT",
        help="a prompt (repeatable; default: a built-in set of three)",
    )
    bench.add_argument(
        "--prompt-file", type=Path, metavar="FILE", help="prompts, separated by blank lines"
    )
    bench.add_argument(
        "--repeat", type=_count, default=1, metavar="N", help="runs of each prompt (default 1)"
    )
    bench.add_argument(
        "--no-warmup",
        action="store_true",
        help="skip the warm-up request that loads each model first",
    )
    bench.add_argument(
        "--max-tokens",
        type=_count,
        default=256,
        metavar="N",
        help="tokens to generate per run (num_predict, default 256)",
    )
    bench.add_argument("--num-ctx", type=_num_ctx, metavar="TOKENS", help="context length")
    output = bench.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="results as JSON")
    output.add_argument("--csv", action="store_true", help="results as CSV, one row per run")
    output.add_argument("--markdown", action="store_true", help="results as a Markdown table")
    bench.add_argument(
        "--plot", action="store_true", help="also draw tokens/s against the share on the GPU"
    )
    _common_options(bench, suppress=True)
    fit = commands.add_parser(
        "fit",
        help="estimate, for every installed model, whether it fits in VRAM",
        description="For every model Ollama has installed: the VRAM it needs at num_ctx "
        "(weights + KV cache + compute graph + overhead), whether it fits in what Ollama could "
        "use now, how much would run on the CPU, and what would make it fit.",
    )
    fit.add_argument(
        "--num-ctx",
        type=_num_ctx,
        metavar="TOKENS",
        help="context length to plan for (default: Ollama's default)",
    )
    fit.add_argument(
        "--vram",
        type=_vram,
        metavar="GIB",
        action="append",
        help="plan for a GPU with this much usable VRAM instead of this machine's "
        "(repeat for several GPUs)",
    )
    fit.add_argument("--json", action="store_true", help="machine-readable output")
    _common_options(fit, suppress=True)
    return parser


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if not 1 <= value <= 100_000:
        raise argparse.ArgumentTypeError("must be between 1 and 100000")
    return value


def _duration(text: str) -> float:
    text = text.strip().lower()
    scale = {"s": 1, "m": 60, "h": 3600}.get(text[-1:])
    number = text[:-1] if scale else text
    try:
        value = float(number) * (scale or 1)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a duration such as 90, 90s, 10m or 2h, got {text!r}"
        ) from None
    if value <= 0:
        raise argparse.ArgumentTypeError("the duration must be positive")
    return value


def _num_ctx(text: str) -> int:
    try:
        text = text.strip().lower().replace("_", "")
        value = int(text[:-1]) * 1024 if text.endswith("k") else int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of tokens, got {text!r}") from None
    if not 256 <= value <= 1_048_576:
        raise argparse.ArgumentTypeError("num_ctx must be between 256 and 1048576")
    return value


def _vram(text: str) -> float:
    try:
        value = float(text.lower().removesuffix("gib").removesuffix("gb"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected GiB as a number, got {text!r}") from None
    if not 0.5 <= value <= 4096:
        raise argparse.ArgumentTypeError("VRAM must be between 0.5 and 4096 GiB")
    return value


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    try:
        code = _main(argv, environ)
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's exit
        return code
    except BrokenPipeError:
        # The reader went away (`rigtui snapshot --json | head`): stop quietly, like cat does.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141


def _main(argv: Sequence[str] | None, environ: Mapping[str, str] | None) -> int:
    environ = os.environ if environ is None else environ
    parser = build_parser()
    args = parser.parse_args(argv)
    flags = {
        "interval_s": args.interval,
        "history_minutes": args.history,
        "theme": args.theme,
        "demo": (args.scenario or "story") if (args.demo or args.scenario) else None,
        "demo_speed": getattr(args, "demo_speed", None),
        "ollama_host": args.ollama_host,
        "ollama": False if args.no_ollama else None,
        "power_budget_w": args.power_budget,
    }
    try:
        settings = load_settings(flags, environ, args.config)
        parse_ollama_host(settings.ollama_host)
    except (SettingsError, ValueError) as error:
        print(f"rigtui: error: {error}", file=sys.stderr)
        return 2
    demo_at = args.demo_at if args.demo_at is not None else DEMO_START_S
    if args.command == "snapshot":
        return _snapshot(settings, args, demo_at)
    if args.command == "fit":
        return _fit(settings, args, demo_at)
    if args.command == "record":
        return _record(settings, args, demo_at)
    if args.command == "bench":
        return _bench(settings, args, demo_at, parser)
    return _dashboard(settings, args, demo_at)


def _record(settings: Settings, args: argparse.Namespace, demo_at: float) -> int:
    import asyncio
    import signal

    from rigtui.headless import record
    from rigtui.llm.ollama import OllamaClient
    from rigtui.recording import RecordingError, RecordingWriter, format_for

    try:
        writer = RecordingWriter(
            args.file, format_for(args.file, args.format), append=args.append, force=args.force
        )
    except RecordingError as error:
        print(f"rigtui: error: {error}", file=sys.stderr)
        return 2
    environment = None
    if settings.demo:
        environment = _environment(settings, args, demo_at)
        environment.clock.set(demo_at)
        environment.go_live(settings.demo_speed)
        address = parse_ollama_host(environment.start_ollama()) if settings.ollama else None
        sampler = environment.sampler()
    else:
        address = parse_ollama_host(settings.ollama_host) if settings.ollama else None
        sampler = _live_sampler()
    sampler.power_watch.budget_w = settings.power_budget_w

    def stop(*_):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)

    async def run():
        client = OllamaClient(address) if address is not None else None
        try:
            await record(
                sampler,
                writer,
                interval_s=settings.interval_s,
                duration_s=args.duration,
                client=client,
                progress=sys.stderr if sys.stderr.isatty() else None,
            )
        finally:
            if client is not None:
                await client.close()

    status = 0
    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        pass
    except RecordingError as error:
        print(f"\nrigtui: error: {error}", file=sys.stderr)
        status = 1
    finally:
        signal.signal(signal.SIGTERM, previous)
        writer.close()
        if environment is not None:
            environment.stop_ollama()
    print(f"\nrecorded {writer.samples} samples to {args.file} ({writer.format})", file=sys.stderr)
    return status


def _bench_prompts(args: argparse.Namespace) -> list[str]:
    from rigtui.bench import DEFAULT_PROMPTS

    prompts = list(args.prompt or [])
    if args.prompt_file is not None:
        try:
            text = args.prompt_file.read_text(encoding="utf-8")
        except OSError as error:
            raise SettingsError(f"cannot read {args.prompt_file}: {error.strerror}") from None
        prompts += [block.strip() for block in text.split("\n\n") if block.strip()]
        if not prompts:
            raise SettingsError(f"{args.prompt_file} holds no prompt")
    return prompts or list(DEFAULT_PROMPTS)


def _bench(settings: Settings, args: argparse.Namespace, demo_at: float, parser) -> int:
    import asyncio

    from rigtui.bench import RigWatcher, run_bench
    from rigtui.llm.ollama import OllamaClient, OllamaError

    if not args.model and not args.all:
        parser.error("bench: name models with --model NAME (repeatable) or use --all")
    try:
        prompts = _bench_prompts(args)
    except SettingsError as error:
        print(f"rigtui: error: {error}", file=sys.stderr)
        return 2
    environment = None
    if settings.demo:
        environment = _environment(settings, args, demo_at)
        environment.clock.set(demo_at)
        environment.go_live(settings.demo_speed)
        address = parse_ollama_host(environment.start_ollama())
        sampler = environment.sampler()
    else:
        address = parse_ollama_host(settings.ollama_host)
        sampler = _live_sampler()
    progress = _bench_progress()

    async def go():
        client = OllamaClient(address)
        try:
            models = list(args.model or [])
            if args.all:
                models += [m.name for m in await client.installed() if "embed" not in m.name]
            with RigWatcher(sampler) as watcher:
                return await run_bench(
                    client,
                    list(dict.fromkeys(models)),
                    prompts,
                    repeat=args.repeat,
                    warmup=not args.no_warmup,
                    max_tokens=args.max_tokens,
                    num_ctx=args.num_ctx,
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
    finally:
        if environment is not None:
            environment.stop_ollama()
    return _bench_output(args, runs, prompts)


def _bench_output(args: argparse.Namespace, runs, prompts: list[str]) -> int:
    from rigtui.bench import format_table, plot, to_csv, to_json, to_markdown

    if args.json:
        sys.stdout.write(to_json(runs, prompts))
    elif args.csv:
        sys.stdout.write(to_csv(runs))
    elif args.markdown:
        sys.stdout.write(to_markdown(runs))
    else:
        sys.stdout.write(format_table(runs, prompts))
    if args.plot:
        sys.stdout.write(plot(runs))
    return 0 if any(run.ok for run in runs) else 1


def _bench_progress():
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


def _fit(settings: Settings, args: argparse.Namespace, demo_at: float) -> int:
    import asyncio
    import json

    from rigtui.headless import fit_rows, format_fit_table, gather_models, take_snapshot
    from rigtui.insight.fit import ollama_default_num_ctx, usable_vram
    from rigtui.llm.ollama import OllamaClient, OllamaError
    from rigtui.llm.placement import runner_bytes_by_gpu

    environment = None
    if settings.demo:
        environment = _environment(settings, args, demo_at)
        environment.clock.set(demo_at)
        environment.rig.advance()
        address = parse_ollama_host(environment.start_ollama())
        sampler = environment.sampler()
    else:
        address = parse_ollama_host(settings.ollama_host)
        sampler = _live_sampler()
    try:
        if args.vram:
            available = [int(gib * 1024**3) for gib in args.vram]
            names = [f"GPU {i} (--vram)" for i in range(len(available))]
            total = sum(available)
            how = "as given with --vram"
        else:
            snapshot = take_snapshot(sampler, prime_delay_s=0.0)
            gpus = [gpu for gpu in snapshot.gpus if not gpu.lost]
            available = usable_vram(gpus, runner_bytes_by_gpu(gpus))
            names = [f"GPU {gpu.index} {gpu.name or ''}".strip() for gpu in gpus]
            total = sum(gpu.memory_total_bytes or 0 for gpu in gpus)
            how = "free now plus what Ollama's own models hold"

        async def ask():
            client = OllamaClient(address)
            try:
                return await client.version(), await gather_models(client)
            finally:
                await client.close()

        try:
            version, models = asyncio.run(ask())
        except OllamaError as error:
            print(f"rigtui: {error}", file=sys.stderr)
            return 1
    finally:
        if environment is not None:
            environment.stop_ollama()
    num_ctx = args.num_ctx or ollama_default_num_ctx(version, total)
    rows = fit_rows(models, num_ctx, available)
    if args.json:
        json.dump(
            {
                "ollama": {"address": address.display, "version": version},
                "num_ctx": num_ctx,
                "available_vram_bytes": available,
                "models": rows,
            },
            sys.stdout,
            indent=2,
        )
        sys.stdout.write("\n")
    else:
        sys.stdout.write(format_fit_table(rows, available, names, num_ctx, how))
    return 0


def _environment(settings: Settings, args: argparse.Namespace, demo_at: float):
    import time

    from rigtui.sim import SimulatedEnvironment

    environment = SimulatedEnvironment(
        settings.demo or "story",
        driver=args.demo_driver or "r580",
        emulate_latency=True,
        # The story's clock reads as today, so times shown (keep-alive, the header) look right.
        epoch_start=time.time() - demo_at,
        ollama_speed=settings.demo_speed,
    )
    environment.install()
    return environment


def _snapshot(settings: Settings, args: argparse.Namespace, demo_at: float) -> int:
    from rigtui.headless import format_table, take_snapshot, write_json

    if settings.demo:
        environment = _environment(settings, args, demo_at)
        environment.clock.set(demo_at)
        environment.go_live(settings.demo_speed)
        sampler = environment.sampler()
    else:
        sampler = _live_sampler()
    sampler.power_watch.budget_w = settings.power_budget_w
    snapshot = take_snapshot(sampler)
    if args.json:
        write_json(snapshot, sys.stdout)
    else:
        sys.stdout.write(format_table(snapshot))
    return 0


def _live_sampler():
    from rigtui.telemetry.nvml import NvmlSource
    from rigtui.telemetry.sampler import RigSampler
    from rigtui.telemetry.system import SystemSource

    return RigSampler(NvmlSource(), SystemSource())


def _dashboard(settings: Settings, args: argparse.Namespace, demo_at: float) -> int:
    if args.replay is not None:
        from rigtui.recording import RecordingError, read_recording

        try:
            recording = read_recording(args.replay)
        except RecordingError as error:
            print(f"rigtui: error: {error}", file=sys.stderr)
            return 2
        from rigtui.ui.app import RigApp

        app = RigApp(settings, DashboardSource(replay=recording))
        app.run()
        return app.return_code or 0

    from rigtui.telemetry.opening import SamplerOpening

    if settings.demo:
        environment = _environment(settings, args, demo_at)

        # The story up to the start, so the charts open full; then it plays live. Here, before
        # Textual loads: beside its imports on another thread, the two took three times as long
        # (the interpreter lock passes between them at every file the imports read).
        story = environment.story_so_far(
            demo_at, settings.interval_s, settings.history_minutes * 60
        )
        environment.go_live(settings.demo_speed)
        # Started before the dashboard's modules are imported: see telemetry/opening.py.
        opening = SamplerOpening(
            environment.sampler, history=story, budget_w=settings.power_budget_w
        ).start()
        address = None
        if settings.ollama and getattr(args, "ollama_host", None) is not None:
            # Simulated GPUs, a real (or separately run) Ollama: chat on a machine without one.
            address = parse_ollama_host(settings.ollama_host)
        elif settings.ollama:
            address = parse_ollama_host(environment.start_ollama())
        from rigtui.ui.app import RigApp

        app = RigApp(
            settings,
            DashboardSource(
                opening,
                ollama_address=address,
                label=f"demo: {environment.scenario.name}",
                environment=environment,
            ),
        )
        try:
            app.run()
        finally:
            environment.stop_ollama()
    else:
        opening = SamplerOpening(_live_sampler, budget_w=settings.power_budget_w).start()
        address = parse_ollama_host(settings.ollama_host) if settings.ollama else None
        from rigtui.ui.app import RigApp

        app = RigApp(settings, DashboardSource(opening, ollama_address=address))
        app.run()
    return app.return_code or 0
