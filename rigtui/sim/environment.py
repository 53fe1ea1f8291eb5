"""A whole simulated rig: NVML beneath pynvml, psutil and Ollama, driven by a scenario."""

from __future__ import annotations

from rigtui.sim.clock import ManualClock, ScaledClock, SimClock
from rigtui.sim.nvml import SimulatedNvmlLibrary, install, uninstall
from rigtui.sim.ollama import SimulatedOllama
from rigtui.sim.rig import SimulatedRig
from rigtui.sim.scenario import LOOP_S, SCENARIOS, Scenario
from rigtui.sim.system import SimulatedPsutil
from rigtui.telemetry.model import RigSnapshot
from rigtui.telemetry.nvml import NvmlSource
from rigtui.telemetry.power import FAST_SAMPLE_S as FAST_POWER_S
from rigtui.telemetry.power import PowerWatch
from rigtui.telemetry.sampler import RigSampler
from rigtui.telemetry.system import SystemSource

FAST_POWER_HISTORY_S = 60.0


class SimulatedEnvironment:
    """A whole simulated rig, wired so that rigtui's real sources read it."""

    def __init__(
        self,
        scenario: str | Scenario = "story",
        *,
        clock: SimClock | None = None,
        driver: str = "r580",
        emulate_latency: bool = False,
        seed: int = 4090,
        epoch_start: float | None = None,
        ollama_speed: float = 1.0,
        ollama_port: int = 0,
    ) -> None:
        self.scenario = SCENARIOS[scenario] if isinstance(scenario, str) else scenario
        extra = {} if epoch_start is None else {"epoch_start": epoch_start}
        self.rig = SimulatedRig(
            clock if clock is not None else ManualClock(), self.scenario.slots, seed=seed, **extra
        )
        # Keep-alive and the times /api/ps shows follow the rig's clock, like every reading.
        self.ollama = SimulatedOllama(
            self.rig, clock=self.rig.epoch_time, speed=ollama_speed, seed=seed, port=ollama_port
        )
        self.scenario.script(self.rig, 0.0, self.ollama)
        self.power_watch = PowerWatch()
        self.nvml_library = SimulatedNvmlLibrary(self.rig, driver, emulate_latency=emulate_latency)
        self.psutil = SimulatedPsutil(self.rig)

    def install(self) -> None:
        install(self.nvml_library)

    def uninstall(self) -> None:
        uninstall()

    @property
    def clock(self) -> SimClock:
        return self.rig.clock

    def story_so_far(
        self,
        until_s: float,
        interval_s: float,
        window_s: float,
        fast_power_s: float = FAST_POWER_HISTORY_S,
    ) -> tuple[RigSnapshot, ...]:
        """The scenario from ``until_s - window_s`` up to ``until_s``, one snapshot per interval.

        Runs on a manual clock as fast as the machine allows; the rig is left at ``until_s``.
        In the last ``fast_power_s`` seconds power is also sampled ten times a second, as the
        live dashboard does, so the power peaks are there from the start.
        """
        clock = ManualClock()
        self.rig.clock = clock
        emulating = self.nvml_library.emulate_latency
        self.nvml_library.emulate_latency = False
        sampler = self.sampler()
        sampler.open()
        first = max(0.0, until_s - window_s)
        steps = round((until_s - first) / interval_s)
        try:
            snapshots = []
            for step in range(steps):
                at = first + step * interval_s
                if sampler.fast_power and at >= until_s - fast_power_s:
                    for tenth in range(1, round(interval_s / FAST_POWER_S)):
                        clock.set(at - interval_s + tenth * FAST_POWER_S)
                        sampler.sample_power()
                clock.set(at)
                snapshots.append(sampler.sample())
        finally:
            sampler.close()
            self.nvml_library.emulate_latency = emulating
            clock.set(until_s)
        return tuple(snapshots)

    def go_live(self, speed: float = 1.0) -> None:
        """From now on the scenario plays in (scaled) wall time, from where it stands."""
        self.rig.clock = ScaledClock(speed, start=self.rig.clock.now())

    def start_ollama(self) -> str:
        """Serve Ollama's HTTP API on 127.0.0.1 (a free port); returns its address."""
        return self.ollama.start()

    def stop_ollama(self) -> None:
        if self.ollama.running:
            self.ollama.stop()

    def sampler(self) -> RigSampler:
        """A sampler over this rig; all of them share one power trace, as one app would."""
        return RigSampler(
            NvmlSource(),
            SystemSource(self.psutil),
            clock=self.rig.epoch_time,
            hostname=self.rig.hostname,
            power_watch=self.power_watch,
        )


__all__ = [
    "LOOP_S",
    "SCENARIOS",
    "ManualClock",
    "ScaledClock",
    "SimulatedEnvironment",
    "SimulatedNvmlLibrary",
    "SimulatedOllama",
    "SimulatedRig",
]
