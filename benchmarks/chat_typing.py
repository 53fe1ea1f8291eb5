"""Typing into a long prompt: keystrokes per second with 1k, 10k and 50k characters in it.

Typing cost must not grow with the prompt's length (issue 14: a 10k-character prompt took 20 s
to type at 100% CPU). The prompt is filled as a paste would fill it, then keys are pressed one
at a time through Textual's Pilot, each waited for until the screen has drawn it.

    python benchmarks/chat_typing.py [--keys 40] [--lengths 1000,10000,50000] [--size 120x40]

Target: a keystroke into 50k characters costs the main thread no more than twice one into 1k.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from rigtui.sim import uninstall
from rigtui.ui.staging import staged_app
from rigtui.ui.widgets.prompt_input import PromptInput

WORDS = "the quick brown fox jumps over the lazy dog and then some more words follow "


async def keystrokes_per_s(length: int, keys: int, size: tuple[int, int]) -> tuple[float, float]:
    """Keystrokes per second, and the main thread's CPU milliseconds per keystroke (the
    sampling thread left out: the rate is bounded by Pilot's waits, the CPU is what grows)."""
    app = staged_app("story", 345.0)
    try:
        async with app.run_test(size=size) as pilot:
            await pilot.pause()
            await pilot.press("4")
            prompt = app.screen.query_one(PromptInput)
            prompt.focus()
            text = (WORDS * (length // len(WORDS) + 1))[:length]
            prompt.text = text
            prompt.move_cursor(prompt.document.end)
            await pilot.pause()
            await pilot.press("a", "b")  # the first keys warm the caches
            started, cpu_started = time.perf_counter(), time.thread_time()
            for index in range(keys):
                await pilot.press("x" if index % 6 else "space")
            elapsed = time.perf_counter() - started
            cpu_ms = (time.thread_time() - cpu_started) * 1000
            assert len(prompt.text) == length + 2 + keys
            return keys / elapsed, cpu_ms / keys
    finally:
        uninstall()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=40)
    parser.add_argument("--lengths", default="1000,10000,50000")
    parser.add_argument("--size", default="120x40")
    arguments = parser.parse_args()
    width, height = (int(part) for part in arguments.size.split("x"))
    for length in (int(part) for part in arguments.lengths.split(",")):
        rate, cpu_ms = asyncio.run(keystrokes_per_s(length, arguments.keys, (width, height)))
        print(
            f"{length:>7,} characters: {rate:6.1f} keystrokes/s, {cpu_ms:6.1f} ms CPU each",
            flush=True,
        )


if __name__ == "__main__":
    main()
