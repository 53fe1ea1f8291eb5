"""A psutil look-alike that answers from the simulated rig.

Only the part of psutil's API that rigtui uses, with psutil's own exception classes and result
field names, so :class:`rigtui.telemetry.system.SystemSource` runs unchanged over it.
"""

from __future__ import annotations

import contextlib
from collections import namedtuple

import psutil as real_psutil

from rigtui.sim.rig import SimulatedRig

VirtualMemory = namedtuple("VirtualMemory", "total available percent used free")
SwapMemory = namedtuple("SwapMemory", "total used free percent sin sout")
MemoryInfo = namedtuple("MemoryInfo", "rss vms")


class SimulatedPsutil:
    NoSuchProcess = real_psutil.NoSuchProcess
    AccessDenied = real_psutil.AccessDenied
    ZombieProcess = real_psutil.ZombieProcess

    def __init__(self, rig: SimulatedRig) -> None:
        self.rig = rig

    def cpu_percent(self, interval: float | None = None, percpu: bool = False):
        self.rig.advance()
        with self.rig.lock():
            cores = [round(value, 1) for value in self.rig.cpu.per_core_pct]
        if percpu:
            return cores
        return round(sum(cores) / len(cores), 1)

    def cpu_count(self, logical: bool = True) -> int:
        return self.rig.cpu.logical_cores if logical else self.rig.cpu.physical_cores

    def getloadavg(self) -> tuple[float, float, float]:
        self.rig.advance()
        with self.rig.lock():
            one, five, fifteen = self.rig.cpu.load_average
        return (round(one, 2), round(five, 2), round(fifteen, 2))

    def virtual_memory(self) -> VirtualMemory:
        self.rig.advance()
        total = self.rig.cpu.memory_total_bytes
        used = min(total, self.rig.memory_used_bytes())
        available = total - used
        return VirtualMemory(total, available, round(used / total * 100, 1), used, available)

    def swap_memory(self) -> SwapMemory:
        total = self.rig.cpu.swap_total_bytes
        used = self.rig.swap_used_bytes()
        return SwapMemory(total, used, total - used, round(used / total * 100, 1), 0, 0)

    def process_iter(self, attrs=None):
        self.rig.advance()
        with self.rig.lock():
            pids = sorted(self.rig.processes)
        for pid in pids:
            try:
                process = SimulatedProcess(self.rig, pid)
                process.info = process.as_dict(attrs)
            except real_psutil.NoSuchProcess:
                continue
            yield process

    def Process(self, pid: int) -> SimulatedProcess:  # noqa: N802 - psutil's spelling
        return SimulatedProcess(self.rig, pid)


class SimulatedProcess:
    def __init__(self, rig: SimulatedRig, pid: int) -> None:
        self._rig = rig
        self.pid = pid
        self.info: dict = {}
        if pid not in rig.processes:
            raise real_psutil.NoSuchProcess(pid)

    def _process(self):
        process = self._rig.processes.get(self.pid)
        if process is None:
            raise real_psutil.NoSuchProcess(self.pid)
        return process

    @contextlib.contextmanager
    def oneshot(self):
        yield

    def name(self) -> str:
        return self._process().name

    def cmdline(self) -> list[str]:
        return list(self._process().cmdline)

    def username(self) -> str:
        return self._process().username

    def create_time(self) -> float:
        return self._process().create_time

    def cpu_percent(self, interval: float | None = None) -> float:
        self._process()
        return round(self._rig.cpu.per_process_pct.get(self.pid, 0.0), 1)

    def memory_info(self) -> MemoryInfo:
        rss = self._process().rss_bytes
        return MemoryInfo(rss, rss * 3)

    def as_dict(self, attrs=None) -> dict:
        attrs = attrs or ["pid", "name", "cmdline", "username", "cpu_percent", "memory_info"]
        result = {}
        for attr in attrs:
            result[attr] = self.pid if attr == "pid" else getattr(self, attr)()
        return result
