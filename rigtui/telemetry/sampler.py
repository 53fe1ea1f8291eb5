"""One reading of the whole rig, from every source, as one immutable snapshot."""

from __future__ import annotations

import dataclasses
import socket
import time
from collections.abc import Callable

from rigtui.telemetry.model import GpuReading, NvmlStatus, PowerBudgetReading, RigSnapshot
from rigtui.telemetry.nvml import NvmlSource
from rigtui.telemetry.power import PowerSample, PowerWatch
from rigtui.telemetry.system import SystemSource


class RigSampler:
    def __init__(
        self,
        nvml: NvmlSource,
        system: SystemSource,
        *,
        clock: Callable[[], float] = time.time,
        hostname: str | None = None,
        power_watch: PowerWatch | None = None,
    ) -> None:
        self.nvml = nvml
        self.system = system
        self.clock = clock
        self.hostname = hostname or socket.gethostname()
        self.nvml_status = NvmlStatus(available=False, error="not opened")
        self.power_watch = power_watch or PowerWatch()

    def open(self) -> NvmlStatus:
        self.nvml_status = self.nvml.open()
        self.system.prime()
        return self.nvml_status

    def close(self) -> None:
        self.nvml.close()

    @property
    def pids_are_local(self) -> bool:
        """Whether the processes' PIDs are this machine's (not the simulation's invention)."""
        return self.system.pids_are_local

    @property
    def fast_power(self) -> bool:
        """Whether the instantaneous power field is there to sample ten times a second."""
        return self.nvml.instant_power

    def sample_power(self) -> None:
        """One round of the power-only fast sampling (instantaneous power, energy counter)."""
        now = self.clock()
        samples = {}
        for index in range(self.nvml.gpu_count):
            watts, instant, energy = self.nvml.read_power(index)
            samples[index] = PowerSample(now, watts, energy, instant)
        self.power_watch.add(samples)

    def sample(self) -> RigSnapshot:
        readings = self.nvml.read()
        now = self.clock()
        if self.fast_power:
            self.sample_power()
            self.power_watch.add_averages(
                now, {gpu.index: gpu.power_draw_w for gpu in readings if not gpu.lost}
            )
        else:
            # Without the instantaneous field, the one-second averages are all there is.
            self.power_watch.add(
                {
                    gpu.index: PowerSample(now, gpu.power_draw_w, gpu.energy_total_j, False)
                    for gpu in readings
                    if not gpu.lost
                }
            )
        gpus = tuple(self._with_peaks(self._named(gpu), now) for gpu in readings)
        return RigSnapshot(
            taken_at=now,
            hostname=self.hostname,
            nvml=self.nvml_status,
            gpus=gpus,
            cpu=self.system.read_cpu(),
            memory=self.system.read_memory(),
            processes=self.system.read_processes(),
            power=self._budget(now, gpus),
        )

    def _with_peaks(self, gpu: GpuReading, now: float) -> GpuReading:
        if gpu.lost:
            return gpu
        peaks = self.power_watch.peaks(gpu.index, now)
        return dataclasses.replace(
            gpu,
            power_instant_w=peaks.latest_w if peaks.instant else None,
            power_peak_1s_w=peaks.peak_1s_w,
            power_peak_60s_w=peaks.peak_60s_w,
            power_peaks_instant=peaks.instant,
        )

    def _budget(self, now: float, gpus: tuple[GpuReading, ...]) -> PowerBudgetReading:
        watch = self.power_watch
        over = watch.last_over_budget(now - 60.0)
        return PowerBudgetReading(
            budget_w=watch.budget_w,
            peak_60s_w=watch.total_peak(now - 60.0),
            over_budget_w=over.watts if over else None,
            over_budget_at=over.t if over else None,
            rounds=watch.rounds,
            rounds_over_budget=watch.rounds_over_budget,
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
