"""The one place that chooses live, demo or replay, and opens what was chosen.

Every command (the dashboard, snapshot, record, fit, bench) and every test, screenshot and
benchmark builds what it reads from here, so "demo or live" is decided once: ``demo_options``
says which, ``open_rig`` opens the rig for a headless command, ``dashboard_source`` builds what
the dashboard shows.

Imports stay light at the top: the dashboard's start-up passes through here before Textual
loads, and a start on a real rig must not import the simulation.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rigtui.config import Settings
from rigtui.llm.ollama import parse_ollama_host

if TYPE_CHECKING:
    from rigtui.llm.ollama import OllamaAddress
    from rigtui.recording import Recording
    from rigtui.sim.environment import SimulatedEnvironment
    from rigtui.telemetry.opening import SamplerOpening
    from rigtui.telemetry.sampler import RigSampler

DEMO_START_S = 325.0
"""The demo opens 25 s into the story's second loop: the first loop fills the charts, and a
model starts loading a few seconds later."""


@dataclass(frozen=True)
class DemoOptions:
    """How the simulated rig plays: which story, from when, on which driver, how fast."""

    scenario: str = "story"
    at_s: float = DEMO_START_S
    """Where in the scenario to start (``--demo-at``)."""
    driver: str = "r580"
    speed: float = 1.0
    """How fast the story plays, and the simulated Ollama generates."""
    ollama_host: str | None = None
    """The dashboard's demo talks to this Ollama instead of serving its own (``--ollama-host``
    given on the command line). The headless commands' demos always serve their own."""
    ollama_port: int = 0
    """Where the simulated Ollama listens (0: a free port)."""
    staged: bool = False
    """A picture that comes out the same every time (tests, screenshots, benchmarks): the rig's
    clock stands still at ``at_s``, the driver answers without emulated latency, times read as
    the rig's own epoch, the power budget is applied to the story so far too, and the sampler
    is left for the dashboard's sampling worker to open (on the still clock)."""


@dataclass(frozen=True)
class OpenRig:
    """A rig opened for a headless command: its sampler and the Ollama to talk to."""

    sampler: RigSampler
    ollama_address: OllamaAddress | None
    """None when the command was asked not to talk to Ollama."""
    environment: SimulatedEnvironment | None = None
    """The simulated rig behind a demo."""


@dataclass
class DashboardSource:
    """What the dashboard shows: readings from a sampler being opened, or a recording; and the
    Ollama to talk to, if any."""

    opening: SamplerOpening | None = None
    """None when replaying."""
    replay: Recording | None = None
    ollama_address: OllamaAddress | None = None
    label: str = ""
    """Said in the header: "" for this machine, "demo: NAME", ..."""
    environment: SimulatedEnvironment | None = None
    """The simulated rig behind a demo (tests and screenshots reach into it)."""

    def close(self) -> None:
        """Stop what was started for this source (the simulated Ollama server)."""
        if self.environment is not None:
            self.environment.stop_ollama()


def demo_options(
    settings: Settings,
    *,
    at_s: float | None = None,
    driver: str | None = None,
    ollama_host: str | None = None,
) -> DemoOptions | None:
    """The demo the settings ask for (``--demo``, ``--scenario``), or None for this machine."""
    if not settings.demo:
        return None
    return DemoOptions(
        scenario=settings.demo,
        at_s=DEMO_START_S if at_s is None else at_s,
        driver=driver or "r580",
        speed=settings.demo_speed,
        ollama_host=ollama_host,
    )


