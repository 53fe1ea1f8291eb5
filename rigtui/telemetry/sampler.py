"""One reading of the whole rig, from every source, as one immutable snapshot."""

from __future__ import annotations

import dataclasses
import socket
import time
from collections.abc import Callable

from rigtui.telemetry.model import GpuReading, NvmlStatus, RigSnapshot
from rigtui.telemetry.nvml import NvmlSource
from rigtui.telemetry.system import SystemSource


class RigSampler:
    def __init__(
        self,
        nvml: NvmlSource,
        system: SystemSource,
        *,
        clock: Callable[[], float] = time.time,
        hostname: str | None = None,
    ) -> None:
        self.nvml = nvml
        self.system = system
        self.clock = clock
        self.hostname = hostname or socket.gethostname()
        self.nvml_status = NvmlStatus(available=False, error="not opened")

    def open(self) -> NvmlStatus:
        self.nvml_status = self.nvml.open()
        self.system.prime()
        return self.nvml_status

    def close(self) -> None:
        self.nvml.close()

    def sample(self) -> RigSnapshot:
        gpus = tuple(self._named(gpu) for gpu in self.nvml.read())
        return RigSnapshot(
            taken_at=self.clock(),
            hostname=self.hostname,
            nvml=self.nvml_status,
            gpus=gpus,
            cpu=self.system.read_cpu(),
            memory=self.system.read_memory(),
            processes=self.system.read_processes(),
        )

    def _named(self, gpu: GpuReading) -> GpuReading:
        """NVML knows PIDs only; the names come from the process table."""
        if not gpu.processes:
            return gpu
        named = []
        for process in gpu.processes:
            name, command = self.system.describe(process.pid)
            named.append(dataclasses.replace(process, name=name, command=command))
        return dataclasses.replace(gpu, processes=tuple(named))
