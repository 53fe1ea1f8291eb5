"""The rig's story over time: what the demo shows and the tests replay.

A scenario names the GPUs in the rig and schedules what happens to it. The default story is the
rig this project was made for: an RTX 4090 in an Oculink dock (PCIe Gen4 x4) on a mini PC with 8
cores and 64 GiB of RAM, running local models through Ollama.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rigtui.sim.rig import GIB, MIB, GpuSlot, SimulatedRig

LOOP_S = 300.0
"""The story repeats every five minutes."""


@dataclass(frozen=True)
class ModelLoad:
    """A model loaded by the Ollama runner: how much goes to VRAM and how much stays in RAM."""

    name: str
    vram_bytes: int
    ram_bytes: int
    load_rate_bytes_per_s: float = 2.4e9
    """Cold read from an NVMe disk; a warm page cache approaches the PCIe link's rate."""


LLAMA_8B = ModelLoad(
    "llama3.1:8b", vram_bytes=int(6.2 * GIB), ram_bytes=int(0.6 * GIB), load_rate_bytes_per_s=5.6e9
)
LLAMA_70B_SPILLED = ModelLoad("llama3.3:70b", vram_bytes=int(22.9 * GIB), ram_bytes=int(21.5 * GIB))
LLAMA_70B_TWO_GPUS = ModelLoad("llama3.3:70b", vram_bytes=int(43.8 * GIB), ram_bytes=int(0.6 * GIB))


class OllamaRunner:
    """The ``ollama runner`` process of one loaded model, acting on the rig as the real one does."""

    def __init__(self, rig: SimulatedRig, model: ModelLoad, gpus: tuple[int, ...] = (0,)) -> None:
        self.rig = rig
        self.model = model
        self.gpus = gpus
        self.pid = rig.spawn(
            "ollama",
            (
                "/usr/local/bin/ollama",
                "runner",
                "--model",
                "/usr/share/ollama/.ollama/models/blobs/sha256-667b0c1932bc",
                "--ctx-size",
                "8192",
                "--batch-size",
                "512",
                "--threads",
                "8",
                "--port",
                "38117",
            ),
            username="ollama",
            rss_bytes=180 * MIB,
            cpu_cores=1.0,
        )
        share = model.vram_bytes / len(gpus)
        for gpu in gpus:
            rig.gpu_allocate(self.pid, gpu, share, model.load_rate_bytes_per_s / len(gpus))
        rig.set_cpu(self.pid, 1.0, rss_bytes=180 * MIB + model.ram_bytes)

    @property
    def offloaded(self) -> bool:
        return self.model.ram_bytes > self.model.vram_bytes * 0.2

    def generate(self) -> None:
        """Token generation: memory-bound on the GPU, or CPU-bound when layers spilled to RAM."""
        for gpu in self.gpus:
            if self.offloaded:
                # The GPU waits for the CPU's layers: low, choppy use; every physical core busy.
                self.rig.gpu_activity(
                    self.pid,
                    gpu,
                    sm_util_pct=17.0,
                    mem_util_pct=9.0,
                    jitter_pct=16.0,
                    pcie_rx_bytes_per_s=3.1e8,
                    pcie_tx_bytes_per_s=2.9e8,
                )
            else:
                self.rig.gpu_activity(
                    self.pid,
                    gpu,
                    sm_util_pct=97.0 / len(self.gpus),
                    mem_util_pct=82.0 / len(self.gpus),
                    jitter_pct=2.5,
                )
        self.rig.set_cpu(self.pid, 8.0 if self.offloaded else 1.0)

    def process_prompt(self) -> None:
        """Prompt evaluation is compute-bound: a short burst at full power, even when split."""
        for gpu in self.gpus:
            self.rig.gpu_activity(self.pid, gpu, sm_util_pct=100.0, mem_util_pct=55.0)
        self.rig.set_cpu(self.pid, 8.0 if self.offloaded else 1.0)

    def rest(self) -> None:
        for gpu in self.gpus:
            self.rig.gpu_activity(self.pid, gpu, sm_util_pct=0.0)
        self.rig.set_cpu(self.pid, 0.01)

    def unload(self) -> None:
        for gpu in self.gpus:
            self.rig.gpu_release(self.pid, gpu)
        self.rig.kill(self.pid)


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    slots: tuple[GpuSlot, ...]
    script: Callable[[SimulatedRig, float], None]
    """Schedules one loop of the story starting at the given time."""


def _reply(
    rig: SimulatedRig, runner_of, start: float, seconds: float, prompt_s: float = 0.6
) -> None:
    rig.at(start, lambda _: runner_of().process_prompt())
    rig.at(start + prompt_s, lambda _: runner_of().generate())
    rig.at(start + prompt_s + seconds, lambda _: runner_of().rest())


