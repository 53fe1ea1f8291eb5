"""Recordings of the rig: written one sample at a time, read back for replay.

Two formats. JSON Lines (``.jsonl``, the default): one line per sample, the same object as
``rigtui snapshot --json`` plus ``"ollama"`` (the loaded models and their split) — complete, and
what ``--replay`` shows in full. CSV (``.csv``): one row per GPU per sample, with the units in
the column names, for spreadsheets and plotting.

Each sample is written as whole lines with one ``write`` and flushed, so a killed recorder loses
at most the sample it was writing; appending after such a cut starts on a fresh line, so what was
written stays readable. The reader skips lines it cannot parse and says where.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from itertools import pairwise
from pathlib import Path
from typing import Any, TextIO

from rigtui.llm.ollama import RunningModel
from rigtui.llm.placement import processor_split
from rigtui.telemetry.export import (
    BAD_VALUE,
    BadValueError,
    ValueCheck,
    number_problem,
    snapshot_from_dict,
    snapshot_to_dict,
)
from rigtui.telemetry.model import (
    CpuReading,
    FanReading,
    GpuReading,
    MemoryReading,
    NvmlStatus,
    RigSnapshot,
    freeze_reasons,
)
from rigtui.text import units

FORMATS = ("jsonl", "csv")

CSV_COLUMNS = (
    "taken_at",
    "taken_at_epoch_s",
    "hostname",
    "gpu_index",
    "gpu_name",
    "gpu_lost",
    "utilization_gpu_pct",
    "utilization_memory_pct",
    "memory_used_bytes",
    "memory_total_bytes",
    "temperature_c",
    "temperature_slowdown_c",
    "fan_speed_pct",
    "power_draw_w",
    "power_limit_w",
    "power_peak_1s_w",
    "energy_total_j",
    "pstate",
    "clocks_sm_mhz",
    "clocks_mem_mhz",
    "clocks_event_reasons",
    "pcie_link_gen",
    "pcie_link_width",
    "pcie_rx_bytes_per_s",
    "pcie_tx_bytes_per_s",
    "cpu_percent",
    "load_average_1m",
    "ram_used_bytes",
    "ram_total_bytes",
    "swap_used_bytes",
    "ollama_models",
    "ollama_models_vram_bytes",
)


class RecordingError(Exception):
    """A recording that cannot be written or read, with a message that says why."""


def format_for(path: Path, explicit: str | None = None) -> str:
    if explicit:
        return explicit
    return "csv" if path.suffix.lower() == ".csv" else "jsonl"


# --- writing ---------------------------------------------------------------------------------


def models_to_dicts(models: Sequence[RunningModel]) -> list[dict[str, Any]]:
    return [
        {
            "name": model.name,
            "size_bytes": model.size_bytes,
            "size_vram_bytes": model.size_vram_bytes,
            "processor": processor_split(model.size_bytes, model.size_vram_bytes),
            "context_length": model.context_length,
            "expires_at": model.expires_at.isoformat() if model.expires_at else None,
        }
        for model in models
    ]


def models_from_dicts(
    items: Sequence[dict[str, Any]], check: ValueCheck | None = None, where: str = "models"
) -> list[RunningModel]:
    """The loaded models of a sample. A model whose name or split cannot be read is left out
    (and noted in ``check``) rather than shown with a split it did not have."""
    check = check if check is not None else ValueCheck()
    models = []
    for i, item in enumerate(check.items(items, where)):
        model = _model_from_dict(item, check, f"{where}[{i}]")
        if model is not None:
            models.append(model)
    return models


def _model_from_dict(item: Any, check: ValueCheck, where: str) -> RunningModel | None:
    item = check.entry(item, where)
    if item is None:
        return None
    name = item.get("name")
    if not isinstance(name, str):
        check.skipped.append(f"{where} (name {name!r}: not text)")
        return None
    sizes = []
    for key in ("size_bytes", "size_vram_bytes"):
        value = item.get(key) or 0
        problem = number_problem(value, integer=True, minimum=0)
        if problem is not None:
            check.skipped.append(f"{where} ({key} {value!r}: {problem})")
            return None
        sizes.append(int(value))
    expires = check.text(item.get("expires_at"), f"{where}.expires_at")
    try:
        expires_at = datetime.fromisoformat(expires) if expires else None
    except ValueError:
        check.skip(f"{where}.expires_at", expires, "not a time")
        expires_at = None
    return RunningModel(
        name=name,
        size_bytes=sizes[0],
        size_vram_bytes=sizes[1],
        context_length=check.number(
            item.get("context_length"), f"{where}.context_length", integer=True
        ),
        expires_at=expires_at,
    )


def _csv_cell(value: Any) -> Any:
    return "" if value is None else value


def csv_rows(snapshot: RigSnapshot, models: Sequence[RunningModel] | None) -> list[list[Any]]:
    common_before = [
        datetime.fromtimestamp(snapshot.taken_at, timezone.utc).isoformat(),
        snapshot.taken_at,
        snapshot.hostname,
    ]
    load = snapshot.cpu.load_average[0] if snapshot.cpu.load_average else None
    models = models or []
    common_after = [
        snapshot.cpu.percent,
        load,
        snapshot.memory.used_bytes,
        snapshot.memory.total_bytes,
        snapshot.memory.swap_used_bytes,
        ";".join(
            f"{model.name}={processor_split(model.size_bytes, model.size_vram_bytes)}"
            for model in models
        ),
        sum(model.size_vram_bytes for model in models) if models else None,
    ]
    rows = []
    for gpu in snapshot.gpus or (None,):
        if gpu is None:
            gpu_cells = [None] * 22
        else:
            fans = [fan.speed_pct for fan in gpu.fans if fan.speed_pct is not None]
            reasons = gpu.clocks_event_reasons
            gpu_cells = [
                gpu.index,
                gpu.name,
                int(gpu.lost),
                gpu.utilization_gpu_pct,
                gpu.utilization_memory_pct,
                gpu.memory_used_bytes,
                gpu.memory_total_bytes,
                gpu.temperature_c,
                gpu.temperature_slowdown_c,
                max(fans) if fans else None,
                gpu.power_draw_w,
                gpu.power_limit_w,
                gpu.power_peak_1s_w,
                gpu.energy_total_j,
                f"P{gpu.pstate}" if gpu.pstate is not None else None,
                gpu.clocks_sm_mhz,
                gpu.clocks_mem_mhz,
                ";".join(reasons) if reasons is not None else None,
                gpu.pcie_link_gen,
                gpu.pcie_link_width,
                gpu.pcie_rx_bytes_per_s,
                gpu.pcie_tx_bytes_per_s,
            ]
        rows.append([_csv_cell(v) for v in common_before + gpu_cells + common_after])
    return rows


class RecordingWriter:
    def __init__(self, path: Path, fmt: str, *, append: bool = False, force: bool = False):
        self.path = path
        self.format = fmt
        self.samples = 0
        exists = path.exists()
        if exists and path.is_dir():
            raise RecordingError(f"{path} is a directory")
        if exists and not (append or force):
            raise RecordingError(
                f"{path} exists: use --append to add to it or --force to replace it"
            )
        header_needed = True
        if exists and append:
            header_needed = self._check_append()
        try:
            self._file: TextIO = path.open(
                "w" if force or not exists else "a", encoding="utf-8", newline=""
            )
        except OSError as error:
            raise RecordingError(f"cannot write {path}: {error.strerror}") from None
        if exists and append and not self._ends_with_newline:
            # The previous recorder was killed mid-line: start on a fresh line.
            self._write("\n")
        if self.format == "csv" and header_needed:
            self._write(self._csv_text([list(CSV_COLUMNS)]))

    def _check_append(self) -> bool:
        """Whether the file still needs a CSV header; refuses a file of another format."""
        try:
            with self.path.open("rb") as handle:
                head = handle.readline().decode("utf-8", errors="replace").strip()
                handle.seek(0, os.SEEK_END)
                size = handle.tell()
                if size:
                    handle.seek(-1, os.SEEK_END)
                self._ends_with_newline = size == 0 or handle.read(1) == b"\n"
        except OSError as error:
            raise RecordingError(f"cannot read {self.path}: {error.strerror}") from None
        if not head:
            return True
        if self.format == "csv" and head != ",".join(CSV_COLUMNS):
            raise RecordingError(
                f"{self.path} is not a rigtui CSV recording (its header differs): will not append"
            )
        if self.format == "jsonl" and not head.startswith("{"):
            raise RecordingError(f"{self.path} is not a JSON Lines recording: will not append")
        return False

    _ends_with_newline = True

    @staticmethod
    def _csv_text(rows: list[list[Any]]) -> str:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows(rows)
        return buffer.getvalue()

    def _write(self, text: str) -> None:
        try:
            self._file.write(text)
            self._file.flush()
        except OSError as error:
            raise RecordingError(f"cannot write {self.path}: {error.strerror}") from None

    def write(
        self,
        snapshot: RigSnapshot,
        models: Sequence[RunningModel] | None = None,
        ollama_error: str | None = None,
    ) -> None:
        """One sample, as whole lines in one write, flushed."""
        if self.format == "csv":
            text = self._csv_text(csv_rows(snapshot, models))
        else:
            record = snapshot_to_dict(snapshot)
            record["ollama"] = {
                "models": models_to_dicts(models) if models is not None else None,
                "error": ollama_error,
            }
            text = json.dumps(record, separators=(",", ":")) + "\n"
        self._write(text)
        self.samples += 1

    def close(self) -> None:
        self._file.close()


# --- reading ---------------------------------------------------------------------------------


@dataclass
class Recording:
    path: Path
    format: str
    snapshots: list[RigSnapshot] = field(default_factory=list)
    models: list[list[RunningModel] | None] = field(default_factory=list)
    """The loaded Ollama models at each sample (None where Ollama was not reachable)."""
    problems: list[str] = field(default_factory=list)

    @property
    def duration_s(self) -> float:
        if len(self.snapshots) < 2:
            return 0.0
        return self.snapshots[-1].taken_at - self.snapshots[0].taken_at

    def summary(self) -> str:
        text = f"{len(self.snapshots)} samples over {self.duration_s:.0f} s"
        if self.problems:
            text += f"; {self.problems[0]}"
            if len(self.problems) > 1:
                text += f" (and {len(self.problems) - 1} more problems)"
        return text


RECOGNISED_WITHIN = 64 * 1024
"""Bytes read to tell a recording's kind."""


