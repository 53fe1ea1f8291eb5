"""The one place that chooses live, demo or replay, and opens what was chosen.

Every command (the dashboard, snapshot, record, fit, bench) and every test, screenshot and
benchmark builds what it reads from here, so "demo or live" is decided once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rigtui.llm.ollama import OllamaAddress
    from rigtui.recording import Recording
    from rigtui.sim.environment import SimulatedEnvironment
    from rigtui.telemetry.opening import SamplerOpening


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
