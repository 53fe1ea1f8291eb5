"""Power spikes, energy, and a power budget: pure arithmetic over sampled power.

The dashboard's power reading (``nvmlDeviceGetPowerUsage``) is a one-second average on Ampere and
newer GPUs, which hides the transients that trip a PSU or UPS. Where the driver offers the
instantaneous power field, rigtui samples it ten times a second into a :class:`PowerWatch`;
where it does not, the watch holds the one-second averages and says so.

Energy comes from NVML's total-energy counter where the GPU has one (the difference between two
readings), else by integrating the power samples (trapezoids). The counter is in millijoules
since the driver loaded: a reset (driver reload) or a wrap is detected and that stretch is
integrated instead.
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rigtui.telemetry.model import GpuReading

COUNTER_WRAP_J = 2**64 / 1000.0
"""NVML's counter is an unsigned 64-bit count of millijoules."""

FAST_SAMPLE_S = 0.1
TRACE_SECONDS = 600.0
_AVERAGES_KEPT = 241
"""A minute of one-second averages at the fastest sampling interval (0.25 s)."""
REST_POWER_SHARE = 0.25
"""A GPU drawing less than this share of its power limit, with nothing running, rests."""


def rests(gpu: GpuReading) -> bool:
    """Whether a GPU is at rest: 0% utilization and under a quarter of its power limit.

    A resting GPU does not spike, so the ten-a-second power rounds wait until one of the GPUs
    works again (seen in the next one-second reading, which reads the instantaneous power too):
    at rest they were a quarter of what the idle dashboard cost. Unknown utilization, power or
    limit count as working.
    """
    if gpu.lost:
        return True  # nothing to read
    watts = gpu.power_instant_w if gpu.power_instant_w is not None else gpu.power_draw_w
    return (
        gpu.utilization_gpu_pct == 0
        and watts is not None
        and bool(gpu.power_limit_w)
        and watts < REST_POWER_SHARE * gpu.power_limit_w
    )


def spikes_possible(gpus: Iterable[GpuReading]) -> bool:
    """Whether the ten-a-second power rounds are worth running: some GPU does not rest."""
    return not all(rests(gpu) for gpu in gpus)


@dataclass(frozen=True)
class PowerSample:
    t: float
    """Seconds, in the sampler's clock."""
    watts: float | None
    energy_j: float | None
    """NVML's total-energy counter, in joules, where the GPU has one."""
    instant: bool
    """True for the instantaneous power field; False for the one-second average."""


@dataclass(frozen=True)
class EnergyReading:
    joules: float
    seconds: float
    method: str
    """``counter`` (NVML's energy counter) or ``integrated`` (power samples over time)."""
    average_w: float
    peak_w: float | None
    peak_is_average: bool
    """True when the peak comes from one-second averages, not instantaneous readings."""

    def per_token(self, tokens: int | None) -> float | None:
        return self.joules / tokens if tokens else None

    def tokens_per_joule(self, tokens: int | None) -> float | None:
        return tokens / self.joules if tokens and self.joules > 0 else None


def counter_delta_j(first: float, last: float) -> float | None:
    """Joules between two counter readings; None when the counter was reset in between."""
    delta = last - first
    if delta >= 0:
        return delta
    if first > COUNTER_WRAP_J * 0.99:
        return delta + COUNTER_WRAP_J  # wrapped past 2**64 mJ
    return None


def integrate_j(samples: Sequence[PowerSample]) -> float:
    """Trapezoidal integral of power over time."""
    total = 0.0
    previous = None
    for sample in samples:
        if sample.watts is None:
            continue
        if previous is not None:
            total += (sample.t - previous.t) * (sample.watts + previous.watts) / 2
        previous = sample
    return total


def energy_between(
    samples: Sequence[PowerSample], start: float, end: float
) -> EnergyReading | None:
    """Energy one GPU used from ``start`` to ``end``, by counter if it can, else by integration."""
    window = [sample for sample in samples if start <= sample.t <= end]
    if len(window) < 2 or end <= start:
        return None
    seconds = window[-1].t - window[0].t
    if seconds <= 0:
        return None
    counted = [sample for sample in window if sample.energy_j is not None]
    joules = None
    method = "integrated"
    if len(counted) >= 2:
        # Sum over consecutive readings, so a reset only costs the stretch it happened in.
        joules = 0.0
        method = "counter"
        for previous, sample in itertools.pairwise(counted):
            delta = counter_delta_j(previous.energy_j, sample.energy_j)  # type: ignore[arg-type]
            if delta is None:
                delta = integrate_j([previous, sample])
                method = "counter, integrated across a counter reset"
            joules += delta
    if joules is None:
        joules = integrate_j(window)
    powered = [sample.watts for sample in window if sample.watts is not None]
    average = joules / seconds
    # The counter sees every transient; samples may miss them: the peak is at least the average.
    return EnergyReading(
        joules=joules,
        seconds=seconds,
        method=method,
        average_w=average,
        peak_w=max([*powered, average]) if powered else None,
        peak_is_average=not any(sample.instant for sample in window),
    )