def read_recording(path: Path) -> Recording:
    """Every valid sample of a recording; what could not be read is listed in ``problems``."""
    try:
        with path.open("rb") as file:
            # Its kind is told from the start, before the rest is read: /dev/zero or a
            # device that never ends is refused at once instead of read into memory.
            head = file.read(RECOGNISED_WITHIN)
            text = head.decode("utf-8", errors="ignore")
            first = text.lstrip()[:1]
            fmt = "jsonl" if first == "{" else "csv" if text.startswith(CSV_COLUMNS[0]) else None
            if fmt is None:
                raise RecordingError(
                    f"{path} is not a rigtui recording (neither JSON Lines nor CSV)"
                )
            raw = head + file.read()
    except OSError as error:
        raise RecordingError(f"cannot read {path}: {error.strerror}") from None
    text = raw.decode("utf-8", errors="replace")
    recording = Recording(path=path, format=fmt)
    if fmt == "jsonl":
        _read_jsonl(text, recording)
    else:
        _read_csv(text, recording)
    if not recording.snapshots:
        detail = f": {recording.problems[0]}" if recording.problems else ""
        raise RecordingError(f"{path} holds no complete sample{detail}")
    _in_time_order(recording)
    return recording


def _in_time_order(recording: Recording) -> None:
    """The replay seeks by time: samples written after the clock was set back (or appended
    from an earlier run) are played in time order, and that is said."""
    times = [snapshot.taken_at for snapshot in recording.snapshots]
    if all(earlier <= later for earlier, later in pairwise(times)):
        return
    order = sorted(range(len(times)), key=times.__getitem__)
    recording.snapshots = [recording.snapshots[i] for i in order]
    recording.models = [recording.models[i] for i in order]
    recording.problems.append("samples out of time order (the clock went back): played in order")


