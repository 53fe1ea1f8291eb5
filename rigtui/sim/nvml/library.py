"""A simulated NVML library, installed beneath the real ``pynvml`` bindings.

``pynvml`` loads ``libnvidia-ml.so.1`` with ctypes and looks every function up by name on the
library object. This module builds an object with the same shape: each exported symbol is a real
C function pointer (a ctypes callback with the C signature from ``nvml.h``), which writes its
results through the pointers it is given into memory laid out as the driver lays it out. So the
bindings' own structs, their ``_v2``/``_v3`` lookups and their ``NVMLError`` mapping run exactly as
on a real driver, and the driver-version traps of ``drivers.py`` are reproduced.

The library owns the plumbing every function shares (the handles, injected errors, a lost GPU,
the call counts) and the functions that take no device handle; what a device reports is in
``device.py`` and ``processes.py``.
"""

from __future__ import annotations

import ctypes
import threading
import time
from collections.abc import Callable
from ctypes import CFUNCTYPE, c_int, c_uint, c_void_p
from dataclasses import dataclass, field

from rigtui.sim.nvml.codes import (
    ERROR_GPU_IS_LOST,
    ERROR_INVALID_ARGUMENT,
    ERROR_STRINGS,
    ERROR_UNKNOWN,
    SUCCESS,
)
from rigtui.sim.nvml.device import device_functions
from rigtui.sim.nvml.drivers import DRIVER_PROFILES, DriverProfile
from rigtui.sim.nvml.processes import process_functions
from rigtui.sim.nvml.structs import write, write_string
from rigtui.sim.rig import SimulatedRig


@dataclass
class Injection:
    error: int
    gpu_index: int | None


@dataclass
class _Exported:
    prototype: type
    pointer: object
    implementation: Callable[..., int]
    device_call: bool = field(default=True)


