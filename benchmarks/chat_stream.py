"""How well the chat keeps up with a fast model: the screen's lag at the end of a long reply.

    python benchmarks/chat_stream.py [--rates 200 500 1000 2000] [--runs 3] [--size 120x40]

The real ``rigtui --demo`` runs on a pseudo-terminal and chats, typed at like a user would,
through the real ollama client with the simulated Ollama run in a process of its own (so its
CPU is not counted), which streams a ~2,250-token Markdown reply at exactly the given rate.
What reaches the terminal is kept with the moment it arrived and read back afterwards through a
terminal emulator (pyte): emulating it live took about as much CPU as rigtui and, on two cores,
added to the lag it measured. Per rate, the median of the runs (and their spread):

- lag at end: from the server sending the last token to the reply's last line being on the
  screen;
- CPU share: rigtui's CPU time while the reply streamed, over the streaming time;
- KB/s written to the terminal while streaming.

Target (issue: performance): 1000 tokens/s with under 100 ms lag at the end.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time

from terminal import (
    RIGTUI,
    EmulatedScreen,
    SimulatedOllamaServer,
    TerminalRun,
    terminal_size,
    wait_until,
)

PROMPT = "[long] tell me everything about GPU offload"
LAST_LINE = "That was all of it, in 8 parts."


class Trace:
    """CPU time and bytes written every 20 ms, to read them at moments only known afterwards."""

    def __init__(self, run: TerminalRun) -> None:
        self.samples: list[tuple[float, float, int]] = []
        self._run = run
        self._stop = threading.Event()
        threading.Thread(target=self._sample, daemon=True).start()

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            try:
                self.samples.append(
                    (time.monotonic(), self._run.cpu_seconds(), self._run.written())
                )
            except Exception:  # noqa: BLE001 - the process ended
                return

    def at(self, moment: float) -> tuple[float, int]:
        """CPU seconds and bytes written so far, at the sample nearest ``moment``."""
        _, cpu, written = min(self.samples, key=lambda sample: abs(sample[0] - moment))
        return cpu, written

    def stop(self) -> None:
        self._stop.set()


def one_run(rate: float, cols: int, rows: int) -> tuple[float, float, float]:
    server = SimulatedOllamaServer("--tokens-per-s", str(rate))
    screen = EmulatedScreen(cols, rows)
    argv = [*RIGTUI, "--demo", "--ollama-host", server.url]
    try:
        with TerminalRun(argv, cols, rows, on_output=screen.output) as run:
            wait_until(lambda: screen.shows("Quit"), 20, "the dashboard")
            time.sleep(2)
            run.send("4")  # the Chat tab; the prompt takes the focus
            wait_until(lambda: screen.shows("Ask the model"), 10, "the chat tab")
            time.sleep(1)
            run.send(PROMPT)
            time.sleep(0.5)
            trace = Trace(run)
            screen.hold()  # the emulator would take a core from rigtui: it reads back later
            run.send("\r")
            log = server.finished.get(timeout=120)
            seen_at = None
            deadline = time.monotonic() + 30
            while seen_at is None:
                if time.monotonic() > deadline:
                    raise TimeoutError("the reply's last line never reached the screen")
                time.sleep(0.5)
                seen_at = screen.first_showing(LAST_LINE)
            trace.stop()
            start, end = log["generating_at"], log["finished_at"]
            lag = seen_at - end
            streaming_s = seen_at - start
            (cpu0, bytes0), (cpu1, bytes1) = trace.at(start), trace.at(seen_at)
            return lag, (cpu1 - cpu0) / streaming_s, (bytes1 - bytes0) / streaming_s
    finally:
        server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", type=float, nargs="+", default=[200, 500, 1000, 2000])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--size", type=terminal_size, default="120x40")
    args = parser.parse_args()
    cols, rows = args.size
    print(f"rigtui chat streaming at {cols}x{rows}, median of {args.runs} runs")
    print(
        f"{'tok/s':>6} {'lag at end ms':>14} {'(min-max)':>10} {'CPU while streaming':>20} "
        f"{'KB/s':>6}"
    )
    for rate in args.rates:
        results = [one_run(rate, cols, rows) for _ in range(args.runs)]
        lags = [r[0] * 1000 for r in results]
        lag_ms = statistics.median(lags)
        spread = f"{min(lags):.0f}-{max(lags):.0f}"
        share = statistics.median(r[1] for r in results)
        kbps = statistics.median(r[2] for r in results) / 1024
        print(f"{rate:>6.0f} {lag_ms:>14.0f} {spread:>10} {share:>20.0%} {kbps:>6.0f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
