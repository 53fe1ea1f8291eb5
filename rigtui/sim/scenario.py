"""The rig's story over time: what the demo shows and the tests replay.

A scenario names the GPUs in the rig and schedules what happens to it. The default story is the
rig this project was made for: an RTX 4090 in an Oculink dock (PCIe Gen4 x4) on a mini PC with 8
cores and 64 GiB of RAM, running local models through Ollama.

Models are loaded, used and unloaded through the simulated Ollama's in-process API, exactly as
requests to it would: so ``/api/ps`` and the simulated NVML always tell the same story.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rigtui.sim.rig import MIB, GpuSlot, SimulatedRig

if TYPE_CHECKING:
    from rigtui.sim.ollama import SimulatedOllama

LOOP_S = 300.0
"""The story repeats every five minutes."""

SMALL_MODEL = "llama3.1:8b"
BIG_MODEL = "llama3.3:70b"
STORY_NUM_CTX = None
"""Ollama's default, as a chat with default options asks for: chatting reuses the runner."""
STORY_KEEP_ALIVE_S = 600.0
"""Longer than a loop, so models leave when the story unloads them, not by expiry."""


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    slots: tuple[GpuSlot, ...]
    script: Callable[[SimulatedRig, float, SimulatedOllama], None]
    """Schedules one loop of the story starting at the given time."""


def _quietly(action: Callable[[], object]) -> Callable[[SimulatedRig], None]:
    """A scripted step that tolerates the demo's user having changed things (e.g. unloaded)."""

    def run(_rig: SimulatedRig) -> None:
        with contextlib.suppress(KeyError, RuntimeError):
            action()

    return run


def _reply(
    rig: SimulatedRig,
    ollama: SimulatedOllama,
    model: str,
    start: float,
    seconds: float,
    prompt_s: float = 0.6,
) -> None:
    """Another client's reply: a burst of prompt evaluation, then generation, then rest."""
    rig.at(start, _quietly(lambda: ollama.set_phase(model, "prompt")))
    rig.at(start + prompt_s, _quietly(lambda: ollama.set_phase(model, "generate")))
    rig.at(start + prompt_s + seconds, _quietly(lambda: ollama.set_phase(model, "idle")))


def _story(rig: SimulatedRig, t0: float, ollama: SimulatedOllama, spikes_on: int = 0) -> None:
    """Idle with fans stopped; a model loads; fast replies; a bigger model spills; idle again."""

    def load(model: str) -> Callable[[SimulatedRig], None]:
        return _quietly(
            lambda: ollama.load(model, num_ctx=STORY_NUM_CTX, keep_alive_s=STORY_KEEP_ALIVE_S)
        )

    # 0-30 s idle. 30 s: the 8B model loads (VRAM climbs, PCIe RX near the link's limit).
    rig.at(t0 + 30, load(SMALL_MODEL))
    # 35-95 s: replies at full GPU use, held at the power limit, with transient spikes.
    for start, length in ((36, 14), (55, 18), (78, 15)):
        _reply(rig, ollama, SMALL_MODEL, t0 + start, length)
    for at, watts in ((37.2, 612), (41.8, 655), (56.3, 598), (60.1, 688), (79.4, 630)):
        rig.at(t0 + at, lambda r, w=watts: r.spike(spikes_on, w, 0.15))
    # 100 s: the 8B model goes and a 70B model loads; on one 24 GB card it spills to RAM.
    rig.at(t0 + 100, _quietly(lambda: ollama.unload(SMALL_MODEL)))
    rig.at(t0 + 101, load(BIG_MODEL))
    # 122-205 s: replies from the 70B model: on one card slow and CPU-bound, the GPU waiting.
    for start, length in ((122, 36), (165, 38)):
        _reply(rig, ollama, BIG_MODEL, t0 + start, length, prompt_s=3.0)
    rig.at(t0 + 212, _quietly(lambda: ollama.unload(BIG_MODEL)))
    # 212-300 s idle: the card cools, the fans stop again. Then the story repeats.
    rig.at(t0 + LOOP_S, lambda r: _story(r, t0 + LOOP_S, ollama, spikes_on))


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


def _single(rig: SimulatedRig, t0: float, ollama: SimulatedOllama) -> None:
    _story(rig, t0, ollama)
    _background_job(rig, t0)


def _dual(rig: SimulatedRig, t0: float, ollama: SimulatedOllama) -> None:
    """Two cards: the 70B model fits across both GPUs and nothing spills."""
    _story(rig, t0, ollama)
    _background_job(rig, t0)


def _faults(rig: SimulatedRig, t0: float, ollama: SimulatedOllama) -> None:
    """What goes wrong on an eGPU rig: a clogged heat sink, a stuck fan, a card off the bus."""
    _story(rig, t0, ollama)

    def degrade(r: SimulatedRig) -> None:
        r.gpus[0].cooling_degraded = True
        r.gpus[0].fan_stuck = True
        r.gpus[0].link_trains_at_gen = 2  # a marginal Oculink cable

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
        "Things going wrong: a clogged heat sink and a stuck fan (thermal slowdown), a marginal "
        "cable that trains the link at Gen2, an external power brake, and the second GPU falling "
        "off the bus.",
        (OCULINK_4090, DESKTOP_4090),
        _faults,
    ),
}
