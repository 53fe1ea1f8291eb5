"""The Processes tab's rows: each process's cells, the values it sorts by, the text a filter
matches, and what a signal's confirmation names. Pure: handed a snapshot, never a source.

The GPU table joins each GPU process with what psutil read of the same PID (user, CPU, host
memory); the CPU table gives each process its VRAM over all GPUs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.text import Text

from rigtui.telemetry.model import GpuProcess, ProcessReading, RigSnapshot
from rigtui.telemetry.signals import SignalTarget
from rigtui.text import units
from rigtui.text.safe import literal

GPU_COLUMNS = [
    ("gpu", "GPU"),
    ("pid", "PID"),
    ("user", "User"),
    ("name", "Name"),
    ("vram", "VRAM"),
    ("sm", "SM%"),
    ("bw", "BW%"),
    ("cpu", "CPU%"),
    ("rss", "RSS"),
    ("type", "Type"),
    ("command", "Command"),
]
CPU_COLUMNS = [
    ("pid", "PID"),
    ("user", "User"),
    ("cpu", "CPU%"),
    ("rss", "RSS"),
    ("vram", "VRAM"),
    ("name", "Name"),
    ("command", "Command"),
]
NARROW_HIDDEN = frozenset({"type", "rss"})
"""Left out of the GPU table on a narrow terminal, so the command line keeps room to wrap."""

SORT_KEYS = ("vram", "sm", "cpu", "memory", "pid", "name")
"""The order ``s`` cycles through, as nvitop's and btop's sort keys."""
SORT_WORDS = {
    "vram": "VRAM",
    "sm": "GPU (SM) %",
    "cpu": "CPU %",
    "memory": "memory (RSS)",
    "pid": "PID",
    "name": "name",
}
SORT_COLUMN = {"vram": "vram", "sm": "sm", "cpu": "cpu", "memory": "rss", "pid": "pid"}
"""The column that shows each sort key (``name`` is the name column)."""
DESCENDING_FIRST = frozenset({"vram", "sm", "cpu", "memory"})
"""Figures sort biggest first; PIDs and names from the start."""


def sort_column(sort_key: str) -> str:
    return SORT_COLUMN.get(sort_key, sort_key)


@dataclass(frozen=True)
class ProcessRow:
    key: str
    cells: list[Text | str]
    """In the order of the table's columns."""
    sort_values: dict[str, float | str | None]
    search_text: str
    """Lower-cased name, command, user and PID: what a filter matches."""
    target: SignalTarget


def _user_names(snapshot: RigSnapshot) -> dict[int, ProcessReading]:
    return {process.pid: process for process in snapshot.processes}


def _percent(value: int | None) -> Text:
    if value is None:
        return Text("N/A", style="dim", justify="right")
    return Text(str(value), justify="right")


def gpu_process_rows(snapshot: RigSnapshot) -> list[ProcessRow]:
    readings = _user_names(snapshot)
    rows = []
    for gpu in snapshot.gpus:
        for process in gpu.processes or ():
            host = readings.get(process.pid)
            rows.append(_gpu_row(gpu.index, process, host))
    return rows


def _gpu_row(gpu_index: int, process: GpuProcess, host: ProcessReading | None) -> ProcessRow:
    name = process.name or (host.name if host is not None else None)
    user = host.username if host is not None else None
    cpu = host.cpu_pct if host is not None else None
    rss = host.rss_bytes if host is not None else None
    cells: list[Text | str] = [
        str(gpu_index),
        str(process.pid),
        literal(user, placeholder="?"),
        literal(name, placeholder="(not visible)"),
        units.size(process.used_memory_bytes),
        _percent(process.sm_util_pct),
        _percent(process.memory_util_pct),
        Text(f"{cpu:.0f}" if cpu is not None else "", justify="right"),
        units.size(rss) if rss is not None else "",
        process.kind,
        literal(process.command),
    ]
    return ProcessRow(
        key=f"{gpu_index}:{process.pid}",
        cells=cells,
        sort_values={
            "vram": process.used_memory_bytes,
            "sm": process.sm_util_pct,
            "cpu": cpu,
            "memory": rss,
            "pid": process.pid,
            "name": (name or "").lower() or None,
        },
        search_text=_search_text(process.pid, name, user, process.command),
        target=SignalTarget(process.pid, name, user, process.used_memory_bytes, gpu_index),
    )


def cpu_process_rows(snapshot: RigSnapshot) -> list[ProcessRow]:
    vram: dict[int, int] = {}
    for gpu in snapshot.gpus:
        for process in gpu.processes or ():
            if process.used_memory_bytes is not None:
                vram[process.pid] = vram.get(process.pid, 0) + process.used_memory_bytes
    rows = []
    for process in snapshot.processes:
        used = vram.get(process.pid)
        cells: list[Text | str] = [
            str(process.pid),
            literal(process.username),
            Text(f"{process.cpu_pct:.0f}", justify="right"),
            units.size(process.rss_bytes),
            units.size(used) if used is not None else "",
            literal(process.name),
            literal(process.command),
        ]
        rows.append(
            ProcessRow(
                key=str(process.pid),
                cells=cells,
                sort_values={
                    "vram": used,
                    "sm": None,
                    "cpu": process.cpu_pct,
                    "memory": process.rss_bytes,
                    "pid": process.pid,
                    "name": process.name.lower() or None,
                },
                search_text=_search_text(
                    process.pid, process.name, process.username, process.command
                ),
                target=SignalTarget(process.pid, process.name, process.username, used),
            )
        )
    return rows


def _search_text(pid: int, *words: str | None) -> str:
    return " ".join([str(pid), *(word for word in words if word)]).lower()


def matching(rows: Sequence[ProcessRow], text: str) -> list[ProcessRow]:
    """The rows whose name, command, user or PID contain ``text`` (any case); all for ""."""
    wanted = text.strip().lower()
    if not wanted:
        return list(rows)
    return [row for row in rows if wanted in row.search_text]


def sorted_rows(rows: Sequence[ProcessRow], sort_key: str, descending: bool) -> list[ProcessRow]:
    """By ``sort_key``; ties by PID, and a process without the value last either way."""
    by_pid = sorted(rows, key=lambda row: (row.target.pid, row.key))
    known = [row for row in by_pid if row.sort_values.get(sort_key) is not None]
    unknown = [row for row in by_pid if row.sort_values.get(sort_key) is None]
    known.sort(key=lambda row: row.sort_values[sort_key], reverse=descending)  # type: ignore[arg-type,return-value]
    return known + unknown


def utilization_notes(snapshot: RigSnapshot) -> list[str]:
    """Why per-process GPU figures are N/A, once per GPU and reason."""
    notes = []
    for gpu in snapshot.gpus:
        reasons = {p.utilization_reason for p in gpu.processes or () if p.utilization_reason}
        for reason in sorted(reasons):
            notes.append(f"SM%/BW% N/A on GPU {gpu.index}: {reason}")
    return notes
