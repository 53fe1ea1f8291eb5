"""Run a program on a pseudo-terminal of a fixed size and watch what it costs (not a benchmark).

The benchmarks start the real ``rigtui`` (or btop) exactly as a user would, on a pty whose
other end is read here as fast as it comes, so the program never waits on a slow terminal.
Measured from outside, like ``top`` would: the process's CPU time and resident memory from
/proc, and every byte it writes to the terminal with the moment it arrived.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import queue
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psutil

RIGTUI = [sys.executable, "-m", "rigtui"]
TAB_KEYS = {"rig": "1", "charts": "2", "processes": "3", "chat": "4"}
"""The key that shows each of rigtui's tabs."""


def terminal_size(text: str) -> tuple[int, int]:
    """``120x40`` as (columns, rows): an argparse ``type``."""
    cols, sep, rows = text.partition("x")
    if not (sep and cols.isdigit() and rows.isdigit()):
        raise argparse.ArgumentTypeError(f"{text!r} is not a size like 120x40")
    return int(cols), int(rows)


class TerminalRun:
    """One program on a ``cols`` x ``rows`` pty; a thread drains its output."""

    def __init__(
        self,
        argv: list[str],
        cols: int,
        rows: int,
        *,
        env: dict[str, str] | None = None,
        on_output: Callable[[bytes, float], None] | None = None,
    ) -> None:
        self.argv = argv
        self.cols, self.rows = cols, rows
        self.on_output = on_output
        self.env = {
            **os.environ,
            "TERM": "xterm-256color",
            "COLORTERM": "truecolor",
            "COLUMNS": str(cols),
            "LINES": str(rows),
            **(env or {}),
        }
        self.started_at = 0.0
        self.bytes_written = 0
        self._lock = threading.Lock()
        self._process: subprocess.Popen | None = None
        self._reader: threading.Thread | None = None
        self._master = -1

    def __enter__(self) -> TerminalRun:
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", self.rows, self.cols, 0, 0))
        self._master = master
        self.started_at = time.monotonic()
        self._process = subprocess.Popen(
            self.argv,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=self.env,
            start_new_session=True,
            close_fds=True,
        )
        os.close(slave)
        self.ps = psutil.Process(self._process.pid)
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def _drain(self) -> None:
        while True:
            try:
                chunk = os.read(self._master, 65536)
            except OSError:
                return
            if not chunk:
                return
            now = time.monotonic()
            with self._lock:
                self.bytes_written += len(chunk)
            if self.on_output is not None:
                self.on_output(chunk, now)

    def send(self, keys: str | bytes) -> None:
        os.write(self._master, keys.encode() if isinstance(keys, str) else keys)

    def cpu_seconds(self) -> float:
        times = self.ps.cpu_times()
        return times.user + times.system

    def rss_bytes(self) -> int:
        return self.ps.memory_info().rss

    def written(self) -> int:
        with self._lock:
            return self.bytes_written

    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self) -> None:
        if self._process is None:
            return
        if self._process.poll() is None:
            os.killpg(self._process.pid, signal.SIGTERM)
            try:
                self._process.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self._process.pid, signal.SIGKILL)
                self._process.wait()
        os.close(self._master)
        if self._reader is not None:
            self._reader.join(2)
        self._process = None


def measure_steady(run: TerminalRun, settle_s: float, window_s: float) -> tuple[float, float]:
    """After ``settle_s``: the CPU share of one core, and bytes/s to the terminal, over
    ``window_s``."""
    time.sleep(max(0.0, run.started_at + settle_s - time.monotonic()))
    cpu0, bytes0, t0 = run.cpu_seconds(), run.written(), time.monotonic()
    time.sleep(window_s)
    cpu1, bytes1, t1 = run.cpu_seconds(), run.written(), time.monotonic()
    if not run.running():
        raise RuntimeError(f"{run.argv[0]} exited during the measurement")
    return (cpu1 - cpu0) / (t1 - t0), (bytes1 - bytes0) / (t1 - t0)


def btop_config(directory: Path, interval_ms: int = 1000) -> dict[str, str]:
    """An environment whose btop refreshes every ``interval_ms``, with its default layout."""
    config = directory / "btop"
    config.mkdir(parents=True, exist_ok=True)
    (config / "btop.conf").write_text(f"update_ms = {interval_ms}\n")
    return {"XDG_CONFIG_HOME": str(directory), "HOME": str(directory)}


def btop_path() -> str | None:
    from shutil import which

    return which("btop")


class EmulatedScreen:
    """What a terminal shows, emulated (pyte) on a thread of its own so that reading the pty
    never waits on it; notes when the screen first shows all of ``watch_for``.

    Emulating costs about as much CPU as the program measured: while measuring on a machine with
    few cores, :meth:`hold` keeps what arrives, with its time, and :meth:`first_showing` works
    out afterwards when the screen first showed something.
    """

    def __init__(self, cols: int, rows: int) -> None:
        import pyte

        self.screen = pyte.Screen(cols, rows)
        self.stream = pyte.ByteStream(self.screen)
        self.chunks: queue.Queue[tuple[bytes, float]] = queue.Queue()
        self.watch_for: tuple[str, ...] = ()
        self.seen_at: float | None = None
        self.seen = threading.Event()
        self._held: list[tuple[bytes, float]] | None = None
        self._lock = threading.Lock()
        threading.Thread(target=self._feed, daemon=True).start()

    def output(self, chunk: bytes, arrived_at: float) -> None:
        """For :class:`TerminalRun`'s ``on_output``."""
        self.chunks.put((chunk, arrived_at))

    def _feed(self) -> None:
        while True:
            chunk, arrived_at = self.chunks.get()
            with self._lock:
                if self._held is not None:
                    self._held.append((chunk, arrived_at))
                    continue
                self.stream.feed(chunk)
            if self.watch_for and not self.seen.is_set() and self.shows(*self.watch_for):
                self.seen_at = arrived_at
                self.seen.set()

    def hold(self) -> None:
        """From now on keep what arrives instead of emulating it."""
        with self._lock:
            self._held = []

    def first_showing(self, *texts: str) -> float | None:
        """After :meth:`hold`: the arrival time of the output after which the screen first
        showed all of ``texts`` (None: not yet)."""
        with self._lock:
            held = self._held or []
            self._held = []
            for index, (chunk, arrived_at) in enumerate(held):
                self.stream.feed(chunk)
                if self.shows(*texts):
                    self._held = held[index + 1 :] + self._held
                    return arrived_at
            return None

    def shows(self, *texts: str) -> bool:
        lines = self.screen.display
        return all(any(text in line for line in lines) for text in texts)


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up waiting for {what}")
        time.sleep(0.05)


class SimulatedOllamaServer:
    """The simulated Ollama in a process of its own, as the real one is, so that its work is
    not counted as rigtui's (``python -m rigtui.sim.serve --report``): its address, and each
    chat request's log as it finishes."""

    def __init__(self, *arguments: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "rigtui.sim.serve", "--report", *arguments],
            stdout=subprocess.PIPE,
            text=True,
        )
        self.url = self.process.stdout.readline().strip()
        self.finished: queue.Queue[dict] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            log = json.loads(line)
            if log.get("finished_at") and log.get("path") == "/api/chat":
                self.finished.put(log)

    def __enter__(self) -> SimulatedOllamaServer:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait()
