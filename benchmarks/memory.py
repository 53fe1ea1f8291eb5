"""Does rigtui's memory stay flat over a day? Resident memory after 10 minutes to 24 hours.

    python benchmarks/memory.py [--hours 24] [--size 120x40] [--tab rig]

The real dashboard runs headless (Textual's test driver) over the simulated rig, sampling
paused, and is fed one snapshot per simulated second through the same path the sampler's
readings take (``RigApp.show_snapshot``), on an accelerated clock: the story scenario's five
minutes, again and again, each reading with its own time. Every 30 simulated seconds the app
gets to paint, so widgets, charts and tables do their work as on a terminal. Resident memory
(RSS, after a garbage collection) is reported at 10 minutes, 1, 6 and 24 hours.

Target (issue: performance): flat once the history is full; 24 h within 10 % of 10 min.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import sys
import time

import psutil
from terminal import TAB_KEYS, terminal_size

from rigtui.ui.staging import staged_app

CHECKPOINTS_S = (600, 3600, 6 * 3600, 24 * 3600)


def rss_mib() -> float:
    gc.collect()
    return psutil.Process().memory_info().rss / 2**20


async def run(hours: float, cols: int, rows: int, tab: str) -> list[tuple[int, float]]:
    app = staged_app("story", 300.0)
    loop_of_story = app.environment.story_so_far(600.0, 1.0, 300.0)
    results = []
    async with app.run_test(size=(cols, rows)) as pilot:
        await pilot.pause(1.0)
        await pilot.press(TAB_KEYS[tab])
        if not app.paused:
            app.action_toggle_pause()  # the fed readings are the only ones
        await pilot.pause(0.5)
        start = app.snapshot.taken_at
        checkpoints = [s for s in CHECKPOINTS_S if s <= hours * 3600]
        started = time.monotonic()
        for second in range(1, checkpoints[-1] + 1):
            reading = loop_of_story[second % len(loop_of_story)]
            app.show_snapshot(dataclasses.replace(reading, taken_at=start + second))
            if second % 30 == 0:
                await pilot.pause()  # let it paint
            if second in checkpoints:
                results.append((second, rss_mib()))
                print(
                    f"  {second / 3600:5.2f} h simulated: RSS {results[-1][1]:6.1f} MiB "
                    f"({time.monotonic() - started:.0f} s real)",
                    flush=True,
                )
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--size", type=terminal_size, default="120x40")
    parser.add_argument("--tab", choices=sorted(TAB_KEYS), default="rig")
    args = parser.parse_args()
    cols, rows = args.size
    print(f"rigtui resident memory over {args.hours:g} simulated hours at {cols}x{rows}:")
    results = asyncio.run(run(args.hours, cols, rows, args.tab))
    first, last = results[0][1], results[-1][1]
    print(
        f"after {results[-1][0] / 3600:g} h: {last:.1f} MiB, "
        f"{(last - first) / first:+.1%} against 10 min ({first:.1f} MiB)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
