"""Recordings: written sample by sample, read back identically, and safe to kill."""

from __future__ import annotations

import csv
import json
import os
import random
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone

import pytest

from rigtui.cli import main
from rigtui.llm.ollama import RunningModel
from rigtui.recording import (
    CSV_COLUMNS,
    RecordingError,
    RecordingWriter,
    ReplayCursor,
    read_recording,
)
from rigtui.telemetry.export import snapshot_to_dict

GIB = 1024**3
SPLIT = RunningModel("llama3.3:70b", 47_700_000_000, 24_600_000_000, 4096,
                     datetime(2026, 11, 18, 11, 20, tzinfo=timezone.utc))  # fmt: skip


@pytest.fixture
def samples(dual, clock):
    """Twenty samples of the dual-GPU story, one a second from 100 s (a model loading)."""
    sampler = dual.sampler()
    sampler.open()
    taken = []
    for second in range(100, 120):
        clock.set(second)
        taken.append(sampler.sample())
    return taken


def write(path, fmt, samples, models=None):
    writer = RecordingWriter(path, fmt)
    for snapshot in samples:
        writer.write(snapshot, models)
    writer.close()
    return path


def test_jsonl_round_trip_is_exact(tmp_path, samples):
    path = write(tmp_path / "rig.jsonl", "jsonl", samples, [SPLIT])
    recording = read_recording(path)
    assert recording.format == "jsonl" and not recording.problems
    assert [snapshot_to_dict(s) for s in recording.snapshots] == [
        snapshot_to_dict(s) for s in samples
    ]
    assert recording.models[0] == [SPLIT]
    assert recording.duration_s == 19.0


def test_csv_round_trip_keeps_every_column(tmp_path, samples):
    path = write(tmp_path / "rig.csv", "csv", samples, [SPLIT])
    with path.open() as handle:
        rows = list(csv.DictReader(handle))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert len(rows) == 2 * len(samples)  # one row per GPU per sample
    assert rows[0]["ollama_models"] == "llama3.3:70b=48%/52% CPU/GPU"
    recording = read_recording(path)
    assert len(recording.snapshots) == len(samples)
    for original, back in zip(samples, recording.snapshots, strict=True):
        assert back.taken_at == original.taken_at
        assert back.cpu.percent == original.cpu.percent
        assert back.memory.used_bytes == original.memory.used_bytes
        for gpu, read in zip(original.gpus, back.gpus, strict=True):
            for field in (
                "utilization_gpu_pct",
                "memory_used_bytes",
                "temperature_c",
                "power_draw_w",
                "power_peak_1s_w",
                "clocks_sm_mhz",
                "pcie_link_gen",
                "pcie_rx_bytes_per_s",
                "clocks_event_reasons",
                "pstate",
            ):
                assert getattr(read, field) == getattr(gpu, field), field


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_a_file_cut_at_any_byte_replays_up_to_the_cut(tmp_path, samples, fmt):
    path = write(tmp_path / f"rig.{fmt}", fmt, samples)
    data = path.read_bytes()
    header = data.index(b"\n") + 1 if fmt == "csv" else 0
    rows_per_sample = 2 if fmt == "csv" else 1
    ends = [i + 1 for i, byte in enumerate(data) if byte == ord("\n")][(1 if fmt == "csv" else 0) :]
    rng = random.Random(7)
    for cut in [*sorted(rng.sample(range(header + 1, len(data)), 40)), len(data) - 1]:
        (tmp_path / "cut").write_bytes(data[:cut])
        whole_lines = sum(1 for end in ends if end <= cut)
        expected = whole_lines // rows_per_sample
        if expected == 0:
            with pytest.raises(RecordingError, match="no complete sample"):
                read_recording(tmp_path / "cut")
            continue
        recording = read_recording(tmp_path / "cut")
        assert [s.taken_at for s in recording.snapshots] == [s.taken_at for s in samples[:expected]]
        if cut not in ends:
            assert recording.problems  # it says where it stopped


def test_appending_after_a_kill_keeps_both_parts_readable(tmp_path, samples):
    path = write(tmp_path / "rig.jsonl", "jsonl", samples[:5])
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 40])  # killed while writing the fifth sample
    writer = RecordingWriter(path, "jsonl", append=True)
    for snapshot in samples[5:8]:
        writer.write(snapshot)
    writer.close()
    recording = read_recording(path)
    assert [s.taken_at for s in recording.snapshots] == [
        s.taken_at for s in samples[:4] + samples[5:8]
    ]
    assert recording.problems == [f"line 5: not a sample ({recording.problems[0].split('(', 1)[1]}"]


def test_an_existing_file_is_never_overwritten_by_accident(tmp_path, samples):
    path = write(tmp_path / "rig.jsonl", "jsonl", samples[:2])
    before = path.read_bytes()
    with pytest.raises(RecordingError, match=r"exists: use --append .* or --force"):
        RecordingWriter(path, "jsonl")
    with pytest.raises(RecordingError, match="not a rigtui CSV recording"):
        RecordingWriter(path, "csv", append=True)
    assert path.read_bytes() == before
    RecordingWriter(path, "jsonl", force=True).close()
    assert path.read_bytes() == b""


def test_not_a_recording_is_refused_with_a_reason(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello\n")
    with pytest.raises(RecordingError, match="not a rigtui recording"):
        read_recording(path)
    with pytest.raises(RecordingError, match="cannot read"):
        read_recording(tmp_path / "missing.jsonl")


def test_the_replay_cursor_plays_seeks_and_changes_speed(tmp_path, samples):
    cursor = ReplayCursor(read_recording(write(tmp_path / "rig.jsonl", "jsonl", samples)))
    assert cursor.index() == 0
    cursor.advance(2.5)
    assert cursor.index() == 2
    assert cursor.faster() and cursor.speed == 2.0
    cursor.advance(3.0)
    assert cursor.index() == 8
    cursor.seek(-100)
    assert cursor.index() == 0
    cursor.seek(1000)
    assert cursor.index() == 19
    cursor.seek_to(cursor.start)
    cursor.playing = True
    cursor.speed = 60.0
    cursor.advance(1.0)
    assert cursor.index() == 19 and not cursor.playing  # stops at the end
    assert not cursor.faster()


def test_record_command_writes_samples_for_a_duration(tmp_path):
    path = tmp_path / "run.csv"
    argv = ["record", str(path), "--demo", "--duration", "1.5", "--interval", "0.5", "--no-ollama"]
    assert main(argv) == 0
    recording = read_recording(path)
    assert recording.format == "csv" and 3 <= len(recording.snapshots) <= 5
    assert main(["record", str(path), "--demo", "--duration", "1"]) == 2  # refuses to overwrite


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_record_stops_cleanly_on_ctrl_c_and_sigterm(tmp_path, sig):
    path = tmp_path / "run.jsonl"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rigtui",
            "record",
            str(path),
            "--demo",
            "--interval",
            "0.25",
            "--no-ollama",
        ],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "HOME": str(tmp_path)},
    )
    deadline = time.monotonic() + 30
    while (not path.exists() or path.stat().st_size == 0) and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.6)
    process.send_signal(sig)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert "recorded" in err and "samples" in err
    lines = path.read_text().splitlines()
    assert lines and all(json.loads(line)["gpus"] for line in lines)  # every line whole
