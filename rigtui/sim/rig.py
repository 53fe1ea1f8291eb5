"""The simulated rig: GPUs, CPU, memory and processes, advanced in fixed time steps.

Everything that looks at the rig (the simulated NVML library, the simulated psutil, the simulated
Ollama server) reads this one model, and everything that acts on it (the scenario's script, the
Ollama server loading a model) changes it through the methods below. The state is advanced in
fixed ticks from a clock, with one seeded random generator, so the same clock readings always give
the same figures, however often or seldom they are read.
"""

from __future__ import annotations

import math
import random
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from rigtui.sim.clock import SimClock

GIB = 1024**3
MIB = 1024**2
TICK_S = 0.05
"""20 ticks per second: fast enough to show sub-second power spikes."""
LOAD_DECAYS = tuple(math.exp(-TICK_S / (60.0 * minutes)) for minutes in (1, 5, 15))
"""How much of the 1, 5 and 15 minute load averages a tick keeps."""

AVERAGING_TICKS = 20
"""NVML's utilization and (on Ampere and newer) power readings are averages over about 1 s."""

LINK_LANE_BYTES_PER_S = {1: 0.25e9, 2: 0.5e9, 3: 0.985e9, 4: 1.969e9, 5: 3.938e9}
"""Usable PCIe bandwidth per lane and direction, by generation."""

# Clock-event reason bits, as defined in nvml.h.
REASON_GPU_IDLE = 0x1
REASON_SW_POWER_CAP = 0x4
REASON_HW_SLOWDOWN = 0x8
REASON_SW_THERMAL = 0x20
REASON_HW_THERMAL = 0x40
REASON_HW_POWER_BRAKE = 0x80


@dataclass(frozen=True)
class GpuModel:
    """What a GPU is: the figures a real card of this kind reports through NVML."""

    name: str
    memory_total_bytes: int
    memory_reserved_bytes: int
    power_default_limit_w: float
    power_min_limit_w: float
    power_max_limit_w: float
    idle_power_w: float
    full_load_power_w: float
    """What the card would draw at full utilization with no power cap."""
    temperature_shutdown_c: int
    temperature_slowdown_c: int
    temperature_max_operating_c: int
    fan_count: int
    fan_start_c: float
    fan_stop_c: float
    fan_max_rpm: int
    sm_clock_idle_mhz: int
    sm_clock_boost_mhz: int
    sm_clock_max_mhz: int
    mem_clock_idle_mhz: int
    mem_clock_load_mhz: int
    mem_clock_max_mhz: int
    pcie_gen_max: int
    pcie_width_max: int
    thermal_resistance_c_per_w: float
    """Heat-sink resistance with the fans running."""
    passive_resistance_c_per_w: float
    """With the fans stopped (fan-stop) or absent."""
    thermal_time_constant_s: float = 25.0


RTX_4090 = GpuModel(
    name="NVIDIA GeForce RTX 4090",
    memory_total_bytes=24564 * MIB,
    memory_reserved_bytes=346 * MIB,
    power_default_limit_w=450.0,
    power_min_limit_w=150.0,
    power_max_limit_w=600.0,
    idle_power_w=17.0,
    full_load_power_w=500.0,
    temperature_shutdown_c=90,
    temperature_slowdown_c=87,
    temperature_max_operating_c=83,
    fan_count=2,
    fan_start_c=50.0,
    fan_stop_c=42.0,
    fan_max_rpm=3000,
    sm_clock_idle_mhz=210,
    sm_clock_boost_mhz=2745,
    sm_clock_max_mhz=3120,
    mem_clock_idle_mhz=405,
    mem_clock_load_mhz=10251,
    mem_clock_max_mhz=10501,
    pcie_gen_max=4,
    pcie_width_max=16,
    thermal_resistance_c_per_w=0.088,
    passive_resistance_c_per_w=0.95,
)


@dataclass
class GpuWork:
    """What one process does on one GPU."""

    vram_bytes: float = 0.0
    vram_target_bytes: float = 0.0
    fill_rate_bytes_per_s: float = 2.5e9
    sm_util_pct: float = 0.0
    mem_util_pct: float = 0.0
    jitter_pct: float = 0.0
    """Uniform noise on ``sm_util_pct``; a model split with the CPU gives choppy, low use."""
    pcie_rx_bytes_per_s: float = 0.0
    pcie_tx_bytes_per_s: float = 0.0
    kind: str = "C"
    sm_now_pct: float = 0.0
    """Its share of the SM in the last tick (what per-process utilization reports)."""
    mem_now_pct: float = 0.0
    sampled_at_s: float | None = None
    """The rig's time of the last tick it used the GPU at all (NVML's sample timestamp)."""