def combine(readings: Iterable[EnergyReading]) -> EnergyReading | None:
    """Several GPUs working on one model: energies add up, peaks add up (worst case)."""
    readings = list(readings)
    if not readings:
        return None
    joules = sum(reading.joules for reading in readings)
    seconds = max(reading.seconds for reading in readings)
    methods = sorted({reading.method for reading in readings})
    peaks = [reading.peak_w for reading in readings if reading.peak_w is not None]
    return EnergyReading(
        joules=joules,
        seconds=seconds,
        method=" + ".join(methods),
        average_w=joules / seconds if seconds else 0.0,
        peak_w=sum(peaks) if peaks else None,
        peak_is_average=all(reading.peak_is_average for reading in readings),
    )


@dataclass(frozen=True)
class Spike:
    t: float
    watts: float


@dataclass(frozen=True)
class PowerPeaks:
    """What a GPU card shows about transients."""

    latest_w: float | None
    peak_1s_w: float | None
    peak_60s_w: float | None
    instant: bool
    """False: the peaks are one-second averages (no instantaneous power field)."""


class PowerWatch:
    """Power samples of every GPU, a bounded trace each, filled by the sampling thread."""

    def __init__(self, budget_w: float | None = None, trace_seconds: float = TRACE_SECONDS):
        self.budget_w = budget_w
        self._capacity = int(trace_seconds / FAST_SAMPLE_S) + 1
        self._traces: dict[int, deque[PowerSample]] = {}
        self._over_budget: deque[Spike] = deque(maxlen=64)
        # The one-second averages beside the instantaneous samples: a peak is never below one.
        self._averages: dict[int, deque[Spike]] = {}
        self._totals: deque[Spike] = deque(maxlen=self._capacity)
        self._lock = threading.Lock()
        # Counted for good (an exporter serves them as counters, for rate() over any window).
        self.rounds = 0
        self.rounds_over_budget = 0

    def add(self, samples: dict[int, PowerSample]) -> None:
        """One sampling round: a sample per GPU taken at (about) the same time."""
        with self._lock:
            for gpu, sample in samples.items():
                trace = self._traces.get(gpu)
                if trace is None:
                    trace = self._traces[gpu] = deque(maxlen=self._capacity)
                trace.append(sample)
            times = [sample.t for sample in samples.values()]
            if not times:
                return
            total = sum(s.watts for s in samples.values() if s.watts is not None)
            self._totals.append(Spike(max(times), total))
            self.rounds += 1
            if self.budget_w is not None and total > self.budget_w:
                self._over_budget.append(Spike(max(times), total))
                self.rounds_over_budget += 1

    def add_averages(self, at: float, watts: dict[int, float | None]) -> None:
        """The GPUs' one-second average draws read at ``at`` (with instantaneous samples on
        their own rounds): the samples, ten a second, can miss a spike the average took in, and
        a peak below the draw beside it ("394 W, peak 392") reads as a fault."""
        with self._lock:
            for gpu, value in watts.items():
                if value is None:
                    continue
                averages = self._averages.get(gpu)
                if averages is None:
                    averages = self._averages[gpu] = deque(maxlen=_AVERAGES_KEPT)
                averages.append(Spike(at, value))

    def trace(self, gpu: int) -> tuple[PowerSample, ...]:
        with self._lock:
            return tuple(self._traces.get(gpu, ()))

    def peaks(self, gpu: int, now: float) -> PowerPeaks:
        with self._lock:
            trace = self._traces.get(gpu)
            if not trace:
                return PowerPeaks(None, None, None, False)
            latest = trace[-1]
            second_ago, minute_ago = now - 1.0, now - 60.0
            peak_1s = peak_60s = None
            # Newest first, and no further back than a minute (the trace holds ten minutes).
            for sample in reversed(trace):
                if sample.t <= minute_ago:
                    break
                watts = sample.watts
                if watts is None:
                    continue
                if peak_60s is None or watts > peak_60s:
                    peak_60s = watts
                if sample.t > second_ago and (peak_1s is None or watts > peak_1s):
                    peak_1s = watts
            for average in reversed(self._averages.get(gpu, ())):
                if average.t <= minute_ago:
                    break
                if peak_60s is None or average.watts > peak_60s:
                    peak_60s = average.watts
                if average.t > second_ago and (peak_1s is None or average.watts > peak_1s):
                    peak_1s = average.watts
            return PowerPeaks(
                latest_w=latest.watts,
                peak_1s_w=peak_1s,
                peak_60s_w=peak_60s,
                instant=latest.instant,
            )

    def total_peak(self, since: float) -> float | None:
        """The highest all-GPU total of one sampling round since ``since``."""
        peak = None
        with self._lock:
            for spike in reversed(self._totals):
                if spike.t < since:
                    break
                if peak is None or spike.watts > peak:
                    peak = spike.watts
        return peak

    def last_over_budget(self, since: float) -> Spike | None:
        """The highest spike above the budget since ``since``, if any."""
        with self._lock:
            recent = [spike for spike in self._over_budget if spike.t >= since]
        return max(recent, key=lambda spike: spike.watts, default=None)

    def energy(self, gpus: Iterable[int], start: float, end: float) -> EnergyReading | None:
        readings = []
        for gpu in gpus:
            reading = energy_between(self.trace(gpu), start, end)
            if reading is not None:
                readings.append(reading)
        return combine(readings)