@contextmanager
def open_rig(
    settings: Settings, demo: DemoOptions | None, *, ollama: bool = True, still: bool = False
) -> Iterator[OpenRig]:
    """This machine's rig, or the simulated one, for a headless command; on leaving, what was
    started for it (the simulated Ollama) is stopped. The sampler is not opened here.

    ``ollama``: whether the command talks to Ollama (the address is None otherwise); a demo then
    serves its own. ``still``: the simulated rig is brought up to ``demo.at_s`` and stands
    there (one moment, as ``fit`` reads it) instead of playing on at ``demo.speed``. Every
    sampler carries the power budget of ``settings``.
    """
    if demo is None:
        sampler = _live_sampler()
        address = parse_ollama_host(settings.ollama_host) if ollama else None
        environment = None
    else:
        environment = _simulated(demo)
        environment.clock.set(demo.at_s)
        if still:
            environment.rig.advance()
        elif not demo.staged:
            environment.go_live(demo.speed)
        address = parse_ollama_host(environment.start_ollama()) if ollama else None
        sampler = environment.sampler()
    sampler.power_watch.budget_w = settings.power_budget_w
    try:
        yield OpenRig(sampler, address, environment)
    finally:
        if environment is not None:
            environment.stop_ollama()


def dashboard_source(
    settings: Settings,
    demo: DemoOptions | None = None,
    *,
    replay: Path | None = None,
    environment: SimulatedEnvironment | None = None,
) -> DashboardSource:
    """What the dashboard shows: a recording (``replay``: raises ``RecordingError`` for a file
    that is not one), the simulated rig (``demo``; over ``environment`` if one is given), or
    this machine. Close it when the dashboard ends.

    The sampler's opening starts here, on a thread of its own, before the caller imports the
    dashboard's modules (see ``telemetry/opening.py``); a staged demo leaves it to the sampling
    worker. A demo's story so far is made here too, for the charts to open full.
    """
    if replay is not None:
        from rigtui.recording import read_recording

        return DashboardSource(replay=read_recording(replay))

    from rigtui.telemetry.opening import SamplerOpening

    budget_w = settings.power_budget_w
    if demo is None:
        opening = SamplerOpening(_live_sampler, budget_w=budget_w).start()
        address = parse_ollama_host(settings.ollama_host) if settings.ollama else None
        return DashboardSource(opening, ollama_address=address)

    environment = _simulated(demo, environment)
    if demo.staged:
        environment.power_watch.budget_w = budget_w
    # The story up to the start, so the charts open full; then it plays live. Made before
    # Textual loads: beside its imports on another thread, the two took three times as long
    # (the interpreter lock passes between them at every file the imports read).
    story = environment.story_so_far(demo.at_s, settings.interval_s, settings.history_minutes * 60)
    opening = SamplerOpening(environment.sampler, history=story, budget_w=budget_w)
    if not demo.staged:
        environment.go_live(demo.speed)
        opening.start()
    address = None
    if settings.ollama and demo.ollama_host is not None:
        # Simulated GPUs, a real (or separately run) Ollama: chat on a machine without one.
        address = parse_ollama_host(demo.ollama_host)
    elif settings.ollama:
        address = parse_ollama_host(environment.start_ollama())
    return DashboardSource(
        opening,
        ollama_address=address,
        label=f"demo: {environment.scenario.name}",
        environment=environment,
    )


def _live_sampler() -> RigSampler:
    from rigtui.telemetry.nvml import NvmlSource
    from rigtui.telemetry.sampler import RigSampler
    from rigtui.telemetry.system import SystemSource

    return RigSampler(NvmlSource(), SystemSource())


def _simulated(
    demo: DemoOptions, environment: SimulatedEnvironment | None = None
) -> SimulatedEnvironment:
    """The simulated rig of ``demo``, installed beneath pynvml."""
    if environment is None:
        from rigtui.sim import SimulatedEnvironment

        environment = SimulatedEnvironment(
            demo.scenario,
            driver=demo.driver,
            emulate_latency=not demo.staged,
            # The story's clock reads as today, so times shown (keep-alive, the header) look
            # right; a staged picture keeps the rig's own epoch, the same every run.
            epoch_start=None if demo.staged else time.time() - demo.at_s,
            ollama_speed=demo.speed,
            ollama_port=demo.ollama_port,
        )
    environment.install()
    return environment
