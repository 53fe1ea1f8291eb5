"""The simulated NVML library; see ``library.py``."""

from rigtui.sim.nvml.codes import (
    ERROR_DRIVER_NOT_LOADED,
    ERROR_NO_PERMISSION,
    ERROR_NOT_SUPPORTED,
    ERROR_UNKNOWN,
)
from rigtui.sim.nvml.drivers import DRIVER_PROFILES
from rigtui.sim.nvml.library import SimulatedNvmlLibrary, install, uninstall

__all__ = [
    "DRIVER_PROFILES",
    "ERROR_DRIVER_NOT_LOADED",
    "ERROR_NOT_SUPPORTED",
    "ERROR_NO_PERMISSION",
    "ERROR_UNKNOWN",
    "SimulatedNvmlLibrary",
    "install",
    "uninstall",
]
