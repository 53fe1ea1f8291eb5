"""Recordings: written sample by sample, read back identically, and safe to kill."""

from __future__ import annotations

import csv
import json
import random
from datetime import datetime, timezone
from pathlib import Path

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


def _with_values(path, line_values):
    """Rewrite some lines of a JSON Lines recording: {line number: {gpu field: value}}."""
    lines = path.read_text().splitlines(keepends=True)
    for number, values in line_values.items():
        record = json.loads(lines[number - 1])
        record["gpus"][0].update(values)
        lines[number - 1] = json.dumps(record) + "\n"  # json writes NaN and Infinity as Python does
    path.write_text("".join(lines))


def test_wrong_typed_nan_and_infinite_values_are_skipped_and_reported(tmp_path, samples):
    path = write(tmp_path / "rig.jsonl", "jsonl", samples)
    _with_values(
        path,
        {
            3: {"utilization_gpu_pct": "ninety"},
            5: {"power_draw_w": float("nan"), "temperature_c": float("inf")},
            7: {"memory_used_bytes": [1, 2], "name": 4090, "clocks_event_reasons": "idle"},
        },
    )
    recording = read_recording(path)
    assert len(recording.snapshots) == len(samples)  # every sample kept; only the values skipped
    third, fifth, seventh = (recording.snapshots[n - 1].gpus[0] for n in (3, 5, 7))
    assert third.utilization_gpu_pct is None
    assert third.reason("utilization_gpu_pct") == "bad value in the recording"
    assert third.memory_used_bytes == samples[2].gpus[0].memory_used_bytes  # the rest still read
    assert (fifth.power_draw_w, fifth.temperature_c) == (None, None)
    assert (seventh.memory_used_bytes, seventh.name, seventh.clocks_event_reasons) == (None,) * 3
    assert recording.problems == [
        "line 3: skipped gpus[0].utilization_gpu_pct ('ninety': not a number)",
        "line 5: skipped gpus[0].temperature_c (inf: not a finite number), "
        "gpus[0].power_draw_w (nan: not a finite number)",
        "line 7: skipped gpus[0].name (4090: not text), "
        "gpus[0].memory_used_bytes ([1, 2]: not a number), "
        "gpus[0].clocks_event_reasons ('idle': not a list of text)",
    ]
    assert recording.summary().endswith("(and 2 more problems)")


def test_a_bad_value_where_a_sample_cannot_do_without_it_skips_the_line(tmp_path, samples):
    path = write(tmp_path / "rig.jsonl", "jsonl", samples[:3])
    lines = path.read_text().splitlines(keepends=True)
    record = json.loads(lines[1])
    record["cpu"]["percent"] = float("nan")
    lines[1] = json.dumps(record) + "\n"
    path.write_text("".join(lines))
    recording = read_recording(path)
    assert [s.taken_at for s in recording.snapshots] == [samples[0].taken_at, samples[2].taken_at]
    assert recording.problems == ["line 2: not a sample (cpu.percent: nan is not a finite number)"]


def test_bad_values_in_a_csv_recording_are_skipped_too(tmp_path, samples):
    path = write(tmp_path / "rig.csv", "csv", samples[:3])
    rows = path.read_text().splitlines(keepends=True)
    header = rows[0].rstrip("\n").split(",")
    cells = rows[1].rstrip("\n").split(",")
    cells[header.index("utilization_gpu_pct")] = "ninety"
    cells[header.index("power_draw_w")] = "nan"
    rows[1] = ",".join(cells) + "\n"
    path.write_text("".join(rows))
    recording = read_recording(path)
    assert len(recording.snapshots) == 3
    first = recording.snapshots[0].gpus[0]
    assert (first.utilization_gpu_pct, first.power_draw_w) == (None, None)
    assert first.reason("power_draw_w") == "bad value in the recording"
    assert recording.problems == [
        "line 2: skipped utilization_gpu_pct ('ninety': not a number), "
        "power_draw_w ('nan': not a finite number)"
    ]


def test_bad_values_in_the_loaded_models_are_skipped(tmp_path, samples):
    path = write(tmp_path / "rig.jsonl", "jsonl", samples[:2], [SPLIT])
    lines = path.read_text().splitlines(keepends=True)
    record = json.loads(lines[0])
    record["ollama"]["models"][0]["size_vram_bytes"] = "lots"
    record["ollama"]["models"].append({"size_bytes": 5})  # no name: not a model
    lines[0] = json.dumps(record) + "\n"
    path.write_text("".join(lines))
    recording = read_recording(path)
    # A model whose split cannot be known is left out rather than shown as 100% CPU.
    assert recording.models[0] == []
    assert recording.models[1] == [SPLIT]
    assert recording.problems == [
        "line 1: skipped ollama.models[0] (size_vram_bytes 'lots': not a number), "
        "ollama.models[1] (name None: not text)"
    ]


def test_the_reasons_for_null_fan_figures_survive_a_recording(tmp_path, make_sim, clock):
    from rigtui.telemetry.export import gpu_to_dict

    rig = make_sim(driver="r470")  # no per-fan RPM before R550
    sampler = rig.sampler()
    sampler.open()
    path = write(tmp_path / "old.jsonl", "jsonl", [sampler.sample()])
    back = gpu_to_dict(read_recording(path).snapshots[0].gpus[0])
    assert back["fan_speeds_rpm"] == [None, None]
    assert back["unavailable"]["fan_speeds_rpm"] == "needs a newer driver"
    assert read_recording(path).snapshots[0].gpus[0].fans[0].rpm_reason == "needs a newer driver"


def test_samples_out_of_time_order_are_replayed_in_order(tmp_path, samples):
    path = write(tmp_path / "rig.jsonl", "jsonl", [samples[2], samples[0], samples[1]])
    recording = read_recording(path)
    assert [s.taken_at for s in recording.snapshots] == [s.taken_at for s in samples[:3]]
    assert recording.problems == [
        "samples out of time order (the clock went back): played in order"
    ]
    cursor = ReplayCursor(recording)
    cursor.seek(1.5)
    assert cursor.index() == 1


def test_a_device_that_never_ends_is_refused_from_its_start():
    """``--replay /dev/zero`` read without end (into memory) before saying anything."""
    with pytest.raises(RecordingError, match="not a rigtui recording"):
        read_recording(Path("/dev/zero"))
