"""What the exporter costs: CPU beside the dashboard's sampling thread, and one scrape.

    python benchmarks/exporter.py [--window 60] [--runs 3] [--scrape-every 15]
                                  [--scrapes 1000] [--skip-cpu] [--skip-scrape]

(a) CPU: the real ``rigtui exporter --demo --scenario dual --interval 1`` (two GPUs, the story
at work: a model loads, replies run, so the ten-a-second power rounds are on) as a process of its
own, scraped over HTTP every ``--scrape-every`` seconds as Prometheus would; its CPU time
(``/proc``, all threads) over ``--window`` seconds after start-up, with ``--no-ollama`` (the
sampling thread's peer) and with its Ollama poller (the simulated Ollama then answers inside the
exporter's process, so its work is counted too: an overestimate). Against it, what the idle
dashboard's sampling thread costs alone: the same ``SamplingLoop`` over the same simulated rig,
in a thread of this process, its own CPU clock over the same window.

(b) One scrape of a two-GPU rig, ``--scrapes`` times: rendering the registry alone (the same
reading: the families are built once per reading and reused), rendering a new reading each time
(built afresh), and the whole HTTP request over loopback on a kept-alive connection. Median and
p99 in milliseconds.

Targets (issue 16): the exporter at 1 s sampling with a scrape every 15 s uses no more CPU than
the idle dashboard's sampling thread alone; one scrape of a 2-GPU rig in under 5 ms.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
from prometheus_client import generate_latest

from rigtui.exporter.board import MetricsBoard
from rigtui.exporter.collector import Exposition
from rigtui.exporter.server import MetricsServer
from rigtui.sim import SimulatedEnvironment
from rigtui.telemetry.pacing import SamplingLoop

REPO = Path(__file__).resolve().parent.parent
SETTLE_S = 5.0
"""Start-up (imports, the first reading, the Ollama client's import) is not the steady cost."""


def scrape(port: int) -> bytes:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", "/metrics")
        return connection.getresponse().read()
    finally:
        connection.close()


def exporter_cpu(window_s: float, scrape_every_s: float, *extra: str) -> tuple[float, int]:
    """CPU seconds per second of the exporter process over the window; scrapes served."""
    process = subprocess.Popen(
        [sys.executable, "-m", "rigtui", "exporter", "--demo", "--scenario", "dual",
         "--interval", "1", "--listen", "127.0.0.1:0", *extra],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )  # fmt: skip
    try:
        line = process.stdout.readline()
        port = int(line.split()[3].rsplit(":", 1)[1].removesuffix("/metrics"))
        watched = psutil.Process(process.pid)
        time.sleep(SETTLE_S)
        before, started = watched.cpu_times(), time.monotonic()
        scrapes = 0
        next_scrape = started
        while time.monotonic() - started < window_s:
            if time.monotonic() >= next_scrape:
                assert scrape(port).startswith(b"# HELP")
                scrapes += 1
                next_scrape += scrape_every_s
            time.sleep(min(0.5, max(0.0, next_scrape - time.monotonic())))
        after, ended = watched.cpu_times(), time.monotonic()
        used = (after.user + after.system) - (before.user + before.system)
        return used / (ended - started), scrapes
    finally:
        process.terminate()
        process.wait(30)


def sampling_thread_cpu(window_s: float) -> float:
    """CPU seconds per second of a SamplingLoop alone over the same rig (the dashboard's
    sampling worker runs exactly this; its hand-over to the screen is a message post)."""
    environment = SimulatedEnvironment("dual", emulate_latency=True, epoch_start=time.time() - 325)
    environment.install()
    environment.clock.set(325.0)
    environment.go_live()
    sampler = environment.sampler()
    sampler.open()
    loop = SamplingLoop(
        sampler, interval_s=1.0, on_snapshot=lambda _snapshot: None, on_failure=print
    )
    thread = threading.Thread(target=loop.run)
    thread.start()
    # Its own CPU clock, read over the same window as the exporter's (after the settle: the
    # story's GPUs rest for its first seconds, when the ten-a-second rounds are off).
    cpu_clock = time.pthread_getcpuclockid(thread.ident)
    time.sleep(SETTLE_S)
    before, started = time.clock_gettime(cpu_clock), time.monotonic()
    time.sleep(window_s)
    used, ended = time.clock_gettime(cpu_clock) - before, time.monotonic()
    loop.stop()
    thread.join()
    environment.uninstall()
    return used / (ended - started)


def shares(values: list[float]) -> str:
    each = ", ".join(f"{value:.2%}" for value in values)
    return f"{each} (median {statistics.median(values):.2%} of a core)"


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def timed_ms(action, repeat: int) -> tuple[float, float]:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), percentile(times, 0.99)


