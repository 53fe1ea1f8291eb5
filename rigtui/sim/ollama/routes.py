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

Placement
    Where a model goes is the SIMULATOR's own rule, deliberately simpler than Ollama's memory
    estimator (``llm/memory.go``): memory = weights + f16 KV cache at ``num_ctx``
    (2 bytes × num_ctx × (key_len + value_len) × kv_heads × blocks) + one compute graph per GPU
    used (the shape of Ollama's llama ``fullOffload`` graph estimate at batch 512); each GPU
    offers its free VRAM less :data:`GPU_OVERHEAD_BYTES`. A model that fits goes wholly to the
    GPU (one GPU if one suffices, else spread by layers); otherwise idle models are evicted
    first, and only a model loaded alone is split by whole layers (``block_count + 1`` equal
    layers) with the rest in system RAM. ``num_gpu: 0`` is CPU only; ``num_gpu: N`` forces N
    layers. Tests of rigtui's own fit estimate must NOT be checked against these figures.

Speed (documented, deterministic; ``speed`` divides every wait)
    Generation is memory-bandwidth bound: time per token = Σ weights on GPU i / (bandwidth_i ×
    :data:`GPU_BANDWIDTH_EFFICIENCY`) + weights in RAM / :data:`CPU_BANDWIDTH_BYTES_PER_S`
    (about 143 tok/s for llama3.1:8b on an RTX 4090; about 2 tok/s for llama3.3:70b split on
    one). Prompt evaluation is compute bound: 2 × parameters FLOP a token at the GPU's effective
    rate, or :data:`CPU_PROMPT_FLOPS` for layers in RAM (thousands of tok/s on the GPU, about 60
    split). Loading reads the GGUF at 2.4 GB/s, 5.6 GB/s once it is in the page cache. All
    durations the server reports are measured from real elapsed time, so ``eval_count /
    eval_duration`` is the rate at which tokens were actually streamed.

Time
    Waits are wall time divided by ``speed``. ``created_at``, ``expires_at``, ``modified_at``
    and keep-alive expiry use ``clock`` (epoch seconds; ``time.time`` by default; pass
    ``rig.epoch_time`` to let keep-alive run on the rig's simulated time). The rig itself hears
    of a finished load through ``rig.at`` on its own clock.

Locking
    All scheduler state is guarded by the rig's re-entrant lock (``rig.lock()``), never by a
    lock of this module, because rig actions (``rig.at``) may call the in-process API from inside
    ``rig.advance()`` on another thread. The in-process API never blocks on the server thread;
    ``stop()``/``start()`` do, so they refuse to run while the caller holds the rig's lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import json
import logging
import math
import random
import re
import socket
import struct
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, fields
from datetime import datetime, timezone
from email.utils import formatdate

from rigtui.sim.ollama.models import (
    CATALOGUE,
    DEFAULT_INSTALLED,
    ModelSpec,
    canned_reply,
    canned_thinking,
    display_name,
    full_name,
    token_ids,
    tokenize,
)
from rigtui.sim.rig import MIB, SimulatedRig

_log = logging.getLogger(__name__)

DEFAULT_NUM_CTX = 4096
DEFAULT_KEEP_ALIVE_S = 300.0
FOREVER_S = (2**63 - 1) / 1e9
"""A negative keep_alive is Go's ``MaxInt64`` nanoseconds: about 292 years."""
BATCH_SIZE = 512
GPU_OVERHEAD_BYTES = 457 * MIB
"""Per GPU, kept free for the CUDA context and Ollama's own margin."""
RUNNER_BASE_RSS_BYTES = 180 * MIB
MAX_MODELS_PER_GPU = 3
COLD_LOAD_BYTES_PER_S = 2.4e9
WARM_LOAD_BYTES_PER_S = 5.6e9
RUNNER_START_S = 0.25
GPU_BANDWIDTH_EFFICIENCY = 0.7
CPU_BANDWIDTH_BYTES_PER_S = 40e9
"""System RAM as a token generator sees it (dual-channel DDR5, effective)."""
CPU_PROMPT_FLOPS = 4e12
"""Effective rate for prompt evaluation of layers left in RAM: llama.cpp runs large prompt
batches of those layers on the GPU, streaming their weights over PCIe, so it is far faster
than the CPU's generation; one effective figure stands in for that."""
DOWNLOAD_BYTES_PER_S = 100e6
MAX_LOGGED_REQUESTS = 1000
MAX_BODY_BYTES = 32 * MIB
UNEXPECTED_EOF = "an error was encountered while running the model: unexpected EOF"
CUDA_OOM = (
    "llama runner process has terminated: error loading model: unable to allocate CUDA0 buffer"
)


@dataclass(frozen=True)
class GpuFigures:
    """What a card offers a language model: memory bandwidth, and FLOP/s on quantized prompts."""

    memory_bandwidth_bytes_per_s: float
    prompt_flops: float


GPU_FIGURES: dict[str, GpuFigures] = {
    "NVIDIA GeForce RTX 4090": GpuFigures(1008e9, 41e12),
    "NVIDIA GeForce RTX 4080": GpuFigures(717e9, 25e12),
    "NVIDIA GeForce RTX 3090": GpuFigures(936e9, 24e12),
    "NVIDIA GeForce RTX 3060": GpuFigures(360e9, 8e12),
}
"""Vendor memory bandwidth; prompt FLOP/s about half the FP16 tensor peak (FP32 accumulate)."""
DEFAULT_GPU_FIGURES = GpuFigures(900e9, 30e12)


# --- Go-flavoured encoding ---------------------------------------------------------------------


def go_json(value: object) -> bytes:
    """``json.Marshal``: compact, raw UTF-8, ``<`` ``>`` ``&`` U+2028 U+2029 escaped."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    for raw, escaped in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(raw, escaped)
    return text.encode("utf-8", "replace")


def rfc3339(epoch_ns: int, *, local: bool) -> str:
    """Go's RFC 3339 with nanoseconds, trailing zeros trimmed; ``Z`` for a zero offset."""
    seconds, fraction = divmod(epoch_ns, 1_000_000_000)
    moment = datetime.fromtimestamp(seconds, tz=timezone.utc)
    if local:
        moment = moment.astimezone()
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if fraction:
        text += "." + f"{fraction:09d}".rstrip("0")
    offset = moment.utcoffset()
    minutes = int(offset.total_seconds()) // 60 if offset else 0
    if not minutes:
        return text + "Z"
    sign = "+" if minutes > 0 else "-"
    return f"{text}{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _go_quote(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


_DURATION_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_DURATION_NUMBER = re.compile(r"([0-9]*)(?:\.([0-9]*))?")
_DURATION_UNIT = re.compile(r"[^0-9.]*")


def parse_go_duration(text: str) -> float:
    """Go's ``time.ParseDuration``, in seconds, with its error texts (``ValueError``)."""
    original = _go_quote(text)
    rest = text
    negative = False
    if rest[:1] in ("+", "-"):
        negative = rest[0] == "-"
        rest = rest[1:]
    if rest == "0":
        return 0.0
    if not rest:
        raise ValueError(f"time: invalid duration {original}")
    total = 0.0
    while rest:
        number = _DURATION_NUMBER.match(rest)
        whole, fraction = number.group(1), number.group(2)
        if not whole and not fraction:
            raise ValueError(f"time: invalid duration {original}")
        rest = rest[number.end() :]
        unit = _DURATION_UNIT.match(rest).group(0)
        if not unit:
            raise ValueError(f"time: missing unit in duration {original}")
        if unit not in _DURATION_UNITS:
            raise ValueError(f"time: unknown unit {_go_quote(unit)} in duration {original}")
        total += float(f"{whole or 0}.{fraction or 0}") * _DURATION_UNITS[unit]
        rest = rest[len(unit) :]
    return -total if negative else total


def parse_keep_alive(value: object) -> float | None:
    """``keep_alive`` as ``api.Duration`` decodes it: seconds, ``None`` when not given.

    A number is seconds, a string a Go duration, a negative value forever
    (:data:`FOREVER_S`). Raises ``ValueError`` with the server's text otherwise.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError("Unsupported type: 'bool'")
    if isinstance(value, (int, float)):
        return FOREVER_S if value < 0 else float(value)
    if isinstance(value, str):
        seconds = parse_go_duration(value)
        return FOREVER_S if seconds < 0 else seconds
    kind = "[]interface {}" if isinstance(value, list) else "map[string]interface {}"
    raise ValueError(f"Unsupported type: '{kind}'")


# --- fault switches ----------------------------------------------------------------------------


@dataclass
class Faults:
    """Things going wrong; each applies to every chat/generate request until cleared.

    Counts are tokens (thinking included) streamed before the fault strikes.
    """

    stall_after_tokens: int | None = None
    """Stop sending, keep the connection open until the client leaves or the server stops."""
    drop_after_tokens: int | None = None
    """Close the TCP connection mid-stream without the terminating chunk."""
    drop_with_reset: bool = False
    """Drop with an RST (``httpx.ReadError``) rather than a FIN (``RemoteProtocolError``)."""
    error_status: tuple[int, str] | None = None
    """Answer ``(status, error text)`` before streaming, e.g. a runner that crashed on load."""
    error_after_tokens: int | None = None
    """Send an in-stream ``{"error": error_message}`` line on the 200 response, then end."""
    error_message: str = UNEXPECTED_EOF
    malformed_after_tokens: int | None = None
    """Send a line that is not JSON (a truncated chunk), then carry on."""
    tokens_per_s: float | None = None
    """Stream at exactly this rate (not scaled by ``speed``), e.g. 2000 for a flood."""
    refuse: bool = False
    """Close the listening socket: connections are refused, as when Ollama is not running."""

    def clear(self) -> None:
        for item in fields(self):
            setattr(self, item.name, item.default)

    def __setattr__(self, name: str, value: object) -> None:
        super().__setattr__(name, value)
        if name == "refuse":
            hook = self.__dict__.get("_refuse_hook")
            if hook is not None:
                hook(bool(value))


# --- placement ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Placement:
    """Where a runner's memory is: whole layers per GPU, the rest in system RAM."""

    size_bytes: int
    layers_total: int
    gpu_layers: tuple[tuple[int, int], ...] = ()
    """(GPU index, layers) for each GPU used."""
    gpu_vram_bytes: tuple[tuple[int, int], ...] = ()
    """(GPU index, bytes) for each GPU used."""

    @property
    def size_vram_bytes(self) -> int:
        return sum(size for _, size in self.gpu_vram_bytes)

    @property
    def layers_on_gpu(self) -> int:
        return sum(layers for _, layers in self.gpu_layers)

    @property
    def gpus(self) -> tuple[int, ...]:
        return tuple(index for index, _ in self.gpu_layers)

    @property
    def cpu_bytes(self) -> int:
        return self.size_bytes - self.size_vram_bytes

    @property
    def offloaded(self) -> bool:
        """Some layers run on the CPU (or all of them)."""
        return self.layers_on_gpu < self.layers_total


def memory_figures(spec: ModelSpec, num_ctx: int) -> tuple[int, int, int]:
    """(weights, f16 KV cache, compute graph) in bytes for a runner at ``num_ctx``."""
    kv = 2 * num_ctx * (2 * spec.head_dim) * spec.head_count_kv * spec.block_count
    graph = (
        4
        * BATCH_SIZE
        * max(
            1 + 4 * spec.embedding_length + num_ctx * (1 + spec.head_count),
            spec.embedding_length + spec.vocab_size,
        )
    )
    return spec.size_bytes, kv, graph


def _per_layer_bytes(spec: ModelSpec, num_ctx: int) -> float:
    weights, kv, _ = memory_figures(spec, num_ctx)
    return (weights + kv) / (spec.block_count + 1)


def _place(spec: ModelSpec, num_ctx: int, layers: Mapping[int, int]) -> Placement:
    weights, kv, graph = memory_figures(spec, num_ctx)
    total = spec.block_count + 1
    used = [(gpu, count) for gpu, count in sorted(layers.items()) if count > 0]
    size = weights + kv + graph * max(1, len(used))
    per_layer = (weights + kv) / total
    vram = [(gpu, graph + int(count * per_layer)) for gpu, count in used]
    if used and sum(count for _, count in used) == total:
        # Fully offloaded: the last GPU takes the rounding so that size_vram == size exactly.
        vram[-1] = (vram[-1][0], size - sum(size for _, size in vram[:-1]))
    return Placement(size, total, tuple(used), tuple(vram))


def _capacity(spec: ModelSpec, num_ctx: int, usable: Mapping[int, int]) -> dict[int, int]:
    _, _, graph = memory_figures(spec, num_ctx)
    per_layer = _per_layer_bytes(spec, num_ctx)
    return {gpu: max(0, math.floor((free - graph) / per_layer)) for gpu, free in usable.items()}


def _spread(count: int, capacity: Mapping[int, int]) -> dict[int, int]:
    """``count`` layers over the GPUs in proportion to their room (``sum(capacity) >= count``)."""
    room = sum(capacity.values())
    shares = {gpu: min(cap, count * cap // room) for gpu, cap in capacity.items()} if room else {}
    left = count - sum(shares.values())
    while left > 0:
        for gpu in sorted(capacity, key=lambda g: shares[g] - capacity[g]):
            if left and shares[gpu] < capacity[gpu]:
                shares[gpu] += 1
                left -= 1
    return shares


def plan_full(spec: ModelSpec, num_ctx: int, usable: Mapping[int, int]) -> Placement | None:
    """Wholly on the GPU(s), or ``None``. ``usable``: bytes each GPU offers, by index."""
    if not usable:
        return None
    weights, kv, graph = memory_figures(spec, num_ctx)
    best = max(usable, key=lambda gpu: usable[gpu])
    if weights + kv + graph <= usable[best]:
        return _place(spec, num_ctx, {best: spec.block_count + 1})
    capacity = _capacity(spec, num_ctx, usable)
    if sum(capacity.values()) >= spec.block_count + 1:
        return _place(spec, num_ctx, _spread(spec.block_count + 1, capacity))
    return None


def plan_partial(spec: ModelSpec, num_ctx: int, usable: Mapping[int, int]) -> Placement:
    """As many whole layers as fit on the GPU(s); the rest in system RAM."""
    capacity = _capacity(spec, num_ctx, usable)
    total = spec.block_count + 1
    if sum(capacity.values()) >= total:
        return _place(spec, num_ctx, _spread(total, capacity))
    return _place(spec, num_ctx, capacity)


def plan_forced(
    spec: ModelSpec, num_ctx: int, layers: int, usable: Mapping[int, int]
) -> Placement | None:
    """Exactly ``layers`` on the GPU(s) (``num_gpu: N``), or ``None`` if they do not fit."""
    layers = min(layers, spec.block_count + 1)
    capacity = _capacity(spec, num_ctx, usable)
    if sum(capacity.values()) < layers:
        return None
    return _place(spec, num_ctx, _spread(layers, capacity))


def plan_cpu(spec: ModelSpec, num_ctx: int) -> Placement:
    return _place(spec, num_ctx, {})


# --- loaded models -----------------------------------------------------------------------------

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
class _Runner:
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


# --- HTTP plumbing -----------------------------------------------------------------------------


class _HttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class _ClientGoneError(Exception):
    """The client closed the connection (or it broke) while the server was working."""


class _DroppedError(Exception):
    """The server dropped the connection on purpose (a fault)."""


@dataclass
class _Request:
    method: str
    path: str
    version: str
    headers: dict[str, str]
    body: bytes


class _Connection:
    """One keep-alive HTTP/1.1 connection, and a watcher that notices when the client leaves."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.buffer = bytearray()
        self.gone = asyncio.Event()
        self.status: int | None = None
        self.streaming = False
        self._watcher: asyncio.Task | None = None

    async def _fill(self) -> bool:
        data = await self.reader.read(65536)
        if not data:
            return False
        self.buffer += data
        return True

    async def _line(self) -> bytes:
        while (end := self.buffer.find(b"\r\n")) < 0:
            if len(self.buffer) > 65536 or not await self._fill():
                raise _HttpError(400, "malformed request")
        line = bytes(self.buffer[:end])
        del self.buffer[: end + 2]
        return line

    async def _exactly(self, count: int) -> bytes:
        while len(self.buffer) < count:
            if not await self._fill():
                raise _HttpError(400, "unexpected EOF")
        data = bytes(self.buffer[:count])
        del self.buffer[:count]
        return data

    async def read_request(self) -> _Request | None:
        while (end := self.buffer.find(b"\r\n\r\n")) < 0:
            if len(self.buffer) > 65536:
                raise _HttpError(431, "request header fields too large")
            if not await self._fill():
                if self.buffer.strip():
                    raise _HttpError(400, "malformed request")
                return None
        head = bytes(self.buffer[:end]).decode("latin-1").lstrip("\r\n")
        del self.buffer[: end + 4]
        lines = head.split("\r\n")
        try:
            method, target, version = lines[0].split(" ", 2)
        except ValueError:
            raise _HttpError(400, "malformed request line") from None
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if headers.get("expect", "").lower() == "100-continue":
            self.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        if "chunked" in headers.get("transfer-encoding", "").lower():
            body = bytearray()
            while True:
                size = int(((await self._line()).split(b";")[0].strip() or b"0"), 16)
                if size == 0:
                    while await self._line():
                        pass
                    break
                body += await self._exactly(size)
                await self._exactly(2)
                if len(body) > MAX_BODY_BYTES:
                    raise _HttpError(413, "request body too large")
            body = bytes(body)
        else:
            try:
                length = int(headers.get("content-length") or 0)
            except ValueError:
                raise _HttpError(400, "bad content length") from None
            if length > MAX_BODY_BYTES:
                raise _HttpError(413, "request body too large")
            body = await self._exactly(length)
        path = target.split("?", 1)[0]
        return _Request(method.upper(), path, version.strip().upper(), headers, body)

    # -- noticing that the client went away --

    def watch(self) -> None:
        self._watcher = asyncio.ensure_future(self._watch())

    async def _watch(self) -> None:
        try:
            while await self._fill():
                pass
        except (ConnectionError, OSError):
            pass
        self.gone.set()

    async def unwatch(self) -> None:
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher

    # -- writing --

    async def _write(self, data: bytes) -> None:
        if self.gone.is_set() or self.writer.is_closing():
            raise _ClientGoneError
        self.writer.write(data)
        try:
            await self.writer.drain()
        except (ConnectionError, OSError) as exc:
            self.gone.set()
            raise _ClientGoneError from exc

    @staticmethod
    def _head(status: int, headers: Iterable[tuple[str, str]]) -> bytes:
        try:
            reason = http.HTTPStatus(status).phrase
        except ValueError:
            reason = ""
        lines = [f"HTTP/1.1 {status} {reason}".rstrip()]
        lines += [f"{name}: {value}" for name, value in headers]
        lines.append(f"Date: {formatdate(usegmt=True)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    async def send(
        self, status: int, body: bytes, content_type: str, *, head_only: bool = False
    ) -> None:
        self.status = status
        head = self._head(
            status, [("Content-Type", content_type), ("Content-Length", str(len(body)))]
        )
        await self._write(head if head_only else head + body)

    async def send_json(self, status: int, value: object, *, head_only: bool = False) -> None:
        await self.send(
            status, go_json(value), "application/json; charset=utf-8", head_only=head_only
        )

    async def send_line(self, value: object | bytes) -> None:
        """One NDJSON line as one HTTP chunk; the headers go with the first."""
        data = value if isinstance(value, bytes) else go_json(value) + b"\n"
        frame = f"{len(data):x}\r\n".encode() + data + b"\r\n"
        if not self.streaming:
            self.streaming = True
            self.status = 200
            headers = [("Content-Type", "application/x-ndjson"), ("Transfer-Encoding", "chunked")]
            frame = self._head(200, headers) + frame
        await self._write(frame)

    async def end_stream(self) -> bool:
        """The terminating chunk. A client that left after the last line is no cancellation."""
        try:
            await self._write(b"0\r\n\r\n")
        except _ClientGoneError:
            return False
        return True

    def drop(self, *, reset: bool) -> None:
        if reset:
            sock = self.writer.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.writer.transport.abort()
        else:
            self.writer.close()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


def _decode_body(body: bytes, struct_name: str) -> dict:
    """``c.ShouldBindJSON``: the first JSON value of the body, with Go's error texts."""
    text = body.decode("utf-8", "replace")
    stripped = text.lstrip()
    if not stripped:
        raise _HttpError(400, "missing request body")
    try:
        value, _ = json.JSONDecoder().raw_decode(stripped)
    except json.JSONDecodeError as exc:
        if exc.pos >= len(stripped.rstrip()):
            raise _HttpError(400, "unexpected EOF") from None
        char = stripped[exc.pos]
        quoted = "'\\''" if char == "'" else f"'{char}'"
        context = {
            "Expecting property name enclosed in double quotes": "looking for beginning of "
            "object key string",
            "Expecting ',' delimiter": "after object key:value pair",
            "Expecting ':' delimiter": "after object key",
        }.get(exc.msg, "looking for beginning of value")
        raise _HttpError(400, f"invalid character {quoted} {context}") from None
    if not isinstance(value, dict):
        raise _HttpError(
            400,
            f"json: cannot unmarshal {_json_kind(value)} into Go value of type api.{struct_name}",
        )
    return value


@dataclass(frozen=True)
class _Asked:
    """What a chat or generate request asks for, once its body has been checked."""

    model: str
    stream: bool
    options: dict
    keep_alive_s: float | None
    think: bool | str | None
    prompt: str
    """The last user message (chat) or the prompt (generate): what the reply answers."""
    empty: bool
    """No messages / no prompt: a load (or, with ``keep_alive: 0``, an unload)."""


def _parse_completion(raw: bytes, *, chat: bool) -> tuple[dict, _Asked]:
    """Decode and check a ``ChatRequest`` or ``GenerateRequest`` in the order the server does."""
    struct_name = "ChatRequest" if chat else "GenerateRequest"
    body = _decode_body(raw, struct_name)
    schema: dict[str, tuple[type, str]] = {
        "model": (str, "string"),
        "stream": (bool, "*bool"),
        "options": (dict, "map[string]interface {}"),
    }
    if chat:
        schema["messages"] = (list, "[]api.Message")
        schema["tools"] = (list, "api.Tools")
    else:
        schema.update(prompt=(str, "string"), system=(str, "string"), suffix=(str, "string"))
        schema.update(raw=(bool, "bool"), template=(str, "string"))
    _check_fields(body, struct_name, schema)
    try:
        keep_alive_s = parse_keep_alive(body.get("keep_alive"))
    except ValueError as exc:
        raise _HttpError(400, str(exc)) from None
    think = body.get("think")
    if think is not None and not isinstance(think, (bool, str)):
        raise _HttpError(
            400, 'think must be a boolean or string ("high", "medium", "low", true, or false)'
        )
    model = body.get("model") or ""
    if chat:
        if not model:
            raise _HttpError(400, "model is required")
        messages = body.get("messages") or []
        if any(not isinstance(message, dict) for message in messages):
            raise _HttpError(
                400,
                "json: cannot unmarshal string into Go struct field ChatRequest.messages "
                "of type api.Message",
            )
        users = [m for m in messages if str(m.get("role", "")).lower() == "user"]
        prompt = str(users[-1].get("content") or "") if users else ""
        empty = not messages
    else:
        prompt = body.get("prompt") or ""
        if body.get("raw") and (body.get("template") or body.get("system") or body.get("context")):
            raise _HttpError(400, "raw mode does not support template, system, or context")
        empty = prompt == ""
    asked = _Asked(
        model=model,
        stream=body.get("stream") is not False,
        options=body.get("options") or {},
        keep_alive_s=keep_alive_s,
        think=think,
        prompt=prompt,
        empty=empty,
    )
    return body, asked


def _json_kind(value: object) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _check_fields(body: dict, struct_name: str, schema: Mapping[str, tuple[type, str]]) -> None:
    for name, (kind, go_type) in schema.items():
        value = body.get(name)
        if value is None:
            continue
        wrong = not isinstance(value, kind) or (kind is not bool and isinstance(value, bool))
        if wrong:
            raise _HttpError(
                400,
                f"json: cannot unmarshal {_json_kind(value)} into Go struct field "
                f"{struct_name}.{name} of type {go_type}",
            )


def _int_option(options: Mapping, key: str, default: int) -> int:
    value = options.get(key)
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return default
    return int(value)


def _owns(lock: object) -> bool:
    is_owned = getattr(lock, "_is_owned", None)
    return bool(is_owned()) if is_owned is not None else False


def _gib(size: float) -> str:
    return f"{size / 2**30:.1f} GiB"


# --- the server --------------------------------------------------------------------------------


class SimulatedOllama:
    """Ollama's HTTP API on 127.0.0.1, backed by the simulated rig. See the module docstring."""

    def __init__(
        self,
        rig: SimulatedRig,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        version: str = "0.12.6",
        models: Iterable[str | ModelSpec] | None = None,
        speed: float = 1.0,
        seed: int = 0,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.rig = rig
        self.host = host
        self.version = version
        self._version = tuple(int(part) for part in re.findall(r"\d+", version)[:3])
        self.speed = float(speed)
        self.seed = seed
        self._clock = clock or time.time
        self._random = random.Random(seed)
        self.catalogue: dict[str, ModelSpec] = {spec.name: spec for spec in CATALOGUE}
        """Every model the simulated registry knows, installed or only pullable."""
        self._installed: dict[str, tuple[ModelSpec, float]] = {}
        now = self._clock()
        chosen = DEFAULT_INSTALLED if models is None else tuple(models)
        for order, model in enumerate(chosen):
            spec = model if isinstance(model, ModelSpec) else self.catalogue[display_name(model)]
            self.catalogue.setdefault(spec.name, spec)
            self._installed[spec.name] = (spec, now - 86_400.0 * (3 * order + 2) - 3_600 * order)
        self._runners: dict[str, _Runner] = {}
        self._page_cache: set[str] = set()
        self.requests: list[dict] = []
        """One entry per HTTP request: method, path, model, status, tokens_sent, cancelled, fault,
        and for a generation ``generating_at`` and ``finished_at`` (``time.monotonic()`` as the
        first token was due and as the last line went out)
        (the last ``MAX_LOGGED_REQUESTS``)."""
        self.cancelled_requests = 0
        self.accepted_connections = 0
        """TCP connections accepted (keep-alive makes this smaller than ``len(requests)``)."""
        self._faults = Faults()
        self.faults = self._faults
        self._port = port
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.AbstractServer | None = None
        self._tasks: set[asyncio.Task] = set()
        self._tick_task: asyncio.Future | None = None
        self._connections: set[_Connection] = set()
        self._routes: dict[tuple[str, str], Callable[..., Awaitable[bool | None]]] = {
            ("GET", "/"): self._root,
            ("HEAD", "/"): self._root,
            ("GET", "/api/version"): self._api_version,
            ("HEAD", "/api/version"): self._api_version,
            ("GET", "/api/tags"): self._api_tags,
            ("HEAD", "/api/tags"): self._api_tags,
            ("GET", "/api/ps"): self._api_ps,
            ("POST", "/api/show"): self._api_show,
            ("POST", "/api/chat"): self._api_chat,
            ("POST", "/api/generate"): self._api_generate,
            ("POST", "/api/pull"): self._api_pull,
        }

    # --- properties ------------------------------------------------------------------------------

    @property
    def faults(self) -> Faults:
        return self._faults

    @faults.setter
    def faults(self, faults: Faults) -> None:
        object.__setattr__(faults, "_refuse_hook", self._refuse_changed)
        self._faults = faults

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self._port}"

    @property
    def running(self) -> bool:
        return self._thread is not None

    @property
    def installed(self) -> tuple[str, ...]:
        """Installed models, newest first (as ``/api/tags`` lists them)."""
        with self.rig.lock():
            rows = sorted(self._installed.values(), key=lambda item: -item[1])
            return tuple(spec.name for spec, _ in rows)

    def reply_for(self, prompt: str, seed: int | None = None) -> str:
        """The reply the server streams for ``prompt`` (``options.seed`` or the server's)."""
        return canned_reply(prompt, self.seed if seed is None else seed)

    def thinking_for(self, prompt: str, seed: int | None = None) -> str:
        return canned_thinking(prompt, self.seed if seed is None else seed)

    # --- lifecycle -------------------------------------------------------------------------------

    def start(self) -> str:
        """Serve on ``host:port`` from a background thread; returns the base URL."""
        if self._thread is not None:
            raise RuntimeError("the simulated Ollama server is already running")
        if _owns(self.rig.lock()):
            raise RuntimeError("start() must not be called while holding the rig's lock")
        loop = asyncio.new_event_loop()
        started = threading.Event()
        failure: list[BaseException] = []
        thread = threading.Thread(
            target=self._run_loop,
            args=(loop, started, failure),
            name="simulated-ollama",
            daemon=True,
        )
        thread.start()
        started.wait()
        if failure:
            thread.join()
            self._loop = None
            raise failure[0]
        self._thread = thread
        return self.url

    def stop(self) -> None:
        """Stop serving; every runner ends with the server (loaded models are lost)."""
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        if _owns(self.rig.lock()):
            raise RuntimeError("stop() must not be called while holding the rig's lock")
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        self._thread = None
        self._loop = None
        with self.rig.lock():
            for runner in list(self._runners.values()):
                self._unload_locked(runner)

    def restart(self) -> str:
        """Stop, then start on the same port, like ``systemctl restart ollama``."""
        self.stop()
        return self.start()

    def __enter__(self) -> SimulatedOllama:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _run_loop(
        self, loop: asyncio.AbstractEventLoop, started: threading.Event, failure: list
    ) -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._open(loop))
        except Exception as exc:  # noqa: BLE001 - handed to start() to raise there
            failure.append(exc)
            started.set()
            loop.close()
            return
        started.set()
        try:
            loop.run_forever()
        finally:
            if self._tick_task is not None:
                self._tick_task.cancel()
                self._tick_task = None
            loop.run_until_complete(self._shutdown())
            loop.close()

    async def _open(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        await self._listen()
        self._tick_task = asyncio.ensure_future(self._tick())
        if self._faults.refuse:
            self._stop_listening()

    async def _listen(self) -> None:
        if self._server is not None:
            return
        self._server = await asyncio.start_server(self._serve, self.host, self._port)
        self._port = self._server.sockets[0].getsockname()[1]

    def _stop_listening(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()

    async def _shutdown(self) -> None:
        """Close the listener and every connection; requests in flight end as cancelled."""
        self._stop_listening()
        for conn in list(self._connections):
            conn.writer.transport.abort()
        tasks = list(self._tasks)
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=2.0)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        self._tasks.clear()

    def _refuse_changed(self, refuse: bool) -> None:
        loop = self._loop
        if loop is None or not loop.is_running():
            return
        action = self._listen() if not refuse else self._stop_listening_async()
        if threading.current_thread() is self._thread:
            loop.create_task(action)
            return
        future = asyncio.run_coroutine_threadsafe(action, loop)
        if not _owns(self.rig.lock()):
            future.result(timeout=5.0)

    async def _stop_listening_async(self) -> None:
        self._stop_listening()

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(0.025)
            with self.rig.lock():
                self._expire_due_locked()

    # --- in-process API (non-blocking; safe from rig actions) -----------------------------------

    def load(
        self,
        name: str,
        *,
        num_ctx: int | None = None,
        num_gpu: int | None = None,
        keep_alive_s: float = DEFAULT_KEEP_ALIVE_S,
    ) -> LoadedModel:
        """Load a model now, as a request would, without waiting for the load to finish.

        Evicts idle models as needed; where busy models leave too little VRAM, the model is
        split with what is free rather than waiting. Raises ``KeyError`` for a model that is
        not installed and ``RuntimeError`` where the server would answer 500.
        """
        spec = self._installed_spec(name)
        if spec is None:
            raise KeyError(f"model '{name}' not found")
        options = {"num_ctx": num_ctx, "num_gpu": num_gpu}
        ctx, gpu_layers = self._runner_options(spec, options)
        keep = FOREVER_S if keep_alive_s < 0 else float(keep_alive_s)
        with self.rig.lock():
            self._expire_due_locked()
            try:
                runner = self._runner_for_locked(spec, ctx, gpu_layers, keep, forceful=True)
            except _HttpError as exc:
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

    def set_phase(self, name: str, phase: str) -> None:
        """Make a loaded model's runner evaluate a prompt, generate, or rest, on the rig."""
        if phase not in PHASES:
            raise ValueError(f"phase must be one of {PHASES}, not {phase!r}")
        with self.rig.lock():
            runner = self._runners.get(display_name(name))
            if runner is None:
                raise KeyError(f"model '{name}' is not loaded")
            self._phase_locked(runner, phase)

    def loaded(self) -> list[LoadedModel]:
        """The loaded models, longest remaining keep-alive first (as ``/api/ps`` sorts them)."""
        with self.rig.lock():
            self._expire_due_locked()
            runners = sorted(self._runners.values(), key=lambda r: -r.expires_at_s)
            return [self._snapshot(runner) for runner in runners]

    def install(self, name: str) -> None:
        """Install a catalogue model at once, without a pull."""
        spec = self.catalogue[display_name(name)]
        with self.rig.lock():
            self._installed[spec.name] = (spec, self._clock())

    # --- scheduler (all under the rig's lock) ----------------------------------------------------

    def _installed_spec(self, name: str) -> ModelSpec | None:
        if not name:
            return None
        with self.rig.lock():
            entry = self._installed.get(display_name(name))
        return entry[0] if entry else None

    @staticmethod
    def _runner_options(spec: ModelSpec, options: Mapping) -> tuple[int, int]:
        num_ctx = _int_option(options, "num_ctx", DEFAULT_NUM_CTX)
        if num_ctx <= 0:
            num_ctx = DEFAULT_NUM_CTX
        num_ctx = max(4, min(num_ctx, spec.context_length))
        num_gpu = _int_option(options, "num_gpu", -1)
        return num_ctx, -1 if num_gpu < 0 else num_gpu

    def _snapshot(self, runner: _Runner) -> LoadedModel:
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

    def _expire_due_locked(self) -> None:
        now = self._clock()
        for runner in list(self._runners.values()):
            if runner.refcount == 0 and now >= runner.expires_at_s:
                self._unload_locked(runner)

    def _runner_for_locked(
        self, spec: ModelSpec, num_ctx: int, num_gpu: int, keep_alive_s: float | None, *, forceful
    ) -> _Runner | None:
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

    def _usable_vram_locked(self, gpus: list[int], evicting: list[_Runner]) -> dict[int, int]:
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
        evicting: list[_Runner] = []
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
                raise _HttpError(500, CUDA_OOM)
            # Alone (or told to load now): split by whole layers with what is free.
            placement = plan_partial(spec, num_ctx, self._usable_vram_locked(gpus, evicting))
            break
        self._check_ram_locked(placement, evicting)
        for runner in evicting:
            self._unload_locked(runner)
        return placement

    def _check_ram_locked(self, placement: Placement, evicting: list[_Runner]) -> None:
        need = placement.cpu_bytes + RUNNER_BASE_RSS_BYTES
        freed = sum(
            self.rig.processes[r.pid].rss_bytes for r in evicting if r.pid in self.rig.processes
        )
        available = self.rig.cpu.memory_total_bytes - self.rig.memory_used_bytes() + freed
        if need > available:
            raise _HttpError(
                500,
                f"model requires more system memory ({_gib(need)}) than is available "
                f"({_gib(available)})",
            )

    def _rates(self, spec: ModelSpec, placement: Placement) -> tuple[float, float]:
        """(seconds a generated token, seconds a prompt token) at ``speed`` 1."""
        total = placement.layers_total
        layer_bytes = spec.size_bytes / total
        layer_flops = 2.0 * spec.parameter_count / total
        generate = prompt = 0.0
        for index, layers in placement.gpu_layers:
            figures = GPU_FIGURES.get(self.rig.gpus[index].model.name, DEFAULT_GPU_FIGURES)
            bandwidth = figures.memory_bandwidth_bytes_per_s * GPU_BANDWIDTH_EFFICIENCY
            generate += layers * layer_bytes / bandwidth
            prompt += layers * layer_flops / figures.prompt_flops
        cpu_layers = total - placement.layers_on_gpu
        generate += cpu_layers * layer_bytes / CPU_BANDWIDTH_BYTES_PER_S
        prompt += cpu_layers * layer_flops / CPU_PROMPT_FLOPS
        return generate, prompt

    def _start_runner_locked(
        self, spec: ModelSpec, placement: Placement, num_ctx: int, num_gpu: int, keep: float
    ) -> _Runner:
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
        rate = WARM_LOAD_BYTES_PER_S if spec.name in self._page_cache else COLD_LOAD_BYTES_PER_S
        self._page_cache.add(spec.name)
        load_s = RUNNER_START_S + spec.size_bytes / rate
        for index, size in placement.gpu_vram_bytes:
            rig.gpu_allocate(pid, index, size, size / load_s)
        generate_s, prompt_s = self._rates(spec, placement)
        runner = _Runner(
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

    def _loaded_on_rig(self, runner: _Runner) -> None:
        with self.rig.lock():
            if runner.phase == "loading":
                self._phase_locked(runner, "idle")

    def _phase_locked(self, runner: _Runner, phase: str) -> None:
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

    def _unload_locked(self, runner: _Runner) -> None:
        if runner.unloaded:
            return
        runner.unloaded = True
        for index in runner.placement.gpus:
            self.rig.gpu_release(runner.pid, index)
        self.rig.kill(runner.pid)
        if self._runners.get(runner.spec.name) is runner:
            del self._runners[runner.spec.name]

    def _release(self, runner: _Runner) -> None:
        """A request is done with the runner; the last one starts the keep-alive timer."""
        with self.rig.lock():
            runner.refcount -= 1
            if runner.refcount > 0 or runner.unloaded:
                return
            runner.expires_at_s = self._clock() + runner.keep_alive_s
            self._phase_locked(runner, "idle")
            if runner.keep_alive_s <= 0 or runner.unload_when_idle:
                self._unload_locked(runner)

    def _expire(self, name: str) -> None:
        """``keep_alive: 0`` with nothing to do: unload now, or when in-flight requests end."""
        with self.rig.lock():
            runner = self._runners.get(name)
            if runner is None:
                return
            if runner.refcount:
                runner.unload_when_idle = True
            else:
                self._unload_locked(runner)

    # --- HTTP serving ------------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        sock = writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = _Connection(reader, writer)
        self._connections.add(conn)
        self.accepted_connections += 1
        try:
            if self._faults.refuse:
                conn.drop(reset=True)
                return
            while True:
                try:
                    request = await conn.read_request()
                except _HttpError as exc:
                    await conn.send(exc.status, exc.message.encode(), "text/plain; charset=utf-8")
                    return
                if request is None or not await self._dispatch(conn, request):
                    return
        except (ConnectionError, OSError, _ClientGoneError, _DroppedError):
            pass
        except asyncio.CancelledError:
            # Only stop() cancels, and only a connection that outstayed it: end quietly (the
            # streams module would report a cancelled connection task as an error).
            pass
        finally:
            self._connections.discard(conn)
            if task is not None:
                self._tasks.discard(task)
            conn.close()

    async def _dispatch(self, conn: _Connection, request: _Request) -> bool:
        """Answer one request; ``False`` when the connection cannot be used again."""
        log: dict = {
            "method": request.method,
            "path": request.path,
            "model": None,
            "status": None,
            "tokens_sent": 0,
            "cancelled": False,
            "fault": None,
        }
        close = request.version == "HTTP/1.0" or (
            request.headers.get("connection", "").lower() == "close"
        )
        conn.status = None
        conn.streaming = False
        conn.watch()
        keep = True
        try:
            handler = self._routes.get((request.method, request.path))
            if handler is None:
                await conn.send(404, b"404 page not found", "text/plain")
            else:
                keep = await handler(conn, request, log) is not False
        except _HttpError as exc:
            if conn.streaming:  # too late for a status: an error line ends the stream
                await conn.send_line({"error": exc.message})
                keep = await conn.end_stream()
            else:
                await conn.send_json(exc.status, {"error": exc.message})
        except _ClientGoneError:
            log["cancelled"] = True
            keep = False
        except _DroppedError:
            keep = False
        except Exception as exc:  # a bug in the simulator: say so, as a 500
            _log.exception("simulated Ollama failed on %s %s", request.method, request.path)
            if conn.streaming:
                raise
            await conn.send_json(500, {"error": f"simulator error: {exc!r}"})
        finally:
            await conn.unwatch()
            log["status"] = conn.status
            with self.rig.lock():
                self.requests.append(log)
                del self.requests[:-MAX_LOGGED_REQUESTS]
                self.cancelled_requests += log["cancelled"]
        return keep and not close and not conn.gone.is_set()

    async def _pause(self, conn: _Connection, seconds: float) -> bool:
        """Wait; ``True`` as soon as the client has gone."""
        if conn.gone.is_set():
            return True
        if seconds <= 0.002:
            await asyncio.sleep(max(0.0, seconds))
        else:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(conn.gone.wait(), seconds)
        return conn.gone.is_set()

    def _now_ns(self) -> int:
        if self._clock is time.time:
            return time.time_ns()
        return int(self._clock() * 1e9)

    def _created_at(self) -> str:
        return rfc3339(self._now_ns(), local=False)

    # --- routes ------------------------------------------------------------------------------

    async def _root(self, conn: _Connection, request: _Request, log: dict) -> None:
        await conn.send(
            200,
            b"Ollama is running",
            "text/plain; charset=utf-8",
            head_only=request.method == "HEAD",
        )

    async def _api_version(self, conn: _Connection, request: _Request, log: dict) -> None:
        await conn.send_json(200, {"version": self.version}, head_only=request.method == "HEAD")

    async def _api_tags(self, conn: _Connection, request: _Request, log: dict) -> None:
        with self.rig.lock():
            rows = sorted(self._installed.values(), key=lambda item: -item[1])
        models = [
            {
                "name": spec.name,
                "model": spec.name,
                "modified_at": rfc3339(int(modified * 1e9), local=True),
                "size": spec.size_bytes,
                "digest": spec.digest,
                "details": spec.details(),
            }
            for spec, modified in rows
        ]
        await conn.send_json(200, {"models": models}, head_only=request.method == "HEAD")

    async def _api_ps(self, conn: _Connection, request: _Request, log: dict) -> None:
        with self.rig.lock():
            self._expire_due_locked()
            runners = sorted(self._runners.values(), key=lambda r: -r.expires_at_s)
            models = []
            for runner in runners:
                row = {
                    "name": runner.spec.name,
                    "model": runner.spec.name,
                    "size": runner.placement.size_bytes,
                    "digest": runner.spec.digest,
                    "details": runner.spec.details(),
                    "expires_at": rfc3339(int(runner.expires_at_s * 1e9), local=True),
                    "size_vram": runner.placement.size_vram_bytes,
                }
                if self._version >= (0, 9, 7):
                    row["context_length"] = runner.num_ctx
                models.append(row)
        await conn.send_json(200, {"models": models})

    async def _api_show(self, conn: _Connection, request: _Request, log: dict) -> None:
        body = _decode_body(request.body, "ShowRequest")
        _check_fields(body, "ShowRequest", {"model": (str, "string"), "verbose": (bool, "bool")})
        name = body.get("model") or body.get("name") or ""
        log["model"] = name or None
        if not name:
            raise _HttpError(400, "model is required")
        spec = self._installed_spec(name)
        if spec is None:
            raise _HttpError(404, f"model '{display_name(name)}' not found")
        with self.rig.lock():
            modified = self._installed[spec.name][1]
        path = f"/usr/share/ollama/.ollama/models/blobs/sha256-{spec.blob_digest}"
        modelfile = (
            '# Modelfile generated by "ollama show"\n'
            "# To build a new Modelfile based on this, replace FROM with:\n"
            f"# FROM {spec.name}\n\nFROM {path}\n"
            f'TEMPLATE """{spec.template}"""\n'
            + "".join(f"PARAMETER {line}\n" for line in _parameter_lines(spec))
        )
        reply: dict = {}
        if spec.license:
            reply["license"] = spec.license
        reply.update(
            {
                "modelfile": modelfile,
                "parameters": spec.parameters_text,
                "template": spec.template,
                "details": spec.details(),
                "model_info": spec.model_info(),
                "capabilities": list(spec.capabilities),
                "modified_at": rfc3339(int(modified * 1e9), local=True),
            }
        )
        await conn.send_json(200, reply)

    async def _api_pull(self, conn: _Connection, request: _Request, log: dict) -> None:
        body = _decode_body(request.body, "PullRequest")
        _check_fields(body, "PullRequest", {"model": (str, "string"), "stream": (bool, "*bool")})
        name = body.get("model") or body.get("name") or ""
        log["model"] = name or None
        if not name.strip():
            raise _HttpError(400, "invalid model name")
        stream = body.get("stream") is not False
        spec = self.catalogue.get(display_name(name))

        async def progress(line: dict, wait_s: float = 0.0) -> None:
            if await self._pause(conn, wait_s):
                raise _ClientGoneError
            if stream:
                await conn.send_line(line)

        await progress({"status": "pulling manifest"}, 0.05 / self.speed)
        if spec is None:
            if not stream:
                raise _HttpError(500, "pull model manifest: file does not exist")
            await conn.send_line({"error": "pull model manifest: file does not exist"})
            await conn.end_stream()
            return
        have = self._installed_spec(spec.name) is not None
        for _, digest, size in spec.layers():
            status = f"pulling {digest[:12]}"
            head = {"status": status, "digest": f"sha256:{digest}", "total": size}
            if have:
                await progress({**head, "completed": size})
                continue
            await progress(head)
            steps = max(1, min(40, math.ceil(size / 50e6)))
            for step in range(1, steps + 1):
                wait_s = size / steps / (DOWNLOAD_BYTES_PER_S * self.speed)
                await progress({**head, "completed": size * step // steps}, wait_s)
        await progress({"status": "verifying sha256 digest"}, 0.02 / self.speed)
        await progress({"status": "writing manifest"})
        with self.rig.lock():
            self._installed[spec.name] = (spec, self._clock())
        if stream:
            await conn.send_line({"status": "success"})
            await conn.end_stream()
        else:
            await conn.send_json(200, {"status": "success"})

    async def _api_chat(self, conn: _Connection, request: _Request, log: dict) -> bool:
        return await self._completion(conn, request, log, chat=True)

    async def _api_generate(self, conn: _Connection, request: _Request, log: dict) -> bool:
        return await self._completion(conn, request, log, chat=False)

    # --- chat and generate -------------------------------------------------------------------

    def _chunk(
        self,
        model: str,
        chat: bool,
        content: str = "",
        thinking: str = "",
        *,
        done: bool = False,
        tail: dict | None = None,
    ) -> dict:
        """A ``ChatResponse`` or ``GenerateResponse`` in Go's field order."""
        chunk: dict = {"model": model, "created_at": self._created_at()}
        if chat:
            message = {"role": "assistant", "content": content}
            if thinking:
                message["thinking"] = thinking
            chunk["message"] = message
        else:
            chunk["response"] = content
            if thinking:
                chunk["thinking"] = thinking
        chunk["done"] = done
        if tail:
            chunk.update(tail)
        return chunk

    async def _completion(
        self, conn: _Connection, request: _Request, log: dict, *, chat: bool
    ) -> bool:
        started_ns = time.perf_counter_ns()
        body, asked = _parse_completion(request.body, chat=chat)
        model, think, empty, prompt = asked.model, asked.think, asked.empty, asked.prompt
        keep_alive_s, options = asked.keep_alive_s, asked.options
        log["model"] = model or None
        spec = self._installed_spec(model)
        if spec is None:
            if chat and self._version < (0, 12):
                raise _HttpError(404, f'model "{model}" not found, try pulling it first')
            raise _HttpError(404, f"model '{model}' not found")
        if empty and keep_alive_s == 0:
            self._expire(spec.name)
            await conn.send_json(200, self._chunk(model, chat, done=True, tail=_reason("unload")))
            return True
        thinking = False
        if "thinking" in spec.capabilities:
            thinking = bool(think) if think is not None else self._version >= (0, 12)
        elif think:
            raise _HttpError(400, f"{_go_quote(model)} does not support thinking")
        if "completion" not in spec.capabilities:
            raise _HttpError(
                400, f"{_go_quote(model)} does not support {'chat' if chat else 'generate'}"
            )
        if chat and body.get("tools") and "tools" not in spec.capabilities:
            raise _HttpError(400, f"{full_name(model)} does not support tools")
        if not chat and body.get("suffix") and "insert" not in spec.capabilities:
            raise _HttpError(400, f"{_go_quote(model)} does not support insert")
        faults = self._faults
        if faults.error_status is not None:
            log["fault"] = "error_status"
            status, message = faults.error_status
            raise _HttpError(status, message)

        num_ctx, num_gpu = self._runner_options(spec, options)
        runner, load_ns = await self._acquire(conn, spec, num_ctx, num_gpu, keep_alive_s)
        try:
            if empty:
                await conn.send_json(200, self._chunk(model, chat, done=True, tail=_reason("load")))
                return True
            while runner.busy:  # one request at a time per model (OLLAMA_NUM_PARALLEL=1)
                if await self._pause(conn, 0.005):
                    raise _ClientGoneError
            runner.busy = True
            try:
                return await self._generate(
                    conn,
                    runner,
                    log,
                    chat=chat,
                    model=model,
                    body=body,
                    prompt=prompt,
                    thinking=thinking,
                    stream=asked.stream,
                    options=options,
                    started_ns=started_ns,
                    load_ns=load_ns,
                )
            finally:
                runner.busy = False
        finally:
            self._release(runner)

    async def _acquire(
        self,
        conn: _Connection,
        spec: ModelSpec,
        num_ctx: int,
        num_gpu: int,
        keep_alive_s: float | None,
    ) -> tuple[_Runner, int]:
        """A runner with one more request on it, once loaded; and the load time in ns."""
        start_ns = time.perf_counter_ns()
        while True:
            with self.rig.lock():
                self._expire_due_locked()
                runner = self._runner_for_locked(
                    spec, num_ctx, num_gpu, keep_alive_s, forceful=False
                )
                if runner is not None:
                    runner.refcount += 1
                    break
            if await self._pause(conn, 0.01):
                raise _ClientGoneError
        try:
            wait_s = runner.ready_at - time.perf_counter()
            if wait_s > 0 and await self._pause(conn, wait_s):
                raise _ClientGoneError
        except BaseException:
            self._release(runner)
            raise
        return runner, time.perf_counter_ns() - start_ns

    def _prompt_tokens(self, body: dict, chat: bool) -> int:
        if chat:
            count = 1 + 3
            for message in body.get("messages") or []:
                count += 4 + len(tokenize(str(message.get("content") or "")))
            return count
        text = str(body.get("prompt") or "") + str(body.get("system") or "")
        return 1 + 8 + len(tokenize(text))

    async def _fault(self, conn: _Connection, log: dict, sent: int, stream: bool) -> str | None:
        """Apply a fault due after ``sent`` tokens; returns ``"error"`` when the reply must end."""
        faults = self._faults
        if faults.stall_after_tokens is not None and sent >= faults.stall_after_tokens:
            log["fault"] = "stall"
            await conn.gone.wait()
            raise _ClientGoneError
        if faults.drop_after_tokens is not None and sent >= faults.drop_after_tokens:
            log["fault"] = "drop"
            conn.drop(reset=faults.drop_with_reset)
            raise _DroppedError
        if faults.error_after_tokens is not None and sent >= faults.error_after_tokens:
            log["fault"] = "error"
            if not stream:
                raise _HttpError(500, faults.error_message)
            await conn.send_line({"error": faults.error_message})
            await conn.end_stream()
            return "error"
        if (
            stream
            and faults.malformed_after_tokens is not None
            and sent == faults.malformed_after_tokens
        ):
            log["fault"] = "malformed"
            whole = go_json({"model": log["model"], "created_at": self._created_at()})
            await conn.send_line(whole[: len(whole) // 2] + b"\n")
        return None

    def _reply_plan(
        self, prompt: str, options: Mapping, *, thinking: bool
    ) -> tuple[list[tuple[bool, str]], str]:
        """The tokens to stream, (is thinking, text) each, cut at ``num_predict``; done_reason."""
        seed = options.get("seed")
        seed = self.seed if not isinstance(seed, int) or isinstance(seed, bool) else seed
        plan = [(True, t) for t in tokenize(canned_thinking(prompt, seed))] if thinking else []
        plan += [(False, t) for t in tokenize(canned_reply(prompt, seed))]
        num_predict = _int_option(options, "num_predict", -1)
        if 0 < num_predict < len(plan):
            return plan[:num_predict], "length"
        return plan, "stop"

    async def _generate(
        self,
        conn: _Connection,
        runner: _Runner,
        log: dict,
        *,
        chat: bool,
        model: str,
        body: dict,
        prompt: str,
        thinking: bool,
        stream: bool,
        options: Mapping,
        started_ns: int,
        load_ns: int,
    ) -> bool:
        plan, done_reason = self._reply_plan(prompt, options, thinking=thinking)
        prompt_count = min(self._prompt_tokens(body, chat), runner.num_ctx)

        with self.rig.lock():
            self._phase_locked(runner, "prompt")
        prompt_start = time.perf_counter_ns()
        if await self._pause(conn, prompt_count * runner.prompt_s_per_token / self.speed):
            raise _ClientGoneError
        prompt_ns = time.perf_counter_ns() - prompt_start

        with self.rig.lock():
            self._phase_locked(runner, "generate")
        faults = self._faults
        if faults.tokens_per_s:
            interval = 1.0 / faults.tokens_per_s
        else:
            interval = runner.generation_s_per_token / self.speed
        content: list[str] = []
        thought: list[str] = []
        sent = 0
        eval_start = time.perf_counter()
        log["generating_at"] = time.monotonic()
        for index, (is_thought, token) in enumerate(plan):
            if await self._fault(conn, log, sent, stream) == "error":
                return True
            wait_s = eval_start + (index + 1) * interval - time.perf_counter()
            if await self._pause(conn, wait_s):
                raise _ClientGoneError
            if runner.unloaded:  # unloaded under it (in-process unload)
                if not stream:
                    raise _HttpError(500, UNEXPECTED_EOF)
                await conn.send_line({"error": UNEXPECTED_EOF})
                await conn.end_stream()
                return True
            (thought if is_thought else content).append(token)
            if stream and is_thought:
                await conn.send_line(self._chunk(model, chat, thinking=token))
            elif stream:
                await conn.send_line(self._chunk(model, chat, content=token))
            sent += 1
            log["tokens_sent"] = sent
        if await self._fault(conn, log, sent, stream) == "error":
            return True
        eval_ns = int((time.perf_counter() - eval_start) * 1e9)

        tail = self._final_tail(
            runner,
            done_reason,
            chat=chat,
            body=body,
            prompt=prompt,
            generated=thought + content,
            metrics={
                "total_duration": time.perf_counter_ns() - started_ns,
                "load_duration": load_ns,
                "prompt_eval_count": prompt_count,
                "prompt_eval_duration": prompt_ns,
                "eval_count": sent,
                "eval_duration": eval_ns,
            },
        )
        if stream:
            await conn.send_line(self._chunk(model, chat, done=True, tail=tail))
            log["finished_at"] = time.monotonic()
            return await conn.end_stream()
        final = self._chunk(model, chat, "".join(content), "".join(thought), done=True, tail=tail)
        await conn.send_json(200, final)
        return True

    @staticmethod
    def _final_tail(
        runner: _Runner,
        done_reason: str,
        *,
        chat: bool,
        body: dict,
        prompt: str,
        generated: list[str],
        metrics: dict[str, int],
    ) -> dict:
        """The final chunk's fields after ``done``: reason, context, the six metrics."""
        tail = _reason(done_reason)
        if not chat:
            tokens = tokenize(str(body.get("system") or "") + prompt) + generated
            tail["context"] = token_ids(tokens, runner.spec.vocab_size)
        tail.update({key: value for key, value in metrics.items() if value})  # omitempty
        return tail


def _reason(done_reason: str) -> dict:
    return {"done_reason": done_reason}


def _parameter_lines(spec: ModelSpec) -> list[str]:
    return [line for line in spec.parameters_text.splitlines() if line]


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
