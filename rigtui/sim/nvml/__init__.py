"""A simulated NVML library beneath the real ``pynvml`` bindings, and putting it there.

- ``library.py``: ``SimulatedNvmlLibrary``, the ``CDLL`` look-alike: the plumbing its exported C
  functions share and the functions that take no device handle.
- ``device.py`` and ``processes.py``: what each GPU reports, read from the simulated rig.
- ``drivers.py``: the driver generations (``DRIVER_PROFILES``) and how they differ.
- ``structs.py`` and ``codes.py``: the memory layouts and numbers of ``nvml.h``.

``SimulatedNvmlLibrary`` loads when first used: ``cli.py`` imports ``DRIVER_PROFILES`` from here
for its options on every start, also on a real rig, where the library is never used.
"""

from __future__ import annotations

import importlib
import threading
from typing import TYPE_CHECKING

from rigtui.sim.nvml.codes import (
    ERROR_ARGUMENT_VERSION_MISMATCH,
    ERROR_DRIVER_NOT_LOADED,
    ERROR_FUNCTION_NOT_FOUND,
    ERROR_GPU_IS_LOST,
    ERROR_INSUFFICIENT_SIZE,
    ERROR_INVALID_ARGUMENT,
    ERROR_NO_PERMISSION,
    ERROR_NOT_FOUND,
    ERROR_NOT_SUPPORTED,
    ERROR_UNINITIALIZED,
    ERROR_UNKNOWN,
    SUCCESS,
)
from rigtui.sim.nvml.drivers import DRIVER_PROFILES, DriverProfile

if TYPE_CHECKING:
    from rigtui.sim.nvml.library import SimulatedNvmlLibrary

__all__ = [
    "DRIVER_PROFILES",
    "ERROR_ARGUMENT_VERSION_MISMATCH",
    "ERROR_DRIVER_NOT_LOADED",
    "ERROR_FUNCTION_NOT_FOUND",
    "ERROR_GPU_IS_LOST",
    "ERROR_INSUFFICIENT_SIZE",
    "ERROR_INVALID_ARGUMENT",
    "ERROR_NOT_FOUND",
    "ERROR_NOT_SUPPORTED",
    "ERROR_NO_PERMISSION",
    "ERROR_UNINITIALIZED",
    "ERROR_UNKNOWN",
    "SUCCESS",
    "DriverProfile",
    "SimulatedNvmlLibrary",
    "install",
    "uninstall",
]


def __getattr__(name: str):
    if name != "SimulatedNvmlLibrary":
        raise AttributeError(f"module 'rigtui.sim.nvml' has no attribute {name!r}")
    return importlib.import_module("rigtui.sim.nvml.library").SimulatedNvmlLibrary


_installed_lock = threading.Lock()


def install(library: SimulatedNvmlLibrary) -> None:
    """Put ``library`` where ``pynvml`` keeps the loaded ``libnvidia-ml``."""
    import pynvml

    with _installed_lock:
        pynvml.nvmlLib = library
        pynvml._nvmlGetFunctionPointer_cache.clear()
        pynvml._nvmlLib_refcount = 0


def uninstall() -> None:
    """Forget the simulated library; the next ``nvmlInit`` looks for the real one again."""
    import pynvml

    with _installed_lock:
        pynvml.nvmlLib = None
        pynvml._nvmlGetFunctionPointer_cache.clear()
        pynvml._nvmlLib_refcount = 0
