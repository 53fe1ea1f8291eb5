"""The real app on a pseudo-terminal: keys reach it through rigtui's terminal driver."""

from __future__ import annotations

import fcntl
import os
import re
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

import pyte
import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")

COLS, ROWS = 100, 30
TERMINAL_QUERIES = re.compile(rb"\x1b\[[?>][0-9;]*\$?[pu]")
UNFINISHED_SEQUENCE = re.compile(rb"\x1b(\[[0-9;?>$]*)?$")


class Terminal:
    """``python -m rigtui ARGS`` on a pty, its output kept on an emulated screen."""

    def __init__(self, *args: str) -> None:
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, 0, 0))
        env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": str(COLS), "LINES": str(ROWS)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "rigtui", *args],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            start_new_session=True,
        )
        os.close(slave)
        self.master = master
        self.screen = pyte.Screen(COLS, ROWS)
        self.stream = pyte.ByteStream(self.screen)
        self.lock = threading.Lock()
        self._unfinished = b""
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self.master, 65536)
            except OSError:
                return
            if not data:
                return
            with self.lock:
                # pyte cannot parse the mode queries Textual sends on start and on resume
                # (DECRQM ``CSI ? 2026 $ p``, the kitty keyboard ``CSI > 25 u``): its parser
                # raised and dropped the rest of the frame, the footer with it.
                # A sequence cut by the read's end waits for its rest, so it is seen whole.
                data, self._unfinished = self._unfinished + data, b""
                if cut := UNFINISHED_SEQUENCE.search(data):
                    data, self._unfinished = data[: cut.start()], data[cut.start() :]
                try:
                    self.stream.feed(TERMINAL_QUERIES.sub(b"", data))
                except TypeError:  # another sequence pyte cannot parse: start its parser again
                    self.stream = pyte.ByteStream(self.screen)

    def shows(self, text: str) -> bool:
        with self.lock:
            return any(text in line for line in self.screen.display)

    def wait_until(self, condition, timeout_s: float, what: str) -> float:
        started = time.monotonic()
        while not condition():
            if time.monotonic() - started > timeout_s:
                raise AssertionError(f"{what}: not within {timeout_s} s")
            time.sleep(0.02)
        return time.monotonic() - started

    def clear(self) -> None:
        with self.lock:
            self.screen.reset()

    def send(self, keys: str) -> None:
        os.write(self.master, keys.encode())

    def wakes_by_thread(self) -> dict[str, int]:
        """How often each thread has been woken so far (the kernel's count)."""
        wakes = {}
        for task in Path(f"/proc/{self.process.pid}/task").iterdir():
            wakes[task.name] = int((task / "schedstat").read_text().split()[2])
        return wakes

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        os.close(self.master)


def test_the_input_thread_sleeps_until_a_key_and_escape_and_quit_still_work():
    terminal = Terminal("--demo", "--demo-at", "0", "--no-ollama")  # the GPU rests
    try:
        terminal.wait_until(lambda: terminal.shows("Quit"), 30, "the dashboard")
        time.sleep(1.0)
        before = terminal.wakes_by_thread()
        time.sleep(2.0)
        after = terminal.wakes_by_thread()
        # Textual's own driver wakes its input thread ten times a second, key or not: 20 here,
        # and every thread wakes (the others for the readings and frames, 4 to 10 times, more
        # with tests running beside). rigtui's input thread sleeps until there is input.
        wakes = sorted(after[tid] - before.get(tid, 0) for tid in after)
        assert wakes[0] <= 1, wakes
        # The waits are deadlines, not paces: long, for a suite on two busy cores.
        terminal.send("?")
        terminal.wait_until(lambda: terminal.shows("rigtui keys"), 30, "the help")
        terminal.send("\x1b")  # a lone Escape is a key once the parser has waited for more
        terminal.wait_until(lambda: not terminal.shows("rigtui keys"), 30, "Escape")
        terminal.send("q")
        quit_s = terminal.wait_until(lambda: terminal.process.poll() is not None, 30, "quitting")
        assert terminal.process.returncode == 0
        # The input thread was woken to stop: left to wait for a key, it would never end.
        assert quit_s < 10.0, quit_s
    finally:
        terminal.close()


