"""Loaded models: runners on the simulated rig, and when they load, evict, expire and work.

A loaded model is an ``ollama runner`` process on the :class:`~rigtui.sim.rig.SimulatedRig`: it
takes VRAM on the simulated GPUs, holds its CPU part in RAM, and makes the GPUs and cores busy
while it evaluates a prompt or generates, so the simulated NVML and psutil show what a real rig
would show. The :class:`Scheduler` keeps one runner per model, as Ollama's does: a request with
other runner options reloads it; a model that does not fit evicts idle models first (the one due
to expire soonest), waits for busy ones, and only a model loaded alone is split (see
:mod:`~rigtui.sim.ollama.placement`); the last request done with a runner starts its keep-alive.

Time
    Waits are wall time divided by ``speed``. ``expires_at`` and keep-alive expiry use ``clock``
    (epoch seconds; ``time.time`` by default; pass ``rig.epoch_time`` to let keep-alive run on
    the rig's simulated time). The rig itself hears of a finished load through ``rig.at`` on its
    own clock.

Locking
    All scheduler state is guarded by the rig's re-entrant lock (``rig.lock()``), never by a
    lock of this package, because rig actions (``rig.at``) may call the in-process API from
    inside ``rig.advance()`` on another thread. Methods named ``…_locked`` expect the caller to
    hold it; the others take it. The in-process API never blocks on the server thread.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone

from rigtui.sim.ollama.decoding import int_option
from rigtui.sim.ollama.http import HttpError
from rigtui.sim.ollama.models import ModelSpec, display_name
from rigtui.sim.ollama.placement import (
    BATCH_SIZE,
    GPU_OVERHEAD_BYTES,
    Placement,
    plan_cpu,
    plan_forced,
    plan_full,
    plan_partial,
)
from rigtui.sim.ollama.speed import load_seconds, rates
from rigtui.sim.ollama.wire import FOREVER_S
from rigtui.sim.rig import MIB, SimulatedRig

DEFAULT_NUM_CTX = 4096
DEFAULT_KEEP_ALIVE_S = 300.0
RUNNER_BASE_RSS_BYTES = 180 * MIB
MAX_MODELS_PER_GPU = 3
CUDA_OOM = (
    "llama runner process has terminated: error loading model: unable to allocate CUDA0 buffer"
)
PHASES = ("prompt", "generate", "idle")


@dataclass(frozen=True)
class LoadedModel:
    """A snapshot of one loaded model (one runner), as the in-process API reports it."""

    name: str
    digest: str
    size_bytes: int
    size_vram_bytes: int
    layers_on_gpu: int
    layers_total: int
    num_ctx: int
    num_gpu: int
    """As requested: -1 = automatic."""
    gpus: tuple[int, ...]
    vram_by_gpu_bytes: tuple[int, ...]
    """Aligned with ``gpus``."""
    runner_pid: int
    runner_port: int
    expires_at: datetime
    keep_alive_s: float
    phase: str
    """``loading``, ``prompt``, ``generate`` or ``idle``."""
    in_flight: int
    generation_tokens_per_s: float
    """The modelled rate at ``speed`` 1."""
    prompt_tokens_per_s: float
    load_s: float


@dataclass(eq=False)
class Runner:
    spec: ModelSpec
    placement: Placement
    num_ctx: int
    num_gpu: int
    pid: int
    port: int
    keep_alive_s: float
    expires_at_s: float
    ready_at: float
    """``time.perf_counter()`` when the load is done (wall time scaled by ``speed``)."""
    load_s: float
    generation_s_per_token: float
    prompt_s_per_token: float
    refcount: int = 0
    busy: bool = False
    phase: str = "loading"
    unloaded: bool = False
    unload_when_idle: bool = False


def _gib(size: float) -> str:
    return f"{size / 2**30:.1f} GiB"


class Scheduler:
    """The runners, one per loaded model, and the rules that load, evict and expire them."""

    def __init__(
        self, rig: SimulatedRig, *, speed: float, seed: int, clock: Callable[[], float]
    ) -> None:
        self.rig = rig
        self.speed = speed
        """Every wait is divided by it."""
        self._clock = clock
        self._random = random.Random(seed)
        self._runners: dict[str, Runner] = {}
        self._page_cache: set[str] = set()

    # --- in-process API (non-blocking; safe from rig actions) -----------------------------------

    def load(
        self, spec: ModelSpec, *, num_ctx: int | None, num_gpu: int | None, keep_alive_s: float
    ) -> LoadedModel:
        """See :meth:`SimulatedOllama.load <rigtui.sim.ollama.routes.SimulatedOllama.load>`."""
        options = {"num_ctx": num_ctx, "num_gpu": num_gpu}
        ctx, gpu_layers = self.runner_options(spec, options)
        keep = FOREVER_S if keep_alive_s < 0 else float(keep_alive_s)
        with self.rig.lock():
            self.expire_due_locked()
            try:
                runner = self._runner_for_locked(spec, ctx, gpu_layers, keep, forceful=True)
            except HttpError as exc:
                raise RuntimeError(exc.message) from None
            assert runner is not None
            runner.keep_alive_s = keep
            if runner.refcount == 0:
                runner.expires_at_s = self._clock() + keep
            return self._snapshot(runner)

    def unload(self, name: str) -> None:
        """Unload now (a request streaming from it ends with an error line)."""
        with self.rig.lock():
            runner = self._runners.get(display_name(name))
            if runner is not None:
                self._unload_locked(runner)

    def unload_all(self) -> None:
        """Every runner ends, as when the server exits."""
        with self.rig.lock():
            for runner in list(self._runners.values()):
                self._unload_locked(runner)

    def set_phase(self, name: str, phase: str) -> None:
        """Make a loaded model's runner evaluate a prompt, generate, or rest, on the rig."""
        if phase not in PHASES:
            raise ValueError(f"phase must be one of {PHASES}, not {phase!r}")
        with self.rig.lock():
            runner = self._runners.get(display_name(name))
            if runner is None:
                raise KeyError(f"model '{name}' is not loaded")
            self.phase_locked(runner, phase)

    def loaded(self) -> list[LoadedModel]:
        """The loaded models, longest remaining keep-alive first (as ``/api/ps`` sorts them)."""
        with self.rig.lock():
            return [self._snapshot(runner) for runner in self.running_locked()]

    # --- for requests --------------------------------------------------------------------------

    @staticmethod
    def runner_options(spec: ModelSpec, options: Mapping) -> tuple[int, int]:
        """(``num_ctx``, ``num_gpu``) a request's options ask of a runner, as Ollama reads them."""
        num_ctx = int_option(options, "num_ctx", DEFAULT_NUM_CTX)
        if num_ctx <= 0:
            num_ctx = DEFAULT_NUM_CTX
        num_ctx = max(4, min(num_ctx, spec.context_length))
        num_gpu = int_option(options, "num_gpu", -1)
        return num_ctx, -1 if num_gpu < 0 else num_gpu

    def running_locked(self) -> list[Runner]:
        """The runners left once the due ones expire, longest remaining keep-alive first."""
        self.expire_due_locked()
        return sorted(self._runners.values(), key=lambda r: -r.expires_at_s)

    def claim(
        self, spec: ModelSpec, num_ctx: int, num_gpu: int, keep_alive_s: float | None
    ) -> Runner | None:
        """The runner with one more request on it (loading it if need be), or ``None`` while
        busy models leave it no room; the request hands it back with :meth:`release`."""
        with self.rig.lock():
            self.expire_due_locked()
            runner = self._runner_for_locked(spec, num_ctx, num_gpu, keep_alive_s, forceful=False)
            if runner is not None:
                runner.refcount += 1
            return runner

    def release(self, runner: Runner) -> None:
        """A request is done with the runner; the last one starts the keep-alive timer."""
        with self.rig.lock():
            runner.refcount -= 1
            if runner.refcount > 0 or runner.unloaded:
                return
            runner.expires_at_s = self._clock() + runner.keep_alive_s
            self.phase_locked(runner, "idle")
            if runner.keep_alive_s <= 0 or runner.unload_when_idle:
                self._unload_locked(runner)

    def expire(self, name: str) -> None:
        """``keep_alive: 0`` with nothing to do: unload now, or when in-flight requests end."""
        with self.rig.lock():
            runner = self._runners.get(name)
            if runner is None:
                return
            if runner.refcount:
                runner.unload_when_idle = True
            else:
                self._unload_locked(runner)

    def enter_phase(self, runner: Runner, phase: str) -> None:
        with self.rig.lock():
            self.phase_locked(runner, phase)

    def expire_due(self) -> None:
        with self.rig.lock():
            self.expire_due_locked()

    # --- the state machine (all under the rig's lock) -----------------------------------------

    def expire_due_locked(self) -> None:
        now = self._clock()
        for runner in list(self._runners.values()):
            if runner.refcount == 0 and now >= runner.expires_at_s:
                self._unload_locked(runner)

    def _snapshot(self, runner: Runner) -> LoadedModel:
        placement = runner.placement
        expires = datetime.fromtimestamp(
            min(runner.expires_at_s, 253_402_300_799.0), tz=timezone.utc
        ).astimezone()
        return LoadedModel(
            name=runner.spec.name,
            digest=runner.spec.digest,
            size_bytes=placement.size_bytes,
            size_vram_bytes=placement.size_vram_bytes,
            layers_on_gpu=placement.layers_on_gpu,
            layers_total=placement.layers_total,
            num_ctx=runner.num_ctx,
            num_gpu=runner.num_gpu,
            gpus=placement.gpus,
            vram_by_gpu_bytes=tuple(size for _, size in placement.gpu_vram_bytes),
            runner_pid=runner.pid,
            runner_port=runner.port,
            expires_at=expires,
            keep_alive_s=runner.keep_alive_s,
            phase=runner.phase,
            in_flight=runner.refcount,
            generation_tokens_per_s=1.0 / runner.generation_s_per_token,
            prompt_tokens_per_s=1.0 / runner.prompt_s_per_token,
            load_s=runner.load_s,
        )

    def _runner_for_locked(
        self, spec: ModelSpec, num_ctx: int, num_gpu: int, keep_alive_s: float | None, *, forceful
    ) -> Runner | None:
        """The runner to use (loading it if need be), or ``None`` to wait for busy models."""
        runner = self._runners.get(spec.name)
        if runner is not None:
            if (runner.num_ctx, runner.num_gpu) == (num_ctx, num_gpu) and not (
                runner.unload_when_idle
            ):
                if keep_alive_s is not None:
                    runner.keep_alive_s = keep_alive_s
                return runner
            if runner.refcount and not forceful:
                return None
            self._unload_locked(runner)  # other runner options: reload
        placement = self._plan_locked(spec, num_ctx, num_gpu, forceful=forceful)
        if placement is None:
            return None
        keep = DEFAULT_KEEP_ALIVE_S if keep_alive_s is None else keep_alive_s
        return self._start_runner_locked(spec, placement, num_ctx, num_gpu, keep)

    def _usable_vram_locked(self, gpus: list[int], evicting: list[Runner]) -> dict[int, int]:
        evicted = {runner.pid for runner in evicting}
        usable = {}
        for index in gpus:
            free = float(self.rig.vram_free_bytes(index))
            for process in self.rig.processes.values():
                work = process.gpu.get(index)
                if work is None:
                    continue
                if process.pid in evicted:
                    free += work.vram_bytes
                else:  # still filling: its target is spoken for
                    free -= max(0.0, work.vram_target_bytes - work.vram_bytes)
            usable[index] = int(free) - GPU_OVERHEAD_BYTES
        return usable

    def _plan_locked(
        self, spec: ModelSpec, num_ctx: int, num_gpu: int, *, forceful: bool
    ) -> Placement | None:
        gpus = [index for index, gpu in enumerate(self.rig.gpus) if not gpu.lost]
        if num_gpu == 0 or not gpus:
            placement = plan_cpu(spec, num_ctx)
            self._check_ram_locked(placement, [])
            return placement
        others = list(self._runners.values())
        idle = sorted((r for r in others if r.refcount == 0), key=lambda r: r.expires_at_s)
        busy = [r for r in others if r.refcount > 0]
        limit = MAX_MODELS_PER_GPU * len(gpus)
        evicting: list[Runner] = []
        while True:
            if len(others) - len(evicting) < limit:
                usable = self._usable_vram_locked(gpus, evicting)
                if num_gpu > 0:
                    placement = plan_forced(spec, num_ctx, num_gpu, usable)
                else:
                    placement = plan_full(spec, num_ctx, usable)
                if placement is not None:
                    break
            candidates = [r for r in idle if r not in evicting]
            if candidates:
                evicting.append(candidates[0])  # the one due to expire soonest
                continue
            if busy and not forceful:
                return None
            if num_gpu > 0:
                raise HttpError(500, CUDA_OOM)
            # Alone (or told to load now): split by whole layers with what is free.
            placement = plan_partial(spec, num_ctx, self._usable_vram_locked(gpus, evicting))
            break
        self._check_ram_locked(placement, evicting)
        for runner in evicting:
            self._unload_locked(runner)
        return placement

    def _check_ram_locked(self, placement: Placement, evicting: list[Runner]) -> None:
        need = placement.cpu_bytes + RUNNER_BASE_RSS_BYTES
        freed = sum(
            self.rig.processes[r.pid].rss_bytes for r in evicting if r.pid in self.rig.processes
        )
        available = self.rig.cpu.memory_total_bytes - self.rig.memory_used_bytes() + freed
        if need > available:
            raise HttpError(
                500,
                f"model requires more system memory ({_gib(need)}) than is available "
                f"({_gib(available)})",
            )

    def _start_runner_locked(
        self, spec: ModelSpec, placement: Placement, num_ctx: int, num_gpu: int, keep: float
    ) -> Runner:
        rig = self.rig
        port = self._random.randint(32_768, 60_999)
        threads = rig.cpu.physical_cores
        pid = rig.spawn(
            "ollama",
            (
                "/usr/local/bin/ollama",
                "runner",
                "--model",
                f"/usr/share/ollama/.ollama/models/blobs/sha256-{spec.blob_digest}",
                "--ctx-size",
                str(num_ctx),
                "--batch-size",
                str(BATCH_SIZE),
                "--n-gpu-layers",
                str(placement.layers_on_gpu),
                "--threads",
                str(threads),
                "--port",
                str(port),
            ),
            username="ollama",
            rss_bytes=RUNNER_BASE_RSS_BYTES + placement.cpu_bytes,
            cpu_cores=1.0,
        )
        load_s = load_seconds(spec, cached=spec.name in self._page_cache)
        self._page_cache.add(spec.name)
        for index, size in placement.gpu_vram_bytes:
            rig.gpu_allocate(pid, index, size, size / load_s)
        generate_s, prompt_s = rates(spec, placement, [gpu.model.name for gpu in rig.gpus])
        runner = Runner(
            spec=spec,
            placement=placement,
            num_ctx=num_ctx,
            num_gpu=num_gpu,
            pid=pid,
            port=port,
            keep_alive_s=keep,
            expires_at_s=self._clock() + keep,
            ready_at=time.perf_counter() + load_s / self.speed,
            load_s=load_s,
            generation_s_per_token=generate_s,
            prompt_s_per_token=prompt_s,
        )
        self._runners[spec.name] = runner
        rig.at(rig.now + load_s, lambda _rig: self._loaded_on_rig(runner))
        return runner

    def _loaded_on_rig(self, runner: Runner) -> None:
        with self.rig.lock():
            if runner.phase == "loading":
                self.phase_locked(runner, "idle")

    def phase_locked(self, runner: Runner, phase: str) -> None:
        """The runner's work on the rig: a burst, steady generation (choppy when split), rest."""
        rig = self.rig
        if runner.unloaded or runner.pid not in rig.processes:
            return
        runner.phase = phase
        pid = runner.pid
        placement = runner.placement
        gpus = placement.gpus
        threads = float(rig.cpu.physical_cores)
        if phase == "prompt":
            # Compute-bound: a burst at full use, even when split.
            for index in gpus:
                rig.gpu_activity(pid, index, sm_util_pct=100.0, mem_util_pct=55.0)
            rig.set_cpu(pid, threads if placement.offloaded else 1.0)
        elif phase == "generate" and placement.offloaded:
            # The GPU waits for the CPU's layers: low, choppy use; every physical core busy.
            for index in gpus:
                rig.gpu_activity(
                    pid,
                    index,
                    sm_util_pct=17.0,
                    mem_util_pct=9.0,
                    jitter_pct=16.0,
                    pcie_rx_bytes_per_s=3.1e8,
                    pcie_tx_bytes_per_s=2.9e8,
                )
            rig.set_cpu(pid, threads)
        elif phase == "generate":
            for index in gpus:
                rig.gpu_activity(
                    pid,
                    index,
                    sm_util_pct=97.0 / len(gpus),
                    mem_util_pct=82.0 / len(gpus),
                    jitter_pct=2.5,
                )
            rig.set_cpu(pid, 1.0)
        else:
            for index in gpus:
                rig.gpu_activity(pid, index, sm_util_pct=0.0)
            rig.set_cpu(pid, 0.01)

    def _unload_locked(self, runner: Runner) -> None:
        if runner.unloaded:
            return
        runner.unloaded = True
        for index in runner.placement.gpus:
            self.rig.gpu_release(runner.pid, index)
        self.rig.kill(runner.pid)
        if self._runners.get(runner.spec.name) is runner:
            del self._runners[runner.spec.name]
