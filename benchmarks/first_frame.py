"""How long from starting rigtui to the first complete frame on the terminal.

    python benchmarks/first_frame.py [--runs 5] [--size 120x40] [--scenario story]

The real ``rigtui --demo`` starts on a pseudo-terminal, as a user would start it (a new Python
process: imports included); what it writes is read back through a terminal emulator (pyte). The
frame is complete when the screen shows the header, the GPU card with its figures, the CPU panel
and the footer's keys. Reported: the median, the fastest and the slowest of ``--runs`` starts,
twice: started at the beginning of the scenario (``--demo-at 0``: nothing to replay, like rigtui
on a real rig, which has no history yet) and as plain ``rigtui --demo`` starts, which first
replays the story's first 325 s into the charts (the simulation's physics, in rigtui's process).
rigtui's modules are byte-compiled first, as ``pip install`` leaves them (a checkout run where
``PYTHONDONTWRITEBYTECODE`` is set would compile them again at every start).

Target (issue: performance): within 1.0 s.
"""

from __future__ import annotations

import argparse
import compileall
import statistics
import sys
from pathlib import Path

from terminal import RIGTUI, EmulatedScreen, TerminalRun, terminal_size

# What a complete first frame shows: header, a GPU card with a reading, CPU panel, footer.
COMPLETE = ("rigtui", "GPU 0", "VRAM", "°C", "CPU ·", "RAM", "Quit")


def one_start(argv: list[str], cols: int, rows: int) -> float:
    screen = EmulatedScreen(cols, rows)
    screen.watch_for = COMPLETE
    with TerminalRun(argv, cols, rows, on_output=screen.output) as run:
        if not screen.seen.wait(30):
            raise TimeoutError("no complete frame in 30 s:\n" + "\n".join(screen.screen.display))
        return screen.seen_at - run.started_at


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--size", type=terminal_size, default="120x40")
    parser.add_argument("--scenario", default="story")
    args = parser.parse_args()
    package = Path(__file__).resolve().parent.parent / "rigtui"
    compileall.compile_dir(package, quiet=1)
    cols, rows = args.size
    for label, extra in (("a live start", ["--demo-at", "0"]), ("rigtui --demo", [])):
        argv = [*RIGTUI, "--demo", "--scenario", args.scenario, *extra]
        one_start(argv, cols, rows)  # the first start fills the OS's file cache; not counted
        times = [one_start(argv, cols, rows) for _ in range(args.runs)]
        print(
            f"first complete frame at {cols}x{rows}, {label} ({args.scenario}), "
            f"{args.runs} starts: median {statistics.median(times):.2f} s, "
            f"fastest {min(times):.2f} s, slowest {max(times):.2f} s",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
