"""How well the chat keeps up with a fast model: the display's lag at the end of a long reply.

    python benchmarks/chat_stream.py [--rates 200 500 1000 2000] [--runs 3]

The real app (headless, 120x40) chats through the real ollama client with the simulated Ollama
(run in its own process, so its CPU is not counted), which streams a ~2,200-token Markdown reply
at exactly the given rate. Reported per rate, as the median of the runs: the rate the client
received, the lag between the last token's arrival and the reply being completely on screen
(streamed, then rendered whole once more), and rigtui's CPU time per second of streaming.

Target (issue: chat): at least 500 tokens/s without the display falling behind.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time

PROMPT = "[long] tell me everything about GPU offload"


def start_server(rate: float) -> tuple[subprocess.Popen, str]:
    server = subprocess.Popen(
        [sys.executable, "-m", "rigtui.sim.serve", "--tokens-per-s", str(rate)],
        stdout=subprocess.PIPE,
        text=True,
    )
    url = server.stdout.readline().strip()
    return server, url


async def one_run(rate: float) -> tuple[float, float, float]:
    from rigtui.llm.ollama import parse_ollama_host
    from rigtui.sim import uninstall
    from rigtui.sim.ollama_models import canned_reply
    from rigtui.sim.stage import staged_app

    process, url = start_server(rate)
    app = staged_app("story", 345.0)
    app.ollama_address = parse_ollama_host(url)
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            while not (app.ollama_connected and app.running_models and app.snapshots_shown):
                await pilot.pause(0.02)
            app.action_show_tab("chat-tab")
            chat = app.dashboard.chat
            while chat.current_model is None:
                await pilot.pause(0.02)
            chat.query_one("#prompt").text = PROMPT
            chat.query_one("#prompt").focus()
            await pilot.pause(0.1)
            app._reply_done = asyncio.Event()
            cpu_start = time.process_time()
            wall_start = time.monotonic()
            await pilot.press("enter")
            # Done when the last piece was streamed to the screen and the whole reply was
            # rendered once more, with code highlighting (no polling: it would cost CPU).
            await app._reply_done.wait()
            shown_at = app._reply_done_at
            reply = list(chat.query(".-assistant"))[-1]
            cpu = time.process_time() - cpu_start
            wall = shown_at - wall_start
            assert reply.content == canned_reply(PROMPT), "the reply was not complete"
            stats = app._last_stats  # set below by the wrapper
            lag = shown_at - stats.end.arrived_at
            received = stats.generated_tokens_per_s or 0.0
    finally:
        process.terminate()
        process.wait()
        uninstall()
    return received, lag, cpu / wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", type=float, nargs="+", default=[200, 500, 1000, 2000])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    from rigtui.ui.app import RigApp

    original = RigApp.on_reply_finished

    async def remember(self, message):
        # Measuring, not changing: note when the reply is complete on screen, and its statistics.
        self._last_stats = message.stats
        await original(self, message)
        self._reply_done_at = time.monotonic()
        self._reply_done.set()

    RigApp.on_reply_finished = remember
    print(f"{'rate tok/s':>10} {'received':>9} {'lag at end ms':>14} {'CPU share':>10}")
    for rate in args.rates:
        results = [asyncio.run(one_run(rate)) for _ in range(args.runs)]
        received = statistics.median(r[0] for r in results)
        lag_ms = statistics.median(r[1] for r in results) * 1000
        cpu = statistics.median(r[2] for r in results)
        print(f"{rate:>10.0f} {received:>9.0f} {lag_ms:>14.0f} {cpu:>9.0%}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
