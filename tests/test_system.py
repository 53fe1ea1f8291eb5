"""SystemSource over the simulated rig (exact values) and over this machine (sanity)."""

from __future__ import annotations

import psutil

from rigtui.sim.rig import GIB
from rigtui.telemetry.system import SystemSource


def test_cpu_memory_and_processes_come_from_the_rig(sim, clock):
    clock.set(140)  # the 70B model is generating, split with the CPU
    source = SystemSource(sim.psutil)
    source.prime()
    cpu = source.read_cpu()
    assert cpu.logical_count == 16 and cpu.physical_count == 8
    assert len(cpu.per_core_pct) == 16
    assert cpu.per_core_pct == tuple(round(v, 1) for v in sim.rig.cpu.per_core_pct)
    assert cpu.percent == round(sum(cpu.per_core_pct) / 16, 1)
    busy = [value for value in cpu.per_core_pct if value >= 85]
    assert len(busy) == 8  # the runner's eight threads, one per physical core
    memory = source.read_memory()
    assert memory.total_bytes == 64 * GIB
    assert memory.used_bytes == sim.rig.memory_used_bytes()
    assert memory.used_bytes > 20 * GIB  # the spilled layers live in RAM
    top = source.read_processes()[0]
    assert top.name == "ollama" and top.cpu_pct > 700
    assert top.command.startswith("/usr/local/bin/ollama runner")


def test_describe_names_a_gpu_process_and_forgets_one_that_is_gone(sim, clock):
    clock.set(45)
    sim.rig.advance()
    source = SystemSource(sim.psutil)
    runner = next(p for p in sim.rig.processes.values() if "runner" in p.cmdline)
    name, command = source.describe(runner.pid)
    assert name == "ollama" and "runner" in command
    assert source.describe(999_999) == (None, None)


def test_the_real_machine_reads_plausibly():
    source = SystemSource()
    source.prime()
    cpu = source.read_cpu()
    assert len(cpu.per_core_pct) == psutil.cpu_count()
    assert all(0.0 <= value <= 100.0 for value in cpu.per_core_pct)
    memory = source.read_memory()
    assert 0 < memory.used_bytes <= memory.total_bytes == psutil.virtual_memory().total
    processes = source.read_processes()
    assert 0 < len(processes) <= source.top_processes
    assert all(p.pid > 0 and p.name for p in processes)


def test_every_process_is_read_while_the_processes_tab_wants_them():
    source = SystemSource(top_processes=3)
    source.prime()
    assert len(source.read_processes()) <= 3
    source.all_processes = True
    every = source.read_processes()
    assert len(every) > 3
    assert len(every) >= len(psutil.pids()) - 10  # a few may end between the two looks
    assert len({p.pid for p in every}) == len(every)


def test_only_real_psutil_pids_are_this_machines(sim):
    assert SystemSource().pids_are_local
    assert not SystemSource(sim.psutil).pids_are_local
