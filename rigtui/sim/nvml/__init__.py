"""The simulated NVML library; see ``library.py``."""

from rigtui.sim.nvml.library import (
    DRIVER_PROFILES,
    ERROR_DRIVER_NOT_LOADED,
    ERROR_NO_PERMISSION,
    ERROR_NOT_SUPPORTED,
    ERROR_UNKNOWN,
    SimulatedNvmlLibrary,
    install,
    uninstall,
)

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
