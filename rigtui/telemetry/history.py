"""Bounded history of every charted metric: a week of uptime must not grow memory."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping

from rigtui.telemetry.model import RigSnapshot

GPU_METRICS = (
    "utilization_gpu_pct",
    "utilization_memory_pct",
    "memory_used_bytes",
    "temperature_c",
    "power_draw_w",
    "power_limit_w",
    "power_peak_1s_w",
    "clocks_sm_mhz",
    "pcie_rx_bytes_per_s",
    "pcie_tx_bytes_per_s",
)


def gpu_key(index: int, metric: str) -> str:
    return f"gpu{index}.{metric}"


def snapshot_values(snapshot: RigSnapshot) -> dict[str, float | None]:
    """The charted values of one snapshot, by series key."""
    values: dict[str, float | None] = {
        "cpu.percent": snapshot.cpu.percent,
        "memory.used_bytes": snapshot.memory.used_bytes,
        "memory.swap_used_bytes": snapshot.memory.swap_used_bytes,
    }
    for gpu in snapshot.gpus:
        for metric in GPU_METRICS:
            values[gpu_key(gpu.index, metric)] = getattr(gpu, metric)
        fans = [fan.speed_pct for fan in gpu.fans if fan.speed_pct is not None]
        values[gpu_key(gpu.index, "fan_speed_pct")] = max(fans) if fans else None
    return values


class History:
    """Ring buffers of samples that share one time axis."""

    def __init__(self, capacity: int) -> None:
        if capacity < 2:
            raise ValueError("history needs room for at least two samples")
        self.capacity = capacity
        self._timestamps: deque[float] = deque(maxlen=capacity)
        self._series: dict[str, deque[float | None]] = {}

    def __len__(self) -> int:
        return len(self._timestamps)

    def add_snapshot(self, snapshot: RigSnapshot) -> None:
        self.add(snapshot.taken_at, snapshot_values(snapshot))

    def add(self, timestamp: float, values: Mapping[str, float | None]) -> None:
        if self._timestamps and self._timestamps[-1] == timestamp:
            # The same moment read twice (a paused or scripted clock) replaces, not repeats.
            for key, value in values.items():
                if key in self._series:
                    self._series[key][-1] = value
            return
        self._timestamps.append(timestamp)
        for key, value in values.items():
            series = self._series.get(key)
            if series is None:
                # A series that appears later (a GPU, a reply) is padded to the shared axis.
                series = deque([None] * (len(self._timestamps) - 1), maxlen=self.capacity)
                self._series[key] = series
            series.append(value)
        for key, series in self._series.items():
            if key not in values:
                series.append(None)

    def resize(self, capacity: int) -> None:
        """Keep the newest samples when the interval (and so the sample count) changes."""
        if capacity < 2:
            raise ValueError("history needs room for at least two samples")
        self.capacity = capacity
        self._timestamps = deque(self._timestamps, maxlen=capacity)
        self._series = {key: deque(series, maxlen=capacity) for key, series in self._series.items()}

    def timestamps(self) -> tuple[float, ...]:
        return tuple(self._timestamps)

    def series(self, key: str) -> tuple[float | None, ...]:
        """An immutable copy, aligned with :meth:`timestamps`."""
        series = self._series.get(key)
        if series is None:
            return (None,) * len(self._timestamps)
        return tuple(series)

    def keys(self) -> Iterable[str]:
        return tuple(self._series)

    def latest(self, key: str) -> float | None:
        series = self._series.get(key)
        return series[-1] if series else None

    def spans(self, key: str) -> tuple[tuple[float, float], ...]:
        """The time spans in which ``key`` held a true value (e.g. while a reply streamed)."""
        spans = []
        start = previous = None
        for timestamp, value in zip(self._timestamps, self._series.get(key, ()), strict=False):
            if value:
                if start is None:
                    start = timestamp
                previous = timestamp
            elif start is not None:
                spans.append((start, timestamp))
                start = None
        if start is not None and previous is not None:
            spans.append((start, previous))
        return tuple(spans)