def _story(
    rig: SimulatedRig,
    t0: float,
    gpus: tuple[int, ...] = (0,),
    big_gpus: tuple[int, ...] = (0,),
    big_model: ModelLoad = LLAMA_70B_SPILLED,
) -> None:
    """Idle with fans stopped; a model loads; fast replies; a bigger model spills; idle again."""
    state: dict[str, OllamaRunner] = {}

    def runner() -> OllamaRunner:
        return state["runner"]

    def load(model: ModelLoad, on: tuple[int, ...]):
        def act(rig: SimulatedRig) -> None:
            state["runner"] = OllamaRunner(rig, model, on)

        return act

    def unload(_: SimulatedRig) -> None:
        state.pop("runner").unload()

    # 0-30 s idle. 30 s: the 8B model loads (VRAM climbs, PCIe RX near the link's limit).
    rig.at(t0 + 30, load(LLAMA_8B, gpus))
    rig.at(t0 + 32, lambda _: runner().rest())
    # 35-95 s: replies at full GPU use, held at the power limit, with transient spikes.
    for start, length in ((36, 14), (55, 18), (78, 15)):
        _reply(rig, runner, t0 + start, length)
    for at, watts in ((37.2, 612), (41.8, 655), (56.3, 598), (60.1, 688), (79.4, 630)):
        for gpu in gpus:
            rig.at(t0 + at, lambda r, g=gpu, w=watts: r.spike(g, w, 0.15))
    # 100 s: the 8B model is unloaded and a 70B model loads; it does not fit and spills to RAM.
    rig.at(t0 + 100, unload)
    rig.at(t0 + 101, load(big_model, big_gpus))
    rig.at(t0 + 120, lambda _: runner().rest())
    # 122-205 s: replies from the split model: slow, CPU-bound, the GPU mostly waiting.
    for start, length in ((122, 36), (165, 38)):
        _reply(rig, runner, t0 + start, length, prompt_s=3.0)
    rig.at(t0 + 212, unload)
    # 212-300 s idle: the card cools, the fans stop again. Then the story repeats.
    rig.at(t0 + LOOP_S, lambda r: _story(r, t0 + LOOP_S, gpus, big_gpus, big_model))


def _background_job(rig: SimulatedRig, t0: float) -> None:
    """Other work on the box: a nightly transcode that takes two cores now and then."""

    def start(r: SimulatedRig) -> None:
        r.spawn(
            "ffmpeg",
            ("ffmpeg", "-i", "camera-0412.mkv", "-c:v", "libx265", "out.mkv"),
            pid=31337,
            username="media",
            rss_bytes=410 * MIB,
            cpu_cores=1.9,
        )

    rig.at(t0 + 5, start)
    rig.at(t0 + 90, lambda r: r.kill(31337))
    rig.at(t0 + LOOP_S, lambda r: _background_job(r, t0 + LOOP_S))


def _single(rig: SimulatedRig, t0: float) -> None:
    _story(rig, t0)
    _background_job(rig, t0)


def _dual(rig: SimulatedRig, t0: float) -> None:
    """Two cards: the 8B model on the docked card, the 70B model split across both GPUs."""
    _story(rig, t0, gpus=(0,), big_gpus=(0, 1), big_model=LLAMA_70B_TWO_GPUS)
    _background_job(rig, t0)


def _faults(rig: SimulatedRig, t0: float) -> None:
    """What goes wrong on an eGPU rig: a clogged heat sink, a stuck fan, a card off the bus."""
    _story(rig, t0)

    def degrade(r: SimulatedRig) -> None:
        r.gpus[0].cooling_degraded = True
        r.gpus[0].fan_stuck = True

    def brake(on: bool):
        def act(r: SimulatedRig) -> None:
            r.gpus[0].power_brake = on

        return act

    def lose(r: SimulatedRig) -> None:
        r.gpus[1].lost = True

    rig.at(t0 + 1, degrade)
    rig.at(t0 + 80, brake(True))
    rig.at(t0 + 86, brake(False))
    rig.at(t0 + 45, lose)


OCULINK_4090 = GpuSlot()
DESKTOP_4090 = GpuSlot(
    slot_gen_max=4,
    slot_width=16,
    pci_bus_id="00000000:0A:00.0",
    uuid="GPU-b71f0d3a-2e95-4c8b-8f27-6a1d0e9c5b42",
)

SCENARIOS: dict[str, Scenario] = {
    "story": Scenario(
        "story",
        "An RTX 4090 in an Oculink dock (Gen4 x4): idle with fan-stop, a model loading, fast "
        "replies at the power limit with spikes, a 70B model spilling to the CPU, idle again.",
        (OCULINK_4090,),
        _single,
    ),
    "dual": Scenario(
        "dual",
        "The same rig with a second RTX 4090 in a desktop slot (Gen4 x16): the 70B model fits "
        "across both cards.",
        (OCULINK_4090, DESKTOP_4090),
        _dual,
    ),
    "faults": Scenario(
        "faults",
        "Things going wrong: a clogged heat sink and a stuck fan (thermal slowdown), an external "
        "power brake, and the second GPU falling off the bus.",
        (OCULINK_4090, DESKTOP_4090),
        _faults,
    ),
}
