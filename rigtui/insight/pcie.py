"""The PCIe link in words and numbers: what it can carry, and what a model load achieved.

Usable bandwidth per lane and direction, after line encoding (PCI-SIG figures):
Gen1 2.5 GT/s and Gen2 5 GT/s use 8b/10b; Gen3 8 GT/s, Gen4 16 GT/s and Gen5 32 GT/s use
128b/130b; Gen6 64 GT/s uses PAM4 with 242/256-byte FLITs. So Gen4 x4 (an Oculink dock) carries
about 7.9 GB/s and Gen3 x4 (roughly Thunderbolt's PCIe share) about 3.9 GB/s; packet overhead
leaves real copies at about 80-90 % of that.
"""

from __future__ import annotations

from dataclasses import dataclass

from rigtui.llm.placement import is_ollama_runner
from rigtui.telemetry.model import GpuReading

LANE_BYTES_PER_S = {
    1: 2.5e9 * 8 / 10 / 8,
    2: 5.0e9 * 8 / 10 / 8,
    3: 8.0e9 * 128 / 130 / 8,
    4: 16.0e9 * 128 / 130 / 8,
    5: 32.0e9 * 128 / 130 / 8,
    6: 64.0e9 * 242 / 256 / 8,
}

LOAD_MIN_BYTES = 512 * 1024**2
"""VRAM growing by at least this between two samples is a model (or something big) loading."""
UNDER_LOAD_UTIL_PCT = 10
UNDER_LOAD_RX_BYTES_PER_S = 100e6


def link_bytes_per_s(gen: int | None, width: int | None) -> float | None:
    """Usable bandwidth of a link, per direction."""
    if gen is None or width is None or gen not in LANE_BYTES_PER_S:
        return None
    return LANE_BYTES_PER_S[gen] * width


def link_words(gen: int | None, width: int | None) -> str:
    """``Gen4 x4 (7.9 GB/s)``."""
    bandwidth = link_bytes_per_s(gen, width)
    name = f"Gen{gen if gen is not None else '?'} x{width if width is not None else '?'}"
    return f"{name} ({bandwidth / 1e9:.1f} GB/s)" if bandwidth else name


def under_load(gpu: GpuReading) -> bool:
    busy = (gpu.utilization_gpu_pct or 0) >= UNDER_LOAD_UTIL_PCT
    moving = (gpu.pcie_rx_bytes_per_s or 0) >= UNDER_LOAD_RX_BYTES_PER_S or (
        gpu.pcie_tx_bytes_per_s or 0
    ) >= UNDER_LOAD_RX_BYTES_PER_S
    return busy or moving


@dataclass(frozen=True)
class LinkState:
    """How the link trained, judged only while the GPU works (idle downshifts are normal)."""

    current: str
    maximum: str
    gen_below_max: bool
    """Under load at a lower generation than card and slot allow: a riser, cable or BIOS issue."""
    width_below_max: bool
    """Under load on fewer lanes than the card has: an x4 slot or dock, or a degraded link."""
    bytes_per_s: float | None = None
    """What the link carries now, per direction (None for a generation we do not know)."""
    idle_downshift: bool = False
    """Below its top generation while the GPU idles: the driver saving power, nothing wrong."""

    @property
    def words(self) -> str:
        if self.gen_below_max:
            return (
                f"PCIe trained at {self.current.split(' (')[0]} under load: check the cable, "
                "riser or BIOS"
            )
        if self.width_below_max:
            return f"{self.current} of {self.maximum}: an x4 slot or dock, or a degraded link"
        return ""


def link_state(gpu: GpuReading) -> LinkState | None:
    if gpu.lost or gpu.pcie_link_gen is None:
        return None
    loaded = under_load(gpu)
    below_max_gen = gpu.pcie_link_gen_max is not None and gpu.pcie_link_gen < gpu.pcie_link_gen_max
    idle = gpu.clocks_event_reasons is not None and "gpu_idle" in gpu.clocks_event_reasons
    return LinkState(
        current=link_words(gpu.pcie_link_gen, gpu.pcie_link_width),
        maximum=link_words(gpu.pcie_link_gen_max, gpu.pcie_link_width_max),
        gen_below_max=loaded and below_max_gen,
        width_below_max=loaded
        and gpu.pcie_link_width is not None
        and gpu.pcie_link_width_max is not None
        and gpu.pcie_link_width < gpu.pcie_link_width_max,
        bytes_per_s=link_bytes_per_s(gpu.pcie_link_gen, gpu.pcie_link_width),
        idle_downshift=idle and below_max_gen,
    )


