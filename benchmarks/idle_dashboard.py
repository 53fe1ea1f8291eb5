"""What the idle dashboard costs: CPU share of one core, and bytes/s to the terminal.

    python benchmarks/idle_dashboard.py [--runs 3] [--settle 8] [--window 20] [--tab rig]
                                        [--demo-at SECONDS]

The real ``rigtui --demo`` (one GPU: the ``story`` scenario; two: ``dual``) runs on a
pseudo-terminal at 80x24 and at 120x40 with a 1 s refresh, its Ollama view on, as a user starts
it; the simulated Ollama runs in a process of its own, as the real one does (``--ollama-inside``:
in rigtui's process, as plain ``rigtui --demo`` has it). After ``--settle`` seconds (start-up,
the first frames), its CPU time and the bytes it writes are measured over ``--window`` seconds;
reported is the median of ``--runs`` runs. Through the window the story's GPU works (a model
loads, then replies at full power): "idle" is the dashboard's user; ``--demo-at 0`` measures a
rig at rest instead. The simulated GPUs answer inside rigtui's process, as
the NVML library does, so their cost is counted (sample_cost.py shows what the readings cost).
Where btop is installed (``apt install btop``) it runs the same way, with a 1 s update, and the
ratios are printed.

Targets (issue: performance): at 120x40, at most 1.5 % of one core and at most 8 KB/s.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import tempfile
import time
from pathlib import Path

from terminal import (
    RIGTUI,
    TAB_KEYS,
    SimulatedOllamaServer,
    TerminalRun,
    btop_config,
    btop_path,
    measure_steady,
    terminal_size,
)

SIZES = ((80, 24), (120, 40))
SCENARIOS = (("1 GPU", "story"), ("2 GPUs", "dual"))


def measure(argv, cols, rows, runs, settle_s, window_s, env=None, keys="") -> tuple[float, float]:
    cpu, rate = [], []
    for _ in range(runs):
        with TerminalRun(argv, cols, rows, env=env) as run:
            if keys:
                time.sleep(settle_s / 2)
                run.send(keys)
            share, bytes_per_s = measure_steady(run, settle_s, window_s)
        cpu.append(share)
        rate.append(bytes_per_s)
    return statistics.median(cpu), statistics.median(rate)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--settle", type=float, default=8.0, help="seconds before measuring")
    parser.add_argument("--window", type=float, default=20.0, help="seconds measured")
    parser.add_argument("--tab", choices=sorted(TAB_KEYS), default="rig", help="the tab shown")
    parser.add_argument(
        "--sizes", nargs="+", type=terminal_size, default=list(SIZES), help="e.g. 120x40"
    )
    parser.add_argument(
        "--demo-at",
        type=float,
        default=None,
        help="where the story starts (rigtui's default: a model loads, replies keep the GPU at "
        "work through the window; 0: the GPUs rest)",
    )
    parser.add_argument("--no-btop", action="store_true", help="do not run btop alongside")
    parser.add_argument(
        "--ollama-inside",
        action="store_true",
        help="the simulated Ollama in rigtui's own process, as plain `rigtui --demo` runs it",
    )
    args = parser.parse_args()
    btop = None if args.no_btop else btop_path()
    keys = "" if args.tab == "rig" else TAB_KEYS[args.tab]  # rigtui opens on the Rig tab
    print(
        f"idle dashboard, {args.tab} tab, 1 s refresh: median of {args.runs} runs, "
        f"{args.window:g} s each after {args.settle:g} s"
    )
    print(f"{'program':<16} {'size':>7} {'CPU % of a core':>16} {'KB/s to terminal':>17}")
    for cols, rows in args.sizes:
        btop_result = None
        if btop:
            with tempfile.TemporaryDirectory() as home:
                env = btop_config(Path(home))
                btop_result = measure(
                    [btop], cols, rows, args.runs, args.settle, args.window, env=env
                )
            print(
                f"{'btop':<16} {cols:>3}x{rows:<3} {btop_result[0]:>16.2%} "
                f"{btop_result[1] / 1024:>17.1f}",
                flush=True,
            )
        for label, scenario in SCENARIOS:
            argv = [*RIGTUI, "--demo", "--scenario", scenario]
            if args.demo_at is not None:
                argv += ["--demo-at", f"{args.demo_at:g}"]
            with contextlib.ExitStack() as stack:
                if not args.ollama_inside:
                    server = stack.enter_context(SimulatedOllamaServer("--scenario", scenario))
                    argv += ["--ollama-host", server.url]
                cpu, rate = measure(
                    argv, cols, rows, args.runs, args.settle, args.window, keys=keys
                )
            ratio = ""
            if btop_result and btop_result[0] > 0:
                ratio = (
                    f"  ({cpu / btop_result[0]:.1f}x btop CPU, {rate / btop_result[1]:.1f}x bytes)"
                )
            print(
                f"{'rigtui ' + label:<16} {cols:>3}x{rows:<3} {cpu:>16.2%} "
                f"{rate / 1024:>17.1f}{ratio}",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