@dataclass
class SimProcess:
    pid: int
    name: str
    cmdline: tuple[str, ...]
    username: str
    rss_bytes: int
    cpu_cores: float = 0.0
    """How many cores' worth of CPU it keeps busy (1.0 = one core at 100 %)."""
    create_time: float = 0.0
    gpu: dict[int, GpuWork] = field(default_factory=dict)


@dataclass
class GpuState:
    """What the card is doing now; read by the simulated NVML library."""

    model: GpuModel
    index: int
    uuid: str
    pci_bus_id: str
    slot_gen_max: int
    slot_width: int
    power_limit_w: float
    lost: bool = False
    fan_stuck: bool = False
    """A fan that is told to spin but does not (RPM stays 0): a broken fan, not fan-stop."""
    cooling_degraded: bool = False
    """Clogged heat sink or a hot enclosure: the card runs into thermal slowdown."""
    power_brake: bool = False
    """The external power-brake signal (a PSU or UPS asking the card to back off)."""
    link_trains_at_gen: int | None = None
    """A marginal riser or cable: under load the link trains at this generation, not the max."""

    temperature_c: float = 35.0
    fans_pct: list[float] = field(default_factory=list)
    fans_rpm: list[float] = field(default_factory=list)
    fans_running: bool = False
    utilization_gpu_pct: float = 0.0
    utilization_memory_pct: float = 0.0
    power_instant_w: float = 0.0
    power_average_w: float = 0.0
    energy_mj: float = 0.0
    sm_clock_mhz: float = 0.0
    mem_clock_mhz: float = 0.0
    pstate: int = 8
    clocks_event_mask: int = REASON_GPU_IDLE
    pcie_gen: int = 1
    pcie_rx_bytes_per_s: float = 0.0
    pcie_tx_bytes_per_s: float = 0.0
    idle_ticks: int = 0
    spike_w: float = 0.0
    spike_ticks_left: int = 0
    util_window: deque = field(default_factory=lambda: deque(maxlen=AVERAGING_TICKS))
    mem_util_window: deque = field(default_factory=lambda: deque(maxlen=AVERAGING_TICKS))
    power_window: deque = field(default_factory=lambda: deque(maxlen=AVERAGING_TICKS))

    @property
    def pcie_width(self) -> int:
        return min(self.model.pcie_width_max, self.slot_width)

    @property
    def pcie_gen_max(self) -> int:
        return min(self.model.pcie_gen_max, self.slot_gen_max)


@dataclass(frozen=True)
class GpuSlot:
    """How a GPU is attached: an Oculink dock trains Gen4 x4, a desktop slot Gen4 x16."""

    model: GpuModel = RTX_4090
    slot_gen_max: int = 4
    slot_width: int = 4
    pci_bus_id: str = "00000000:01:00.0"
    uuid: str = "GPU-5e7a1c2b-8d43-4f0e-9a61-2c7d9b3e4f10"


@dataclass
class CpuState:
    logical_cores: int = 16
    physical_cores: int = 8
    memory_total_bytes: int = 64 * GIB
    memory_base_used_bytes: int = int(4.6 * GIB)
    swap_total_bytes: int = 8 * GIB
    per_core_pct: list[float] = field(default_factory=list)
    load_average: list[float] = field(default_factory=lambda: [0.3, 0.4, 0.5])
    per_process_pct: dict[int, float] = field(default_factory=dict)


