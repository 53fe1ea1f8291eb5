"""The simulated rig: NVML beneath pynvml, psutil and Ollama, driven by a scenario.

The package's names load when first used. ``cli.py`` reads the scenario and driver names for its
options from ``sim.scenario`` and ``sim.nvml``, and a start on a real rig must not import the
whole simulation for that (the simulated Ollama's server and asyncio: a tenth of a second).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rigtui.sim.clock import ManualClock
    from rigtui.sim.environment import FAST_POWER_HISTORY_S, SimulatedEnvironment
    from rigtui.sim.nvml import install, uninstall

_MODULE_OF = {
    "FAST_POWER_HISTORY_S": "rigtui.sim.environment",
    "SimulatedEnvironment": "rigtui.sim.environment",
    "ManualClock": "rigtui.sim.clock",
    "install": "rigtui.sim.nvml",
    "uninstall": "rigtui.sim.nvml",
}

__all__ = ["FAST_POWER_HISTORY_S", "ManualClock", "SimulatedEnvironment", "install", "uninstall"]


def __getattr__(name: str):
    if name not in _MODULE_OF:
        raise AttributeError(f"module 'rigtui.sim' has no attribute {name!r}")
    return getattr(importlib.import_module(_MODULE_OF[name]), name)