def _cut_or_bad(number: int, last: bool, what: str) -> str:
    return f"stopped at line {number}: cut off mid-line" if last else f"line {number}: {what}"


def _read_jsonl(text: str, recording: Recording) -> None:
    lines = text.split("\n")
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        last = number == len(lines)
        if last:
            # A final line without its newline was cut while being written, even if what is left
            # happens to parse: the writer ends every sample with a newline.
            recording.problems.append(_cut_or_bad(number, True, ""))
            continue
        check = ValueCheck()
        try:
            record = json.loads(line)
            ollama = check.mapping(record.pop("ollama", None), "ollama")
            snapshot = snapshot_from_dict(record, check)
            models = ollama.get("models")
            loaded = (
                models_from_dicts(models, check, "ollama.models") if models is not None else None
            )
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            recording.problems.append(_cut_or_bad(number, last, f"not a sample ({error})"))
            continue
        recording.snapshots.append(snapshot)
        recording.models.append(loaded)
        _note_skipped(recording, number, check)


def _note_skipped(recording: Recording, number: int, check: ValueCheck) -> None:
    """Values that were not of their kind were skipped, and the sample kept: say which."""
    if check.skipped:
        recording.problems.append(f"line {number}: skipped {', '.join(check.skipped)}")


def _cell_number(
    cells: dict[str, str], column: str, check: ValueCheck, *, integer: bool = True, minimum=0
):
    """A CSV cell as a number; one that is not (``ninety``, ``nan``) is skipped into ``check``."""
    value = cells[column]
    if value == "":
        return None
    try:
        number = float(value)
    except ValueError:
        check.skip(column, value, "not a number")
        return None
    problem = number_problem(number, integer=integer, minimum=minimum)
    if problem is not None:
        check.skip(column, value, problem)
        return None
    return int(number) if integer else number


