"""CPU, memory and process readings through psutil.

The psutil module is passed in, so the simulated rig can stand beneath this same code with a
look-alike that answers from the simulation.
"""

from __future__ import annotations

from types import ModuleType

import psutil as real_psutil

from rigtui.telemetry.model import CpuReading, MemoryReading, ProcessReading


class SystemSource:
    def __init__(self, psutil: ModuleType | object = real_psutil, top_processes: int = 12) -> None:
        self._psutil = psutil
        self.top_processes = top_processes
        self.all_processes = False
        """Every process, not only the busiest (while the Processes tab is shown)."""
        self._names: dict[int, tuple[float, str, str | None]] = {}

    @property
    def pids_are_local(self) -> bool:
        """Whether the PIDs read are this machine's (real psutil), so a signal may be sent to
        them; a look-alike's (the simulated rig's) are invented."""
        return self._psutil is real_psutil

    def prime(self) -> None:
        """psutil measures CPU use between two calls; the first one only starts the count."""
        self._psutil.cpu_percent(interval=None, percpu=True)
        for _ in self._psutil.process_iter(["cpu_percent"]):
            pass

    def read_cpu(self) -> CpuReading:
        psutil = self._psutil
        per_core = tuple(float(value) for value in psutil.cpu_percent(interval=None, percpu=True))
        total = sum(per_core) / len(per_core) if per_core else 0.0
        try:
            load = tuple(float(value) for value in psutil.getloadavg())
        except (AttributeError, OSError):
            load = None
        return CpuReading(
            percent=round(total, 1),
            per_core_pct=per_core,
            load_average=load,  # type: ignore[arg-type]
            logical_count=psutil.cpu_count(logical=True) or len(per_core),
            physical_count=psutil.cpu_count(logical=False),
        )

    def read_memory(self) -> MemoryReading:
        memory = self._psutil.virtual_memory()
        swap = self._psutil.swap_memory()
        return MemoryReading(
            used_bytes=int(memory.total - memory.available),
            total_bytes=int(memory.total),
            available_bytes=int(memory.available),
            swap_used_bytes=int(swap.used),
            swap_total_bytes=int(swap.total),
        )

    def read_processes(self) -> tuple[ProcessReading, ...]:
        """The busiest processes by CPU (every one with ``all_processes``); the rest of their
        details only for those shown.

        Every process is asked only for its CPU time (one read of /proc/PID/stat): asking all of
        them for names, memory and owners cost four times as much on a machine with many.
        """
        psutil = self._psutil
        candidates = []
        for process in psutil.process_iter(["cpu_percent"]):
            cpu = process.info.get("cpu_percent")
            if cpu is not None:
                candidates.append((cpu, process.pid, process))
        candidates.sort(key=lambda item: (-item[0], item[1]))
        readings = []
        limit = None if self.all_processes else self.top_processes
        for cpu, pid, process in candidates:
            if len(readings) == limit:
                break
            try:
                with process.oneshot():
                    name = process.name()
                    memory = _or_none(psutil, process.memory_info)
                    username = _or_none(psutil, process.username)
            except (psutil.NoSuchProcess, psutil.ZombieProcess):
                continue  # ended since the CPU count
            except psutil.AccessDenied:
                name, memory, username = "?", None, None
            readings.append(
                ProcessReading(
                    pid=pid,
                    name=name or "?",
                    cpu_pct=round(float(cpu), 1),
                    rss_bytes=memory.rss if memory is not None else None,
                    username=username,
                    command=self._command(process),
                )
            )
        return tuple(readings)

    def describe(self, pid: int) -> tuple[str | None, str | None]:
        """The name and command line of ``pid`` (for GPU processes), cached while it lives."""
        psutil = self._psutil
        try:
            process = psutil.Process(pid)
            created = process.create_time()
            cached = self._names.get(pid)
            if cached is not None and cached[0] == created:
                return cached[1], cached[2]
            name = process.name()
            command = self._command(process)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            # In a container NVML shows host PIDs that this namespace cannot see.
            return None, None
        self._names[pid] = (created, name, command)
        if len(self._names) > 512:
            self._names.pop(next(iter(self._names)))
        return name, command

    def _command(self, process) -> str | None:
        psutil = self._psutil
        try:
            parts = process.cmdline()
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            return None
        return " ".join(parts) if parts else None


def _or_none(psutil, read):
    """What ``read`` says, or ``None`` where this user may not read it (another user's
    process on some systems)."""
    try:
        return read()
    except psutil.AccessDenied:
        return None
