"""The Processes tab's rows (ui/render/processes.py): joined, sorted, filtered; and the
per-process utilization in the JSON snapshot, optional so old recordings still replay."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from rigtui.telemetry.export import snapshot_from_dict, snapshot_to_dict
from rigtui.telemetry.model import (
    CpuReading,
    GpuProcess,
    GpuReading,
    MemoryReading,
    NvmlStatus,
    ProcessReading,
    RigSnapshot,
)
from rigtui.ui.render.processes import (
    CPU_COLUMNS,
    GPU_COLUMNS,
    SORT_KEYS,
    cpu_process_rows,
    gpu_process_rows,
    matching,
    sorted_rows,
    utilization_notes,
)

GIB = 1024**3


def snapshot(gpu_processes, processes) -> RigSnapshot:
    return RigSnapshot(
        taken_at=1.0,
        hostname="rig",
        nvml=NvmlStatus(available=True),
        gpus=(GpuReading(index=0, processes=tuple(gpu_processes)),),
        cpu=CpuReading(percent=1.0, per_core_pct=(1.0,)),
        memory=MemoryReading(1, 2, 1, 0, 0),
        processes=tuple(processes),
    )


RIG = snapshot(
    [
        GpuProcess(48014, "ollama", 22 * GIB, command="ollama runner --model x", sm_util_pct=90),
        GpuProcess(50001, "python3", 2 * GIB, command="python3 embed.py", sm_util_pct=5),
        GpuProcess(50002, None, None, utilization_reason="not supported by this GPU or driver"),
    ],
    [
        ProcessReading(48014, "ollama", 95.0, 180 * 1024**2, "ollama", "ollama runner --model x"),
        ProcessReading(31337, "ffmpeg", 180.0, 410 * 1024**2, "media", "ffmpeg -i cam.mkv"),
        ProcessReading(50001, "python3", 12.0, 900 * 1024**2, "alice", "python3 embed.py"),
    ],
)


def pids(rows) -> list[int]:
    return [row.target.pid for row in rows]


def test_gpu_rows_join_what_psutil_read_of_the_same_pid():
    rows = {row.target.pid: row for row in gpu_process_rows(RIG)}
    keys = [key for key, _ in GPU_COLUMNS]
    ollama = dict(zip(keys, rows[48014].cells, strict=True))
    assert ollama["user"].plain == "ollama" and ollama["cpu"].plain == "95"
    assert ollama["vram"] == "22.0 GiB" and ollama["sm"].plain == "90"
    unseen = dict(zip(keys, rows[50002].cells, strict=True))
    assert unseen["name"].plain == "(not visible)" and unseen["sm"].plain == "N/A"
    assert rows[48014].target.username == "ollama" and rows[48014].target.gpu_index == 0


def test_cpu_rows_carry_each_process_vram():
    rows = {row.target.pid: row for row in cpu_process_rows(RIG)}
    keys = [key for key, _ in CPU_COLUMNS]
    assert dict(zip(keys, rows[48014].cells, strict=True))["vram"] == "22.0 GiB"
    assert dict(zip(keys, rows[31337].cells, strict=True))["vram"] == ""


def test_sorting_by_each_key_and_reversed_puts_unknowns_last():
    rows = gpu_process_rows(RIG)
    assert pids(sorted_rows(rows, "vram", True)) == [48014, 50001, 50002]
    assert pids(sorted_rows(rows, "vram", False)) == [50001, 48014, 50002]
    assert pids(sorted_rows(rows, "sm", True)) == [48014, 50001, 50002]
    assert pids(sorted_rows(rows, "cpu", True)) == [48014, 50001, 50002]
    assert pids(sorted_rows(rows, "pid", False)) == [48014, 50001, 50002]
    assert pids(sorted_rows(rows, "name", False)) == [48014, 50001, 50002]
    cpu = cpu_process_rows(RIG)
    assert pids(sorted_rows(cpu, "cpu", True)) == [31337, 48014, 50001]
    assert pids(sorted_rows(cpu, "memory", True)) == [50001, 31337, 48014]
    assert pids(sorted_rows(cpu, "name", True)) == [50001, 48014, 31337]


def test_the_filter_matches_name_command_user_or_pid_in_any_case():
    cpu = cpu_process_rows(RIG)
    assert pids(matching(cpu, "FFMPEG")) == [31337]
    assert pids(matching(cpu, "embed")) == [50001]  # the command
    assert pids(matching(cpu, "alice")) == [50001]  # the user
    assert pids(matching(cpu, "4801")) == [48014]  # part of a PID
    assert pids(matching(cpu, "  ")) == pids(cpu)
    assert matching(cpu, "nothing-like-it") == []


def test_why_utilization_is_na_is_said_once_per_gpu():
    assert utilization_notes(RIG) == ["SM%/BW% N/A on GPU 0: not supported by this GPU or driver"]


@given(
    st.lists(
        st.tuples(
            st.integers(1, 2**22),
            st.one_of(st.none(), st.text(max_size=8)),
            st.one_of(st.none(), st.integers(0, 2**50)),
            st.one_of(st.none(), st.integers(0, 10**6)),
        ),
        max_size=8,
        unique_by=lambda item: item[0],
    ),
    st.sampled_from(SORT_KEYS),
    st.booleans(),
    st.text(max_size=4),
)
def test_rows_sort_and_filter_over_missing_and_extreme_values(
    entries, sort_key, descending, wanted
):
    snap = snapshot(
        [GpuProcess(pid, name, used, sm_util_pct=sm) for pid, name, used, sm in entries], []
    )
    rows = gpu_process_rows(snap)
    ordered = sorted_rows(matching(rows, wanted), sort_key, descending)
    assert sorted(pids(ordered)) == sorted(pids(matching(rows, wanted)))
    known = [row.sort_values[sort_key] for row in ordered if row.sort_values[sort_key] is not None]
    assert known == sorted(known, reverse=descending)
    # The unknowns come after every known value.
    flags = [row.sort_values[sort_key] is None for row in ordered]
    assert flags == sorted(flags)


def test_utilization_survives_the_json_snapshot_and_old_recordings_say_not_recorded():
    data = snapshot_to_dict(RIG)
    back = snapshot_from_dict(data).gpus[0].processes
    assert [(p.pid, p.sm_util_pct, p.utilization_reason) for p in back] == [
        (48014, 90, None),
        (50001, 5, None),
        (50002, None, "not supported by this GPU or driver"),
    ]
    for process in data["gpus"][0]["processes"]:  # as written before these fields existed
        for name in (
            "sm_util_pct",
            "memory_util_pct",
            "encoder_util_pct",
            "decoder_util_pct",
            "utilization_reason",
        ):
            del process[name]
    old = snapshot_from_dict(data).gpus[0].processes
    assert [(p.pid, p.sm_util_pct, p.utilization_reason) for p in old] == [
        (48014, None, "not in this recording"),
        (50001, None, "not in this recording"),
        (50002, None, "not in this recording"),
    ]