def _read_csv(text: str, recording: Recording) -> None:
    lines = text.split("\n")
    complete = len(lines) - (0 if text.endswith("\n") else 1)
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None or tuple(header) != CSV_COLUMNS:
        raise RecordingError(f"{recording.path}: the CSV header is not rigtui's")
    groups: dict[float, list[tuple[int, dict[str, str]]]] = {}
    order: list[float] = []
    for number, row in enumerate(reader, start=2):
        if not row:
            continue
        if number > complete or len(row) != len(CSV_COLUMNS):
            recording.problems.append(
                _cut_or_bad(number, number > complete, f"{len(row)} cells, not {len(CSV_COLUMNS)}")
            )
            continue
        cells = dict(zip(CSV_COLUMNS, row, strict=True))
        try:
            at = float(cells["taken_at_epoch_s"])
        except ValueError:
            at = math.nan
        if not math.isfinite(at):
            recording.problems.append(f"line {number}: no time")
            continue
        if at not in groups:
            groups[at] = []
            order.append(at)
        groups[at].append((number, cells))
    gpus_per_sample = max((len(rows) for rows in groups.values()), default=0)
    for at in order:
        rows = groups[at]
        if len(rows) < gpus_per_sample:
            recording.problems.append(f"sample at {at:.1f}: GPU rows missing (cut off)")
            continue
        checks = [ValueCheck() for _ in rows]
        try:
            snapshot, models = _snapshot_from_rows(at, rows, checks)
        except (ValueError, KeyError) as error:
            recording.problems.append(f"sample at {at:.1f}: {error}")
            continue
        recording.snapshots.append(snapshot)
        recording.models.append(models)
        for (number, _), check in zip(rows, checks, strict=True):
            _note_skipped(recording, number, check)


def _snapshot_from_rows(
    at: float, rows: list[tuple[int, dict[str, str]]], checks: list[ValueCheck]
):
    first = rows[0][1]
    gpus = []
    for (_, cells), check in zip(rows, checks, strict=True):
        if cells["gpu_index"] == "":
            continue
        bad: dict[str, str] = {}

        def number(column: str, integer: bool = True, minimum=0, check=check, cells=cells, bad=bad):
            value = _cell_number(cells, column, check, integer=integer, minimum=minimum)
            if value is None and cells[column] != "":
                bad[column] = BAD_VALUE
            return value

        reasons = cells["clocks_event_reasons"]
        fan = number("fan_speed_pct")
        pstate = cells["pstate"]
        index = _cell_number(cells, "gpu_index", check)
        if index is None:
            raise BadValueError(f"gpu_index {cells['gpu_index']!r} is not a GPU's number")
        gpus.append(
            GpuReading(
                index=index,
                name=cells["gpu_name"] or None,
                lost=cells["gpu_lost"] == "1",
                utilization_gpu_pct=number("utilization_gpu_pct"),
                utilization_memory_pct=number("utilization_memory_pct"),
                memory_used_bytes=number("memory_used_bytes"),
                memory_total_bytes=number("memory_total_bytes"),
                temperature_c=number("temperature_c", minimum=-273),
                temperature_slowdown_c=number("temperature_slowdown_c", minimum=-273),
                fans=(FanReading(0, fan),) if fan is not None else (),
                power_draw_w=number("power_draw_w", False),
                power_limit_w=number("power_limit_w", False),
                power_peak_1s_w=number("power_peak_1s_w", False),
                energy_total_j=number("energy_total_j", False),
                pstate=int(pstate[1:]) if pstate[1:].isdigit() else None,
                clocks_sm_mhz=number("clocks_sm_mhz"),
                clocks_mem_mhz=number("clocks_mem_mhz"),
                clocks_event_reasons=tuple(reasons.split(";")) if reasons else (),
                pcie_link_gen=number("pcie_link_gen"),
                pcie_link_width=number("pcie_link_width"),
                pcie_rx_bytes_per_s=number("pcie_rx_bytes_per_s"),
                pcie_tx_bytes_per_s=number("pcie_tx_bytes_per_s"),
                unavailable=freeze_reasons(bad),
            )
        )
    check = checks[0]
    load = _cell_number(first, "load_average_1m", check, integer=False)
    used = _required_cell(first, "ram_used_bytes")
    total = _required_cell(first, "ram_total_bytes")
    snapshot = RigSnapshot(
        taken_at=at,
        hostname=first["hostname"],
        nvml=NvmlStatus(available=bool(gpus), error=None if gpus else "recorded without a GPU"),
        gpus=tuple(gpus),
        cpu=CpuReading(
            percent=float(_required_cell(first, "cpu_percent", integer=False)),
            per_core_pct=(),
            load_average=(load, load, load) if load is not None else None,
        ),
        memory=MemoryReading(
            used_bytes=used,
            total_bytes=total,
            available_bytes=max(0, total - used),
            swap_used_bytes=_cell_number(first, "swap_used_bytes", check) or 0,
            swap_total_bytes=0,
        ),
    )
    return snapshot, None