class SimulatedNvmlLibrary:
    """Stands in for the ``CDLL`` object that ``pynvml`` loads; see the module docstring."""

    def __init__(
        self,
        rig: SimulatedRig,
        profile: DriverProfile | str = "r580",
        *,
        emulate_latency: bool = False,
    ) -> None:
        self.rig = rig
        self.profile = DRIVER_PROFILES[profile] if isinstance(profile, str) else profile
        self.emulate_latency = emulate_latency
        self.init_error: int | None = None
        """Set to e.g. ``ERROR_DRIVER_NOT_LOADED`` to make ``nvmlInit`` fail."""
        self.calls: dict[str, int] = {}
        self._injections: dict[str, list[Injection]] = {}
        self._lock = threading.Lock()
        self._handle_memory = [ctypes.create_string_buffer(16) for _ in rig.gpus]
        self._handles = {ctypes.addressof(buf): i for i, buf in enumerate(self._handle_memory)}
        self._error_strings = {
            code: ctypes.create_string_buffer(text.encode()) for code, text in ERROR_STRINGS.items()
        }
        self._exports: dict[str, _Exported] = {}
        self._export_system_functions()
        for function in (
            *device_functions(rig, self.profile, self._latency),
            *process_functions(rig, self.profile),
        ):
            self._export(function.name, [c_void_p, *function.argtypes], function.implementation)

    # --- the CDLL look-alike -------------------------------------------------------------------

    def __getattr__(self, name: str):
        exports = self.__dict__.get("_exports")
        if exports is None or name not in exports or name in self.profile.missing:
            raise AttributeError(name)
        return exports[name].pointer

    def inject(self, function: str, error: int, gpu_index: int | None = None) -> None:
        """Make ``function`` fail with ``error`` on one GPU (or on all: ``gpu_index`` None)."""
        with self._lock:
            self._injections.setdefault(function, []).append(Injection(error, gpu_index))

    def clear_injections(self) -> None:
        with self._lock:
            self._injections.clear()

    # --- plumbing ------------------------------------------------------------------------------

    def _injected_error(self, name: str, gpu_index: int | None) -> int | None:
        for injection in self._injections.get(name, ()):
            if injection.gpu_index is None or injection.gpu_index == gpu_index:
                return injection.error
        return None

    def _export(
        self,
        name: str,
        argtypes: list,
        implementation: Callable[..., int],
        *,
        device_call: bool = True,
        restype=c_int,
    ) -> None:
        prototype = CFUNCTYPE(restype, *argtypes)

        def entry(*args):
            self.calls[name] = self.calls.get(name, 0) + 1
            try:
                if device_call:
                    gpu_index = self._handles.get(args[0] or 0)
                    if gpu_index is None:
                        return ERROR_INVALID_ARGUMENT
                    injected = self._injected_error(name, gpu_index)
                    if injected is not None:
                        return injected
                    self.rig.advance()
                    gpu = self.rig.gpus[gpu_index]
                    if gpu.lost:
                        return ERROR_GPU_IS_LOST
                    with self.rig.lock():
                        return implementation(gpu_index, *args[1:])
                injected = self._injected_error(name, None)
                if injected is not None:
                    return injected
                return implementation(*args)
            except Exception:  # noqa: BLE001 - a C caller cannot receive a Python exception
                return ERROR_UNKNOWN

        pointer = prototype(entry) if restype is c_int else prototype(implementation)
        self._exports[name] = _Exported(prototype, pointer, implementation, device_call)

    def _latency(self, seconds: float) -> None:
        if self.emulate_latency:
            time.sleep(seconds)

    # --- the functions without a device handle -------------------------------------------------

    def _export_system_functions(self) -> None:
        rig = self.rig
        ptr = c_void_p

        def system(name, argtypes, impl):
            self._export(name, argtypes, impl, device_call=False)

        def init(*_flags):
            self._latency(0.05)
            return self.init_error if self.init_error is not None else SUCCESS

        system("nvmlInit", [], init)
        system("nvmlInit_v2", [], init)
        system("nvmlInitWithFlags", [c_uint], init)
        system("nvmlShutdown", [], lambda: SUCCESS)
        self._export(
            "nvmlErrorString",
            [c_int],
            lambda code: ctypes.addressof(
                self._error_strings.get(code, self._error_strings[ERROR_UNKNOWN])
            ),
            device_call=False,
            restype=c_void_p,
        )
        system(
            "nvmlSystemGetDriverVersion",
            [ptr, c_uint],
            lambda buf, length: write_string(buf, length, self.profile.version),
        )
        system(
            "nvmlSystemGetNVMLVersion",
            [ptr, c_uint],
            lambda buf, length: write_string(
                buf, length, f"{self.profile.cuda_version // 1000}.{self.profile.version}"
            ),
        )

        def cuda_version(out):
            write(out, c_int, self.profile.cuda_version)
            return SUCCESS

        system("nvmlSystemGetCudaDriverVersion", [ptr], cuda_version)
        system("nvmlSystemGetCudaDriverVersion_v2", [ptr], cuda_version)

        def count(out):
            write(out, c_uint, len(rig.gpus))
            return SUCCESS

        system("nvmlDeviceGetCount", [ptr], count)
        system("nvmlDeviceGetCount_v2", [ptr], count)

        # This call makes the handle rather than taking one, so ``_export``'s device plumbing does
        # not apply: it answers an error injected for one GPU, and a lost GPU, itself.
        def handle_by_index(index, out):
            if index >= len(rig.gpus):
                return ERROR_INVALID_ARGUMENT
            injected = self._injected_error("nvmlDeviceGetHandleByIndex_v2", index)
            if injected is not None:
                return injected
            if rig.gpus[index].lost:
                return ERROR_GPU_IS_LOST
            write(out, c_void_p, ctypes.addressof(self._handle_memory[index]))
            return SUCCESS

        system("nvmlDeviceGetHandleByIndex", [c_uint, ptr], handle_by_index)
        system("nvmlDeviceGetHandleByIndex_v2", [c_uint, ptr], handle_by_index)
