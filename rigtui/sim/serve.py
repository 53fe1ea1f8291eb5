"""Run the simulated Ollama server on its own, in this process, until interrupted.

    python -m rigtui.sim.serve [--port 11434] [--scenario story] [--at 345] [--speed 1]
                               [--tokens-per-s N] [--report]

Useful to try rigtui's chat (``rigtui --ollama-host 127.0.0.1:PORT``) or another Ollama client
against the simulation, and for benchmarks that keep the server's CPU out of rigtui's process.
It prints the address on the first line of its output; with ``--report``, then one JSON line per
finished request (the benchmarks read when the last token went out).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import threading
import time

from rigtui.sim import SimulatedEnvironment


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rigtui.sim.serve", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--scenario", default="story")
    parser.add_argument("--at", type=float, default=345.0, help="moment of the story (seconds)")
    parser.add_argument("--speed", type=float, default=1.0, help="pace of loads and replies")
    parser.add_argument(
        "--tokens-per-s", type=float, default=None, help="stream every reply at exactly this rate"
    )
    parser.add_argument(
        "--report", action="store_true", help="print each finished request as a JSON line"
    )
    args = parser.parse_args(argv)
    # The rig stands at --at, but the times /api/ps shows (expires_at) are around now, as a
    # real server's are: clients compare them with their own clock.
    environment = SimulatedEnvironment(
        args.scenario,
        ollama_speed=args.speed,
        ollama_port=args.port,
        epoch_start=time.time() - args.at,
    )
    environment.clock.set(args.at)
    environment.rig.advance()
    environment.ollama.faults.tokens_per_s = args.tokens_per_s
    print(environment.start_ollama(), flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with contextlib.suppress(KeyboardInterrupt):
        if args.report:
            last = None  # the list keeps only the newest entries: find where we stopped
            while not stop.wait(0.02):
                requests = list(environment.ollama.requests)
                start = next((i + 1 for i, log in enumerate(requests) if log is last), 0)
                for log in requests[start:]:
                    print(json.dumps(log, default=str), flush=True)
                    last = log
        else:
            stop.wait()
    environment.stop_ollama()
    return 0


if __name__ == "__main__":
    sys.exit(main())
