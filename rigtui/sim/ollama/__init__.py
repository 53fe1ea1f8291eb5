"""A simulated Ollama server: Ollama's real HTTP API on 127.0.0.1, acting on the simulated rig.

rigtui's Ollama client, its tests, the ``--demo`` mode and the benchmarks talk to this server
exactly as they would to ``ollama serve``: the same routes, fields, status codes, error texts,
NDJSON streaming over chunked transfer encoding, ``keep_alive`` parsing and ``/api/ps``
semantics (see ``shared/reference/ollama-http-api.md``). A loaded model is an ``ollama runner``
process on the :class:`~rigtui.sim.rig.SimulatedRig`: it takes VRAM on the simulated GPUs, holds
its CPU part in RAM, and makes the GPUs and cores busy while it evaluates a prompt or generates,
so the simulated NVML and psutil show what a real rig would show.

The server runs an asyncio loop in its own thread (stdlib only), so it serves synchronous tests
and another asyncio loop alike. ``start()`` returns its base URL; ``stop()`` ends it, and with it
every runner, as a real ``ollama serve`` exiting would.

The modules, each with its own rules in its docstring:

``routes``
    :class:`SimulatedOllama`: start/stop, the in-process API, the request log, the routes.
``completion``
    ``/api/chat`` and ``/api/generate``: checks, pacing, streaming, faults, the final metrics.
``scheduler``
    Loaded models as runners on the rig: load, evict, expire, phases; time and locking.
``placement``
    Where a model goes (the simulator's own rule, not Ollama's estimator) and its memory.
``speed``
    How fast a placement generates, evaluates prompts and loads.
``library``
    The registry's catalogue and the installed models; ``models`` holds the catalogue itself,
    the canned replies and the tokens.
``decoding``
    Request bodies checked as Ollama's handlers check them, with Go's error texts.
``http``
    HTTP/1.1 on an asyncio loop in a thread: connections, chunked streams, refusing.
``wire``
    Go-flavoured encoding: ``json.Marshal``, RFC 3339, durations, ``keep_alive``.
``faults``
    Switches that make the server go wrong the ways a real one does.

The modules depend one way: ``wire`` ← ``http`` ← ``decoding`` ← ``scheduler`` ← ``completion`` ←
``routes``, with ``models`` ← ``placement`` ← ``speed`` beneath the scheduler. Beyond the standard
library they import only :mod:`rigtui.sim.rig` and each other (``sim`` never imports insight, ui,
commands or sources).
"""

from rigtui.sim.ollama.faults import UNEXPECTED_EOF, Faults
from rigtui.sim.ollama.placement import (
    GPU_OVERHEAD_BYTES,
    Placement,
    memory_figures,
    plan_cpu,
    plan_forced,
    plan_full,
    plan_partial,
)
from rigtui.sim.ollama.routes import SimulatedOllama
from rigtui.sim.ollama.scheduler import DEFAULT_KEEP_ALIVE_S, DEFAULT_NUM_CTX, PHASES, LoadedModel
from rigtui.sim.ollama.speed import GPU_FIGURES, GpuFigures
from rigtui.sim.ollama.wire import (
    FOREVER_S,
    go_json,
    parse_go_duration,
    parse_keep_alive,
    rfc3339,
)

__all__ = [
    "DEFAULT_KEEP_ALIVE_S",
    "DEFAULT_NUM_CTX",
    "FOREVER_S",
    "GPU_FIGURES",
    "GPU_OVERHEAD_BYTES",
    "PHASES",
    "UNEXPECTED_EOF",
    "Faults",
    "GpuFigures",
    "LoadedModel",
    "Placement",
    "SimulatedOllama",
    "go_json",
    "memory_figures",
    "parse_go_duration",
    "parse_keep_alive",
    "plan_cpu",
    "plan_forced",
    "plan_full",
    "plan_partial",
    "rfc3339",
]