def _required_cell(cells: dict[str, str], column: str, *, integer: bool = True):
    check = ValueCheck()
    value = _cell_number(cells, column, check, integer=integer)
    if value is None:
        shown = check.skipped[0] if check.skipped else f"{column} (empty)"
        raise BadValueError(shown)
    return value


# --- playing back -----------------------------------------------------------------------------

REPLAY_SPEEDS = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0)


class ReplayCursor:
    """Where a replay stands: a position in the recording's time, a speed, playing or not."""

    def __init__(self, recording: Recording) -> None:
        self.recording = recording
        self.times = [snapshot.taken_at for snapshot in recording.snapshots]
        self.start = self.times[0]
        self.end = self.times[-1]
        self.position = self.start
        self.speed = 1.0
        self.playing = True

    def index(self) -> int:
        """The last sample at or before the position."""
        low, high = 0, len(self.times) - 1
        while low < high:
            middle = (low + high + 1) // 2
            if self.times[middle] <= self.position:
                low = middle
            else:
                high = middle - 1
        return low

    def advance(self, wall_seconds: float) -> None:
        if not self.playing:
            return
        self.position = min(self.end, self.position + wall_seconds * self.speed)
        if self.position >= self.end:
            self.playing = False  # stop at the end rather than loop

    def seek(self, seconds: float) -> None:
        self.position = max(self.start, min(self.end, self.position + seconds))

    def seek_to(self, position: float) -> None:
        self.position = max(self.start, min(self.end, position))

    def faster(self) -> bool:
        faster = [speed for speed in REPLAY_SPEEDS if speed > self.speed]
        if not faster:
            return False
        self.speed = faster[0]
        return True

    def slower(self) -> bool:
        slower = [speed for speed in REPLAY_SPEEDS if speed < self.speed]
        if not slower:
            return False
        self.speed = slower[-1]
        return True

    def frame(self, shown: int, window_s: float) -> ReplayFrame | None:
        """What a screen showing sample ``shown`` must do to show the sample at the cursor; None
        if it shows it already. A jump back, or far forward (seeking, a long step at high
        speed), restarts the history with the ``window_s`` before the cursor; a step forward
        adds the samples passed over."""
        index = self.index()
        if index == shown:
            return None
        snapshots = self.recording.snapshots
        restart = index < shown or index > shown + 120
        if restart:
            first = index
            while first > 0 and snapshots[first - 1].taken_at >= (
                snapshots[index].taken_at - window_s
            ):
                first -= 1
        else:
            first = shown + 1
        return ReplayFrame(
            index,
            restart,
            tuple(snapshots[first:index]),
            snapshots[index],
            self.recording.models[index],
        )

    def describe(self) -> str:
        """Where the replay stands, for the header."""
        at = time.strftime("%H:%M:%S", time.localtime(self.position))
        total = units.duration(self.end - self.start)
        done = units.duration(self.position - self.start)
        name = self.recording.path.name
        return f"replay {name} · {done} of {total} ({at}) · {self.speed:g}x"


@dataclass(frozen=True)
class ReplayFrame:
    """One step of a replay, for the screen: the history to add, then the sample to show."""

    index: int
    restart: bool
    """The history starts afresh (the cursor jumped)."""
    earlier: tuple[RigSnapshot, ...]
    snapshot: RigSnapshot
    models: list[RunningModel] | None
    """Ollama's loaded models at that moment; None when the recording has no Ollama data."""