class SimulatedRig:
    """A rig whose state is a function of its clock and the actions applied to it."""

    def __init__(
        self,
        clock: SimClock,
        slots: tuple[GpuSlot, ...] = (GpuSlot(),),
        *,
        seed: int = 4090,
        cpu: CpuState | None = None,
        hostname: str = "llmbox",
        epoch_start: float = 1_795_000_000.0,
    ) -> None:
        self.clock = clock
        self.hostname = hostname
        self.epoch_start = epoch_start
        self._lock = threading.RLock()
        self._random = random.Random(seed)
        self._tick = 0
        self._next_pid = 48000
        self._schedule: list[tuple[float, int, Callable[[SimulatedRig], None]]] = []
        self._schedule_order = 0
        self.cpu = cpu or CpuState()
        self.cpu.per_core_pct = [0.0] * self.cpu.logical_cores
        # Busy threads land on one logical CPU per physical core first, as the scheduler does.
        logical = self.cpu.logical_cores
        self._core_order = list(range(0, logical, 2)) + list(range(1, logical, 2))
        self.gpus: list[GpuState] = []
        for index, slot in enumerate(slots):
            state = GpuState(
                model=slot.model,
                index=index,
                uuid=slot.uuid,
                pci_bus_id=slot.pci_bus_id,
                slot_gen_max=slot.slot_gen_max,
                slot_width=slot.slot_width,
                power_limit_w=slot.model.power_default_limit_w,
                fans_pct=[0.0] * slot.model.fan_count,
                fans_rpm=[0.0] * slot.model.fan_count,
                energy_mj=float(81_234_567 + 9_876_543 * index),
            )
            state.temperature_c = 30.0 + state.model.idle_power_w * 0.5
            state.sm_clock_mhz = slot.model.sm_clock_idle_mhz
            state.mem_clock_mhz = slot.model.mem_clock_idle_mhz
            state.power_instant_w = state.power_average_w = slot.model.idle_power_w
            self.gpus.append(state)
        self.processes: dict[int, SimProcess] = {}
        self._spawn_system_processes()

    # --- time -------------------------------------------------------------------------------

    @property
    def now(self) -> float:
        """Simulated seconds up to which the state has been advanced."""
        return self._tick * TICK_S

    def epoch_time(self) -> float:
        """The wall-clock time the rig believes it is (for snapshot timestamps)."""
        return self.epoch_start + self.clock.now()

    def advance(self) -> None:
        """Bring the state up to the clock, tick by tick."""
        with self._lock:
            target = math.floor(self.clock.now() / TICK_S + 1e-9)
            while self._tick < target:
                self._tick += 1
                self._run_due_actions()
                self._step()

    def at(self, seconds: float, action: Callable[[SimulatedRig], None]) -> None:
        """Run ``action`` when simulated time reaches ``seconds`` (a scenario's script)."""
        with self._lock:
            self._schedule_order += 1
            self._schedule.append((seconds, self._schedule_order, action))
            self._schedule.sort(key=lambda item: (item[0], item[1]))

    def _run_due_actions(self) -> None:
        while self._schedule and self._schedule[0][0] <= self.now + 1e-9:
            _, _, action = self._schedule.pop(0)
            action(self)

    # --- processes --------------------------------------------------------------------------

    def _spawn_system_processes(self) -> None:
        self.spawn("systemd", ("/sbin/init",), pid=1, rss_bytes=14 * MIB, cpu_cores=0.002)
        self.spawn("sshd", ("sshd: rig@pts/0",), pid=1422, rss_bytes=11 * MIB, cpu_cores=0.004)
        self.spawn(
            "tmux: server",
            ("tmux", "new", "-s", "rig"),
            pid=1580,
            username="rig",
            rss_bytes=6 * MIB,
            cpu_cores=0.003,
        )
        self.spawn(
            "ollama",
            ("/usr/local/bin/ollama", "serve"),
            pid=2231,
            username="ollama",
            rss_bytes=92 * MIB,
            cpu_cores=0.004,
        )

    def spawn(
        self,
        name: str,
        cmdline: tuple[str, ...],
        *,
        pid: int | None = None,
        username: str = "root",
        rss_bytes: int = 32 * MIB,
        cpu_cores: float = 0.0,
    ) -> int:
        with self._lock:
            if pid is None:
                pid = self._next_pid
                self._next_pid += 7
            self.processes[pid] = SimProcess(
                pid=pid,
                name=name,
                cmdline=cmdline,
                username=username,
                rss_bytes=rss_bytes,
                cpu_cores=cpu_cores,
                create_time=self.epoch_start + self.now,
            )
            return pid

    def list_real_process(
        self,
        pid: int,
        name: str,
        gpu_index: int = 0,
        *,
        vram_bytes: float = 1024 * MIB,
        sm_util_pct: float = 0.0,
        mem_util_pct: float = 0.0,
        username: str = "root",
    ) -> None:
        """List a process of this machine (a test's child) as one using a GPU: NVML then shows
        its real PID, with its memory already there, and psutil finds it."""
        self.spawn(name, (name,), pid=pid, username=username)
        with self._lock:
            work = self.processes[pid].gpu.setdefault(gpu_index, GpuWork())
            work.vram_bytes = work.vram_target_bytes = vram_bytes
            work.sm_util_pct = sm_util_pct
            work.mem_util_pct = mem_util_pct

    def kill(self, pid: int) -> None:
        with self._lock:
            self.processes.pop(pid, None)
            self.cpu.per_process_pct.pop(pid, None)

    def set_cpu(self, pid: int, cores: float, rss_bytes: int | None = None) -> None:
        with self._lock:
            process = self.processes[pid]
            process.cpu_cores = cores
            if rss_bytes is not None:
                process.rss_bytes = rss_bytes

    def gpu_allocate(
        self, pid: int, gpu_index: int, target_bytes: float, fill_rate_bytes_per_s: float = 2.5e9
    ) -> None:
        """Let ``pid`` grow its VRAM to ``target_bytes``, copying at the given rate (PCIe RX)."""
        with self._lock:
            work = self.processes[pid].gpu.setdefault(gpu_index, GpuWork())
            work.vram_target_bytes = target_bytes
            work.fill_rate_bytes_per_s = fill_rate_bytes_per_s

    def gpu_activity(
        self,
        pid: int,
        gpu_index: int,
        *,
        sm_util_pct: float,
        mem_util_pct: float = 0.0,
        jitter_pct: float = 0.0,
        pcie_rx_bytes_per_s: float = 0.0,
        pcie_tx_bytes_per_s: float = 0.0,
    ) -> None:
        with self._lock:
            work = self.processes[pid].gpu.setdefault(gpu_index, GpuWork())
            work.sm_util_pct = sm_util_pct
            work.mem_util_pct = mem_util_pct
            work.jitter_pct = jitter_pct
            work.pcie_rx_bytes_per_s = pcie_rx_bytes_per_s
            work.pcie_tx_bytes_per_s = pcie_tx_bytes_per_s

    def gpu_release(self, pid: int, gpu_index: int) -> None:
        with self._lock:
            process = self.processes.get(pid)
            if process is not None:
                process.gpu.pop(gpu_index, None)

    def spike(self, gpu_index: int, watts: float, duration_s: float) -> None:
        """A transient: instantaneous power jumps to ``watts`` for ``duration_s``."""
        with self._lock:
            gpu = self.gpus[gpu_index]
            gpu.spike_w = watts
            gpu.spike_ticks_left = max(1, round(duration_s / TICK_S))

    # --- queries ----------------------------------------------------------------------------

    def vram_used_bytes(self, gpu_index: int) -> int:
        """VRAM in use, not counting the reserved part (NVML's ``_v2`` meaning of "used")."""
        with self._lock:
            return int(
                MIB
                + sum(
                    p.gpu[gpu_index].vram_bytes
                    for p in self.processes.values()
                    if gpu_index in p.gpu
                )
            )

    def vram_free_bytes(self, gpu_index: int) -> int:
        gpu = self.gpus[gpu_index]
        return (
            gpu.model.memory_total_bytes
            - gpu.model.memory_reserved_bytes
            - self.vram_used_bytes(gpu_index)
        )

    def memory_used_bytes(self) -> int:
        with self._lock:
            return self.cpu.memory_base_used_bytes + sum(
                p.rss_bytes for p in self.processes.values()
            )

    def swap_used_bytes(self) -> int:
        over = self.memory_used_bytes() - int(self.cpu.memory_total_bytes * 0.97)
        base = 312 * MIB
        return min(self.cpu.swap_total_bytes, base + max(0, over))

    def lock(self) -> threading.RLock:
        return self._lock

    # --- physics ----------------------------------------------------------------------------

    def _step(self) -> None:
        for gpu in self.gpus:
            self._step_gpu(gpu)
        self._step_cpu()

    def _step_gpu(self, gpu: GpuState) -> None:
        sm_util, mem_util, rx, tx = self._gpu_demand(gpu)
        busy = sm_util > 0.5 or rx > 1e6
        mask, clock_scale = self._gpu_power(gpu, sm_util, mem_util, busy)

        gpu.util_window.append(sm_util)
        gpu.mem_util_window.append(mem_util)
        gpu.utilization_gpu_pct = sum(gpu.util_window) / len(gpu.util_window)
        gpu.utilization_memory_pct = sum(gpu.mem_util_window) / len(gpu.mem_util_window)
        self._gpu_clocks_and_link(gpu, busy, mask, clock_scale)
        noise = self._random.uniform
        gpu.pcie_rx_bytes_per_s = rx + (noise(0, 40_000) if busy else noise(0, 3_000))
        gpu.pcie_tx_bytes_per_s = tx + (noise(0, 30_000) if busy else noise(0, 2_000))
        self._gpu_thermals(gpu)
        self._gpu_fans(gpu)

    def _gpu_demand(self, gpu: GpuState) -> tuple[float, float, float, float]:
        """What the processes ask of this GPU this tick: SM %, memory %, PCIe RX and TX."""
        rand = self._random
        sm_demand = mem_demand = rx = tx = 0.0
        for process in self.processes.values():
            work = process.gpu.get(gpu.index)
            if work is None:
                continue
            if work.vram_bytes != work.vram_target_bytes:
                # A copy to the GPU runs at the disk's pace, but never above what the link
                # carries (about 85 % of its raw rate, after packet overhead).
                link_gen = min(gpu.pcie_gen_max, gpu.link_trains_at_gen or gpu.pcie_gen_max)
                link_rate = 0.85 * LINK_LANE_BYTES_PER_S[link_gen] * gpu.pcie_width
                step = min(work.fill_rate_bytes_per_s, link_rate) * TICK_S
                if work.vram_bytes < work.vram_target_bytes:
                    moved = min(step, work.vram_target_bytes - work.vram_bytes)
                    work.vram_bytes += moved
                    rx += moved / TICK_S
                    sm_demand += 4.0
                else:
                    work.vram_bytes = max(work.vram_target_bytes, work.vram_bytes - step * 8)
            jitter = rand.uniform(-work.jitter_pct, work.jitter_pct) if work.jitter_pct else 0.0
            sm = max(0.0, work.sm_util_pct + jitter)
            mem = work.mem_util_pct * (sm / work.sm_util_pct if work.sm_util_pct else 1.0)
            loading = 4.0 if work.vram_bytes < work.vram_target_bytes else 0.0
            work.sm_now_pct, work.mem_now_pct = sm + loading, mem
            if sm + loading + mem > 0:
                work.sampled_at_s = self.epoch_time()
            sm_demand += sm
            mem_demand += mem
            rx += work.pcie_rx_bytes_per_s
            tx += work.pcie_tx_bytes_per_s
        # Over 100 %, the processes share the SM (and the memory) in proportion.
        for process in self.processes.values():
            work = process.gpu.get(gpu.index)
            if work is not None:
                if sm_demand > 100.0:
                    work.sm_now_pct *= 100.0 / sm_demand
                if mem_demand > 100.0:
                    work.mem_now_pct *= 100.0 / mem_demand
        return min(100.0, sm_demand), min(100.0, mem_demand), rx, tx

    def _gpu_power(
        self, gpu: GpuState, sm_util: float, mem_util: float, busy: bool
    ) -> tuple[int, float]:
        """Power drawn under the limits; returns the clock-event mask and the clock scale."""
        model = gpu.model
        rand = self._random
        load = sm_util / 100.0
        demand_w = model.idle_power_w + (model.full_load_power_w - model.idle_power_w) * (
            0.72 * load + 0.28 * (mem_util / 100.0)
        )
        if busy:
            demand_w = max(demand_w, model.idle_power_w + 38.0)
        mask = 0
        clock_scale = 1.0
        limit = gpu.power_limit_w
        if demand_w > limit:
            clock_scale *= (limit / demand_w) ** 0.5
            demand_w = limit * (0.985 + rand.uniform(-0.01, 0.01))
            mask |= REASON_SW_POWER_CAP
        if gpu.temperature_c >= model.temperature_max_operating_c and busy:
            mask |= REASON_SW_THERMAL
            over = gpu.temperature_c - model.temperature_max_operating_c + 1
            clock_scale *= max(0.55, 1.0 - 0.06 * over)
            demand_w *= max(0.6, 1.0 - 0.05 * over)
        if gpu.temperature_c >= model.temperature_slowdown_c:
            mask |= REASON_HW_THERMAL | REASON_HW_SLOWDOWN
            clock_scale *= 0.5
            demand_w *= 0.6
        if gpu.power_brake and busy:
            mask |= REASON_HW_POWER_BRAKE | REASON_HW_SLOWDOWN
            clock_scale *= 0.35
            demand_w *= 0.45
        instant = demand_w + rand.uniform(-1.5, 1.5) * (1 + 4 * load)
        if gpu.spike_ticks_left > 0:
            instant = max(instant, gpu.spike_w + rand.uniform(-8, 8))
            gpu.spike_ticks_left -= 1
        gpu.power_instant_w = max(0.0, instant)
        gpu.power_window.append(gpu.power_instant_w)
        gpu.power_average_w = sum(gpu.power_window) / len(gpu.power_window)
        gpu.energy_mj += gpu.power_instant_w * TICK_S * 1000.0
        return mask, clock_scale

    def _gpu_clocks_and_link(
        self, gpu: GpuState, busy: bool, mask: int, clock_scale: float
    ) -> None:
        """P-state, clocks and PCIe generation: all drop a couple of seconds after work stops."""
        model = gpu.model
        if busy:
            gpu.idle_ticks = 0
            gpu.pstate = 2
            gpu.pcie_gen = min(gpu.pcie_gen_max, gpu.link_trains_at_gen or gpu.pcie_gen_max)
            target_sm = model.sm_clock_boost_mhz * clock_scale
            gpu.sm_clock_mhz += (target_sm - gpu.sm_clock_mhz) * 0.5
            gpu.mem_clock_mhz = model.mem_clock_load_mhz
        else:
            gpu.idle_ticks += 1
            if gpu.idle_ticks > 2 / TICK_S:
                mask |= REASON_GPU_IDLE
                gpu.pstate = 8
                gpu.pcie_gen = 1
                gpu.sm_clock_mhz = model.sm_clock_idle_mhz
                gpu.mem_clock_mhz = model.mem_clock_idle_mhz
        gpu.clocks_event_mask = mask

    def _gpu_thermals(self, gpu: GpuState) -> None:
        """Temperature relaxes towards what the heat sink allows at this power."""
        model = gpu.model
        resistance = (
            model.thermal_resistance_c_per_w
            if gpu.fans_running
            else model.passive_resistance_c_per_w
        )
        if gpu.cooling_degraded:
            resistance *= 1.65
        if gpu.fan_stuck and gpu.fans_running:
            resistance *= 1.25
        # A passive heat sink saturates: what it cannot shed at idle power is capped by airflow.
        equilibrium = 27.0 + min(gpu.power_average_w * resistance, 95.0)
        gpu.temperature_c += (equilibrium - gpu.temperature_c) * (
            TICK_S / model.thermal_time_constant_s
        )

    def _gpu_fans(self, gpu: GpuState) -> None:
        """Fan-stop: the fans start above fan_start_c and stop again below fan_stop_c."""
        model = gpu.model
        if gpu.fans_running and gpu.temperature_c < model.fan_stop_c:
            gpu.fans_running = False
        elif not gpu.fans_running and gpu.temperature_c >= model.fan_start_c:
            gpu.fans_running = True
        for fan in range(model.fan_count):
            if gpu.fans_running:
                target = 30.0 + (gpu.temperature_c - model.fan_start_c) * 2.0 + fan * 2
                target = max(30.0, min(100.0, target))
            else:
                target = 0.0
            gpu.fans_pct[fan] += (target - gpu.fans_pct[fan]) * 0.2
            if target == 0.0 and gpu.fans_pct[fan] < 0.5:
                gpu.fans_pct[fan] = 0.0
            stuck = gpu.fan_stuck and fan == 0
            rpm_target = 0.0 if stuck else gpu.fans_pct[fan] / 100.0 * model.fan_max_rpm
            gpu.fans_rpm[fan] += (rpm_target - gpu.fans_rpm[fan]) * 0.15

    def _step_cpu(self) -> None:
        cpu = self.cpu
        rand = self._random
        draw = rand.random
        # rand.uniform(0.5, 4.0) spelled out: the same numbers, without a call per core per tick.
        cores = [0.5 + 3.5 * draw() for _ in range(cpu.logical_cores)]
        order = self._core_order
        slot = 0
        runnable = 0.0
        for process in sorted(self.processes.values(), key=lambda p: -p.cpu_cores):
            pct = process.cpu_cores * 100.0
            if process.cpu_cores >= 0.05:
                pct *= rand.uniform(0.93, 1.0)
            cpu.per_process_pct[process.pid] = pct
            runnable += process.cpu_cores
            remaining = process.cpu_cores
            while remaining > 0.05:
                share = min(1.0, remaining)
                core = order[slot % cpu.logical_cores]
                cores[core] += share * 100.0 * rand.uniform(0.9, 1.0)
                remaining -= share
                slot += 1
        cpu.per_core_pct = [value if value < 100.0 else 100.0 for value in cores]
        load = cpu.load_average
        for i, decay in enumerate(LOAD_DECAYS):
            load[i] = load[i] * decay + runnable * (1 - decay)
