"""Command line: arguments → Settings → a command (``rigtui/commands/``). Parsing only.

Imports stay lazy: a start on a real rig reads its options before anything else, so parsing
imports neither the simulation nor the HTTP client, and a command's module loads only when it
runs.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from rigtui import __version__
from rigtui.config import (
    SettingsError,
    load_settings,
    validate_history,
    validate_interval,
    validate_power_budget,
)
from rigtui.llm.ollama import parse_ollama_host
from rigtui.sources import demo_options
from rigtui.store.state import remembered_settings


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
        type=_file_name,
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
        "--data-dir",
        type=_file_name,
        metavar="DIR",
        default=default,
        help="where chats, prompt history and remembered settings are kept "
        "(default ~/.local/share/rigtui)",
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
        type=_file_name,
        metavar="FILE",
        help="show a recording (from rigtui record) instead of the live rig",
    )
    parser.add_argument(
        "--theme", metavar="NAME", default=None, help="a Textual theme (default textual-dark)"
    )
    parser.add_argument(
        "--metrics",
        metavar="ADDRESS:PORT",
        default=None,
        help="serve the dashboard's readings to Prometheus while it runs (as rigtui exporter)",
    )
    parser.add_argument(
        "--prometheus",
        metavar="URL",
        default=None,
        help="add a Fleet tab: every rig this Prometheus server scrapes with rigtui's metrics",
    )
    _common_options(parser, suppress=False)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    _exporter_parser(commands)
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
    recorder.add_argument("file", type=_file_name, metavar="FILE")
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
    bench.add_argument(
        "--model",
        action="append",
        type=_text("a model name"),
        metavar="NAME",
        help="a model (repeatable)",
    )
    bench.add_argument("--all", action="store_true", help="every installed model")
    bench.add_argument(
        "--prompt",
        action="append",
        type=_text("a prompt"),
        metavar="TEXT",
        help="a prompt (repeatable; default: a built-in set of three)",
    )
    bench.add_argument(
        "--prompt-file", type=_file_name, metavar="FILE", help="prompts, separated by blank lines"
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
    _chats_parser(commands)
    return parser


def _exporter_parser(commands: argparse._SubParsersAction) -> None:
    exporter = commands.add_parser(
        "exporter",
        help="serve the rig's readings as Prometheus metrics",
        description="Serve the rig's readings as Prometheus metrics on /metrics. It samples on "
        "its own schedule (--interval) and a scrape only reads the latest values.",
    )
    exporter.add_argument(
        "--listen",
        metavar="ADDRESS:PORT",
        default=None,
        help="where to listen (default 127.0.0.1 and rigtui's port; another address is said "
        "aloud at start)",
    )
    exporter.add_argument(
        "--demo-still",
        action="store_true",
        help="with --demo: hold the simulated rig at --demo-at, the same readings at every "
        "scrape (to try alert rules and dashboards)",
    )
    exporter.add_argument(
        "--tls-cert", type=_file_name, metavar="FILE", help="serve HTTPS with this certificate"
    )
    exporter.add_argument(
        "--tls-key", type=_file_name, metavar="FILE", help="the certificate's private key"
    )
    _common_options(exporter, suppress=True)


def _chats_parser(commands: argparse._SubParsersAction) -> None:
    chats = commands.add_parser(
        "chats",
        help="list or export the saved chats",
        description="The conversations the dashboard's chat saved (in DIR/chats.db, DIR being "
        "--data-dir). Without an action: list.",
    )
    _data_options(chats)
    actions = chats.add_subparsers(dest="chats_action", metavar="ACTION")
    listing = actions.add_parser("list", help="a table of the saved chats, newest first")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.add_argument(
        "--search", type=_text("the search text"), metavar="TEXT", help="only chats with TEXT"
    )
    _data_options(listing)
    export = actions.add_parser("export", help="one chat as Markdown or JSON")
    export.add_argument("conversation", type=_chat_id, metavar="ID", help="from chats list")
    export.add_argument(
        "--format", choices=("md", "json"), default="md", help="default: md (Markdown)"
    )
    export.add_argument(
        "--output", type=_file_name, metavar="FILE", help="write to FILE (default: stdout)"
    )
    export.add_argument("--force", action="store_true", help="replace an existing FILE")
    _data_options(export)


def _data_options(parser: argparse.ArgumentParser) -> None:
    """The options that matter to a command that reads only what rigtui kept."""
    parser.add_argument(
        "--data-dir",
        type=_file_name,
        metavar="DIR",
        default=argparse.SUPPRESS,
        help="where rigtui keeps chats (default ~/.local/share/rigtui)",
    )
    parser.add_argument(
        "--config",
        type=_file_name,
        metavar="FILE",
        default=argparse.SUPPRESS,
        help="settings file (default ~/.config/rigtui/config.toml)",
    )


def _chat_id(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a chat's number (rigtui chats list shows them), got {text!r}"
        ) from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"a chat's number is 1 or more, got {value}")
    return value


def _file_name(text: str) -> Path:
    # Path("") is ".", which would then be read or written as if named.
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a file name, got an empty one")
    return Path(text)


def _text(what: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if not text.strip():
            raise argparse.ArgumentTypeError(f"{what} cannot be empty")
        return text

    return parse


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
    if not math.isfinite(value):
        # NaN compared false with the time gone by, and recorded forever.
        raise argparse.ArgumentTypeError(
            "the duration must be a finite number (leave --duration out to record until Ctrl-C)"
        )
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
    from rigtui.commands.output import OutputError, flush

    try:
        code = _main(argv, environ)
        flush()  # a closed pipe or a full disk shows here, not in the interpreter's exit
        return code
    except BrokenPipeError:
        # The reader went away (`rigtui snapshot --json | head`): stop quietly, like cat does.
        _drop_unwritten_output()
        return 141
    except KeyboardInterrupt:
        # Ctrl+C before a command took over its signals (while it starts, say): the shell's
        # code for it, without a traceback.
        return 130
    except OutputError as error:
        _drop_unwritten_output()
        print(f"rigtui: error: cannot write the output: {error}", file=sys.stderr)
        return 1


def _drop_unwritten_output() -> None:
    """What stays in stdout's buffer would fail again as the interpreter exits, with a
    traceback of its own: point stdout at /dev/null (as Python's documentation advises)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


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
        "data_dir": getattr(args, "data_dir", None),
        "metrics_listen": args.metrics,
        "prometheus_url": args.prometheus,
    }
    try:
        # Only the dashboard takes what it remembered (a recording keeps its own interval).
        remembered = remembered_settings if args.command is None else None
        settings = load_settings(flags, environ, args.config, remembered)
        parse_ollama_host(settings.ollama_host)
    except (SettingsError, ValueError) as error:
        print(f"rigtui: error: {error}", file=sys.stderr)
        return 2
    demo = demo_options(
        settings, at_s=args.demo_at, driver=args.demo_driver, ollama_host=args.ollama_host
    )
    if args.command == "snapshot":
        from rigtui.commands import snapshot

        return snapshot.run(settings, demo, as_json=args.json)
    if args.command == "fit":
        from rigtui.commands import fit

        options = fit.FitOptions(
            num_ctx=args.num_ctx, vram_gib=tuple(args.vram or ()), as_json=args.json
        )
        return fit.run(settings, demo, options)
    if args.command == "record":
        from rigtui.commands import record

        options = record.RecordOptions(
            args.file, args.duration, args.format, append=args.append, force=args.force
        )
        return record.run(settings, demo, options)
    if args.command == "bench":
        if not args.model and not args.all:
            parser.error("bench: name models with --model NAME (repeatable) or use --all")
        from rigtui.commands import bench

        output = next((out for out in ("json", "csv", "markdown") if getattr(args, out)), "table")
        options = bench.BenchOptions(
            models=tuple(args.model or ()),
            all_models=args.all,
            prompts=tuple(args.prompt or ()),
            prompt_file=args.prompt_file,
            repeat=args.repeat,
            warmup=not args.no_warmup,
            max_tokens=args.max_tokens,
            num_ctx=args.num_ctx,
            output=output,
            plot=args.plot,
        )
        return bench.run(settings, demo, options)
    if args.command == "exporter":
        from rigtui.commands import exporter

        if (args.tls_cert is None) != (args.tls_key is None):
            parser.error("exporter: --tls-cert and --tls-key go together")
        options = exporter.ExporterOptions(
            listen=args.listen,
            tls_cert=args.tls_cert,
            tls_key=args.tls_key,
            still=args.demo_still,
        )
        return exporter.run(settings, demo, options)
    if args.command == "chats":
        from rigtui.commands import chats

        return chats.run(
            settings,
            chats.ChatsOptions(
                action=args.chats_action or "list",
                as_json=getattr(args, "json", False),
                search=getattr(args, "search", None) or "",
                conversation=getattr(args, "conversation", None),
                format=getattr(args, "format", "md"),
                output=getattr(args, "output", None),
                force=getattr(args, "force", False),
            ),
        )
    from rigtui.commands import dashboard

    return dashboard.run(settings, demo, replay=args.replay)