def test_quitting_does_not_wait_for_the_next_reading():
    """The sampling thread sleeps until its next reading, and the process waits for its threads:
    with a 30 s interval, quitting took until the next reading was due."""
    terminal = Terminal("--demo", "--demo-at", "0", "--no-ollama", "--interval", "30")
    try:
        terminal.wait_until(lambda: terminal.shows("Quit"), 30, "the dashboard")
        time.sleep(0.5)
        terminal.send("q")
        quit_s = terminal.wait_until(lambda: terminal.process.poll() is not None, 25, "quitting")
        assert terminal.process.returncode == 0
        assert quit_s < 5.0, quit_s
    finally:
        terminal.close()


def _stopped(pid: int) -> bool:
    """The process is stopped (``T`` in /proc/PID/stat)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "T"


def test_suspend_and_resume_then_keys_still_work():
    """``kill -TSTP`` then ``fg`` (SIGCONT) ended the app with ``OSError: Bad file descriptor``:
    suspending closed the pipe that wakes the input thread, and the thread of the resumed
    application mode waited on it. Ctrl+Z suspends as ``kill -TSTP`` does."""
    # The waits are deadlines, not paces: long, for a suite on two busy cores.
    terminal = Terminal("--demo", "--demo-at", "0", "--no-ollama")
    pid = terminal.process.pid
    try:
        terminal.wait_until(lambda: terminal.shows("Quit"), 30, "the dashboard")
        for suspend in ("kill -TSTP", "ctrl+z"):
            if suspend == "ctrl+z":
                terminal.send("\x1a")
            else:
                os.kill(pid, signal.SIGTSTP)
            terminal.wait_until(lambda: _stopped(pid), 30, f"stopped by {suspend}")
            terminal.clear()  # so that what shows next was drawn after resuming
            os.kill(pid, signal.SIGCONT)  # what the shell's fg sends
            terminal.wait_until(lambda: not _stopped(pid), 30, f"running after {suspend}")
            assert terminal.process.poll() is None
            terminal.send("?")
            terminal.wait_until(lambda: terminal.shows("rigtui keys"), 30, "a key after resuming")
            terminal.send("\x1b")
            terminal.wait_until(lambda: not terminal.shows("rigtui keys"), 30, "Escape")
        terminal.send("q")
        terminal.wait_until(lambda: terminal.process.poll() is not None, 30, "quitting")
        assert terminal.process.returncode == 0
    finally:
        terminal.close()


def test_alt_and_a_digit_as_terminals_send_it_switches_tabs():
    """xterm, VTE, Konsole and tmux send Alt+3 as Escape then ``3``; Textual read it as ``£``
    (WezTerm on macOS's Option+3), so the tab keys that work while typing never came."""
    terminal = Terminal("--demo", "--demo-at", "0", "--no-ollama")
    try:
        terminal.wait_until(lambda: terminal.shows("Quit"), 30, "the dashboard")
        assert not terminal.shows("Command")  # a column of the Processes tab only
        terminal.send("\x1b3")
        terminal.wait_until(lambda: terminal.shows("Command"), 30, "the Processes tab")
        terminal.clear()  # from here, only what is drawn after the key counts
        terminal.send("\x1b1")
        # What the Rig tab draws, not what the Processes tab leaves: a frame that pyte drops
        # under load can leave a stale "Command" where nothing is redrawn, while the GPU
        # card's TEMP row is drawn again with every reading.
        terminal.wait_until(lambda: terminal.shows("TEMP"), 30, "the Rig tab")
        terminal.send("q")
        terminal.wait_until(lambda: terminal.process.poll() is not None, 30, "quitting")
    finally:
        terminal.close()