def scrape_costs(repeat: int) -> None:
    environment = SimulatedEnvironment("dual")
    environment.install()
    readings = environment.story_so_far(60.0, 1.0, 70)
    board = MetricsBoard()
    board.took(readings[-1])
    exposition = Exposition(board, version="bench", demo="dual")
    text, _ = exposition.render()
    series = sum(1 for line in text.splitlines() if not line.startswith(b"#"))
    print(f"two GPUs: {series} series, {len(text) / 1024:.1f} KiB of text")
    median, p99 = timed_ms(exposition.render, repeat)
    print(f"render, the same reading (text reused):    median {median:.3f} ms, p99 {p99:.3f} ms")
    fresh = itertools.cycle(readings)
    median, p99 = timed_ms(lambda: (board.took(next(fresh)), exposition.render()), repeat)
    print(f"render, a new reading each time:           median {median:.3f} ms, p99 {p99:.3f} ms")
    median, p99 = timed_ms(lambda: generate_latest(exposition.registry), repeat)
    print(f"(prometheus_client's generate_latest alone: median {median:.3f} ms, p99 {p99:.3f} ms)")
    server = MetricsServer(exposition, "127.0.0.1", 0).start()
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)

    def request(new: bool) -> None:
        if new:
            board.took(next(fresh))
        connection.request("GET", "/metrics")
        connection.getresponse().read()

    try:
        median, p99 = timed_ms(lambda: request(False), repeat)
        print(
            f"HTTP GET /metrics, the same reading:        median {median:.3f} ms, p99 {p99:.3f} ms"
        )
        median, p99 = timed_ms(lambda: request(True), repeat)
    finally:
        connection.close()
        server.stop()
        environment.uninstall()
    print(f"HTTP GET /metrics, new reading each time:   median {median:.3f} ms, p99 {p99:.3f} ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--window", type=float, default=60.0, help="seconds measured")
    parser.add_argument("--scrape-every", type=float, default=15.0)
    parser.add_argument("--scrapes", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3, help="CPU runs of each, alternating")
    parser.add_argument("--skip-cpu", action="store_true")
    parser.add_argument("--skip-scrape", action="store_true")
    args = parser.parse_args()
    if not args.skip_scrape:
        scrape_costs(args.scrapes)
    if not args.skip_cpu:
        print(
            f"CPU over {args.window:g} s after {SETTLE_S:g} s, 1 s sampling, two GPUs at work, "
            f"{args.runs} alternating runs:"
        )
        alone, exporter = [], []
        for _ in range(args.runs):
            alone.append(sampling_thread_cpu(args.window))
            exporter.append(exporter_cpu(args.window, args.scrape_every, "--no-ollama")[0])
        print(f"  the dashboard's sampling thread alone: {shares(alone)}")
        print(f"  rigtui exporter --no-ollama:           {shares(exporter)}")
        share, scrapes = exporter_cpu(args.window, args.scrape_every)
        print(f"  rigtui exporter with Ollama, one run:  {share:.2%} ({scrapes} scrapes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