@dataclass(frozen=True)
class LoadTransfer:
    """A model load seen from the GPU: how much arrived, how fast, against the link."""

    started_at: float
    ended_at: float | None
    bytes_loaded: int
    rx_bytes_per_s: float | None
    """Mean PCIe RX NVML saw while loading."""
    link_bytes_per_s: float | None
    link: str

    @property
    def seconds(self) -> float:
        return max(0.0, (self.ended_at or self.started_at) - self.started_at)

    @property
    def rate_bytes_per_s(self) -> float | None:
        return self.bytes_loaded / self.seconds if self.seconds > 0 else None

    @property
    def link_share(self) -> float | None:
        rate = self.rate_bytes_per_s
        if rate is None or not self.link_bytes_per_s:
            return None
        return rate / self.link_bytes_per_s

    def words(self, *, finished: bool = True) -> str:
        rate = self.rate_bytes_per_s
        if rate is None:
            return ""
        amount = f"{self.bytes_loaded / 1e9:.1f} GB" + ("" if finished else " so far")
        text = f"{'loaded ' if finished else ''}{amount} at {rate / 1e9:.1f} GB/s"
        if self.link_share is not None:
            text += f" ({self.link_share:.0%} of {self.link})"
        if self.link_share is not None and self.link_share < 0.5:
            text += ": limited by the disk, not the link"
        return text


def _runner_pids(gpu: GpuReading) -> frozenset[int]:
    return frozenset(process.pid for process in gpu.processes or () if is_ollama_runner(process))


class LoadMonitor:
    """Follows one GPU's VRAM from snapshot to snapshot and measures each model load.

    A load is VRAM growing by :data:`LOAD_MIN_BYTES` or more between two samples, or an Ollama
    runner that was not there at the sample before: its first sample may catch only the CUDA
    context and the first buffers (a few hundred MiB), yet Ollama already lists the whole model.
    """

    def __init__(self) -> None:
        self.current: LoadTransfer | None = None
        self.last: LoadTransfer | None = None
        self._previous: tuple[float, int] | None = None
        self._runners: frozenset[int] = frozenset()
        self._rx_sum = 0.0
        self._rx_count = 0

    def update(self, taken_at: float, gpu: GpuReading) -> None:
        used = gpu.memory_used_bytes
        if used is None or gpu.lost:
            return
        if self._previous is not None and taken_at <= self._previous[0]:
            return  # no time has passed (a clock standing still): no news of the load
        previous, self._previous = self._previous, (taken_at, used)
        runners, earlier_runners = _runner_pids(gpu), self._runners
        self._runners = runners
        if previous is None:
            return
        grew = used - previous[1]
        link = link_words(gpu.pcie_link_gen, gpu.pcie_link_width)
        link_bytes = link_bytes_per_s(gpu.pcie_link_gen, gpu.pcie_link_width)
        if grew < LOAD_MIN_BYTES and self.current is None and runners - earlier_runners:
            # A runner just started: the load begins now, and is measured from here.
            self.current = LoadTransfer(taken_at, taken_at, 0, None, link_bytes, link)
            self._rx_sum = 0.0
            self._rx_count = 0
        elif grew >= LOAD_MIN_BYTES:
            if self.current is None:
                self.current = LoadTransfer(previous[0], taken_at, 0, None, link_bytes, link)
                self._rx_sum = 0.0
                self._rx_count = 0
            if gpu.pcie_rx_bytes_per_s is not None:
                self._rx_sum += gpu.pcie_rx_bytes_per_s
                self._rx_count += 1
            self.current = LoadTransfer(
                started_at=self.current.started_at,
                ended_at=taken_at,
                bytes_loaded=self.current.bytes_loaded + grew,
                rx_bytes_per_s=self._rx_sum / self._rx_count if self._rx_count else None,
                link_bytes_per_s=link_bytes,
                link=link,
            )
        elif self.current is not None:
            finished, self.current = self.current, None
            if finished.bytes_loaded > 0:
                self.last = finished
