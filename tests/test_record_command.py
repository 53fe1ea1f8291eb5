"""``rigtui record`` as a user meets it: stopped by a signal at any moment, or by a full disk.

Each test waits on the recording's file (its first line, or its creation), never on time.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rigtui.cli import main
from rigtui.commands.record import StopRequests
from rigtui.recording import read_recording

DEADLINE_S = 60


def _start(path: Path, home: Path, *extra: str, **popen) -> subprocess.Popen:
    argv = [sys.executable, "-m", "rigtui", "record", str(path), "--demo", "--no-ollama"]
    return subprocess.Popen(
        [*argv, "--interval", "0.25", *extra],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "HOME": str(home)},
        **popen,
    )


def _until(condition, process: subprocess.Popen) -> None:
    """Wait for a state of the file (polled: a file has no event to wait on)."""
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        assert process.poll() is None, process.communicate()[1]
        assert time.monotonic() < deadline, "the recorder never got there"
        time.sleep(0.01)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_while_the_rig_opens_ends_with_the_summary(tmp_path, sig):
    """The file is created before the rig opens: a Ctrl-C then was a KeyboardInterrupt
    traceback from wherever the import or the simulation stood, and SIGTERM killed it silently,
    without the summary."""
    path = tmp_path / "run.jsonl"
    process = _start(path, tmp_path)
    _until(path.exists, process)
    process.send_signal(sig)
    _, err = process.communicate(timeout=DEADLINE_S)
    assert process.returncode == 0, err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1] == f"recorded 0 samples to {path} (jsonl)"
    assert path.read_text() == ""


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_while_recording_keeps_every_sample_whole(tmp_path, sig):
    path = tmp_path / "run.jsonl"
    process = _start(path, tmp_path)
    _until(lambda: path.exists() and path.read_text().count("\n") >= 2, process)
    process.send_signal(sig)
    _, err = process.communicate(timeout=DEADLINE_S)
    assert process.returncode == 0, err
    assert "Traceback" not in err
    lines = path.read_text().splitlines()
    assert err.strip().splitlines()[-1] == f"recorded {len(lines)} samples to {path} (jsonl)"
    assert all(json.loads(line)["gpus"] for line in lines)


def test_a_second_ctrl_c_stops_at_once_with_the_summary(tmp_path):
    """The first asks for the sample being taken to finish; a second does not wait for it."""
    path = tmp_path / "run.jsonl"
    process = _start(path, tmp_path)
    _until(lambda: path.exists() and path.stat().st_size > 0, process)
    process.send_signal(signal.SIGINT)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=DEADLINE_S)
    assert process.returncode == 0, err
    assert "Traceback" not in err and "recorded" in err


def test_a_full_device_is_one_message_and_the_summary(capsys):
    assert main(["record", "/dev/full", "--force", "--demo", "--no-ollama", "--duration", "9"]) == 1
    lines = [line for line in capsys.readouterr().err.splitlines() if line]
    assert lines == [
        "rigtui: error: cannot write /dev/full: No space left on device",
        "recorded 0 samples to /dev/full (jsonl)",
    ]


def test_a_recording_cut_short_by_a_write_error_keeps_its_whole_lines(tmp_path):
    """The file may grow to 6000 bytes (RLIMIT_FSIZE, as a disk that fills): writes past it
    fail with EFBIG, part-way through the third sample."""
    path = tmp_path / "run.jsonl"
    limit = 6000

    def limited() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    process = _start(path, tmp_path, "--duration", "300", preexec_fn=limited)
    _, err = process.communicate(timeout=DEADLINE_S)
    assert process.returncode == 1, err
    assert "Traceback" not in err
    assert f"rigtui: error: cannot write {path}: File too large" in err
    summary = err.strip().splitlines()[-1]
    text = path.read_text()
    whole = text[: text.rindex("\n") + 1].splitlines()
    assert summary == f"recorded {len(whole)} samples to {path} (jsonl)"
    assert len(whole) >= 1 and all(json.loads(line)["gpus"] for line in whole)
    assert len(read_recording(path).snapshots) == len(whole)


def test_a_second_request_stops_at_once_until_the_recording_is_summed_up():
    """Two Ctrl-C in a row under load: the second could land in the summary, after the loop had
    ended, and kill the recorder there (exit -2, no summary)."""
    stops = StopRequests()
    stops._on_signal(signal.SIGINT, None)
    assert stops.requested
    with pytest.raises(KeyboardInterrupt):
        stops._on_signal(signal.SIGINT, None)
    stops.finishing()
    stops._on_signal(signal.SIGINT, None)  # let pass: nothing is left to stop
