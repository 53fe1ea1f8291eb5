"""The simulated Ollama server: its lifetime, its in-process API, and its routes.

``start()`` serves from a background thread (:class:`~rigtui.sim.ollama.http.HttpServer`) and
returns the base URL; ``stop()`` ends it, and with it every runner, as a real ``ollama serve``
exiting would. Both block on the server thread, so they refuse to run while the caller holds the
rig's lock. The in-process API (``load``, ``unload``, ``set_phase``, ``loaded``, ``install``) never
blocks on the server thread: scenarios call it from rig actions.

The routes answer as Ollama's do: ``/``, ``/api/version``, ``/api/tags``, ``/api/ps``,
``/api/show`` and ``/api/pull`` here; ``/api/chat`` and ``/api/generate`` in
:mod:`~rigtui.sim.ollama.completion`. An error before streaming is ``{"error": …}`` with its
status; after the first line, an error line ends the stream. ``modified_at`` and ``expires_at``
use ``clock`` (see :mod:`~rigtui.sim.ollama.scheduler`).
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Awaitable, Callable, Iterable

from rigtui.sim.ollama.completion import Completions
from rigtui.sim.ollama.decoding import check_fields, decode_body
from rigtui.sim.ollama.faults import Faults
from rigtui.sim.ollama.http import (
    ClientGoneError,
    Connection,
    DroppedError,
    HttpError,
    HttpServer,
    Request,
)
from rigtui.sim.ollama.library import Library
from rigtui.sim.ollama.models import ModelSpec, canned_reply, canned_thinking, display_name
from rigtui.sim.ollama.scheduler import DEFAULT_KEEP_ALIVE_S, LoadedModel, Scheduler
from rigtui.sim.ollama.speed import DOWNLOAD_BYTES_PER_S
from rigtui.sim.ollama.wire import go_quote, rfc3339
from rigtui.sim.rig import SimulatedRig

_log = logging.getLogger(__name__)

MAX_LOGGED_REQUESTS = 1000
PULL_PROGRESS_S = 0.06
"""Ollama reports a download's progress every 60 ms (``server/download.go``), at any speed."""


def _owns(lock: object) -> bool:
    is_owned = getattr(lock, "_is_owned", None)
    return bool(is_owned()) if is_owned is not None else False


def _parameter_lines(spec: ModelSpec) -> list[str]:
    return [line for line in spec.parameters_text.splitlines() if line]


class SimulatedOllama:
    """Ollama's HTTP API on 127.0.0.1, backed by the simulated rig. See the package docstring."""

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
        self.version = version
        self._version = tuple(int(part) for part in re.findall(r"\d+", version)[:3])
        self._clock = clock or time.time
        self._library = Library(rig, models, self._clock)
        self.catalogue: dict[str, ModelSpec] = self._library.catalogue
        """Every model the simulated registry knows, installed or only pullable."""
        self._scheduler = Scheduler(rig, speed=float(speed), seed=seed, clock=self._clock)
        self._completions = Completions(
            library=self._library,
            scheduler=self._scheduler,
            version=self._version,
            seed=seed,
            clock=self._clock,
            faults=lambda: self._faults,
        )
        self.requests: list[dict] = []
        """One entry per HTTP request: method, path, model, status, tokens_sent, cancelled, fault,
        and for a generation ``generating_at`` and ``finished_at`` (``time.monotonic()`` as the
        first token was due and as the last line went out)
        (the last ``MAX_LOGGED_REQUESTS``)."""
        self.cancelled_requests = 0
        self._partial: dict[str, int] = {}
        """Bytes of each blob a cancelled pull left behind: the next pull goes on from there."""
        self._faults = Faults()
        self.faults = self._faults
        self._http = HttpServer(
            host,
            port,
            dispatch=self._dispatch,
            refusing=lambda: self._faults.refuse,
            tick=self._scheduler.expire_due,
            thread_name="simulated-ollama",
        )
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
            ("DELETE", "/api/delete"): self._api_delete,
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
    def speed(self) -> float:
        """Every wait is divided by it: 1 is the modelled pace."""
        return self._scheduler.speed

    @speed.setter
    def speed(self, speed: float) -> None:
        self._scheduler.speed = speed

    @property
    def seed(self) -> int:
        """The replies' seed where a request gives no ``options.seed``."""
        return self._completions.seed

    @seed.setter
    def seed(self, seed: int) -> None:
        self._completions.seed = seed

    @property
    def host(self) -> str:
        return self._http.host

    @property
    def port(self) -> int:
        return self._http.port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._http.running

    @property
    def accepted_connections(self) -> int:
        """TCP connections accepted (keep-alive makes this smaller than ``len(requests)``)."""
        return self._http.accepted_connections

    @property
    def installed(self) -> tuple[str, ...]:
        """Installed models, newest first (as ``/api/tags`` lists them)."""
        return tuple(spec.name for spec, _ in self._library.newest_first())

    def reply_for(self, prompt: str, seed: int | None = None) -> str:
        """The reply the server streams for ``prompt`` (``options.seed`` or the server's)."""
        return canned_reply(prompt, self.seed if seed is None else seed)

    def thinking_for(self, prompt: str, seed: int | None = None) -> str:
        return canned_thinking(prompt, self.seed if seed is None else seed)

    # --- lifecycle -------------------------------------------------------------------------------

    def start(self) -> str:
        """Serve on ``host:port`` from a background thread; returns the base URL."""
        if self._http.running:
            raise RuntimeError("the simulated Ollama server is already running")
        if _owns(self.rig.lock()):
            raise RuntimeError("start() must not be called while holding the rig's lock")
        self._http.start()
        return self.url

    def stop(self) -> None:
        """Stop serving; every runner ends with the server (loaded models are lost)."""
        if not self._http.running:
            return
        if _owns(self.rig.lock()):
            raise RuntimeError("stop() must not be called while holding the rig's lock")
        self._http.stop()
        self._scheduler.unload_all()

    def restart(self) -> str:
        """Stop, then start on the same port, like ``systemctl restart ollama``."""
        self.stop()
        return self.start()

    def __enter__(self) -> SimulatedOllama:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _refuse_changed(self, refuse: bool) -> None:
        self._http.set_listening(not refuse, wait=not _owns(self.rig.lock()))

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
        spec = self._library.installed_spec(name)
        if spec is None:
            raise KeyError(f"model '{name}' not found")
        return self._scheduler.load(
            spec, num_ctx=num_ctx, num_gpu=num_gpu, keep_alive_s=keep_alive_s
        )

    def unload(self, name: str) -> None:
        """Unload now (a request streaming from it ends with an error line)."""
        self._scheduler.unload(name)

    def set_phase(self, name: str, phase: str) -> None:
        """Make a loaded model's runner evaluate a prompt, generate, or rest, on the rig."""
        self._scheduler.set_phase(name, phase)

    def loaded(self) -> list[LoadedModel]:
        """The loaded models, longest remaining keep-alive first (as ``/api/ps`` sorts them)."""
        return self._scheduler.loaded()

    def install(self, name: str) -> None:
        """Install a catalogue model at once, without a pull."""
        self._library.install(self.catalogue[display_name(name)])

    # --- HTTP serving ------------------------------------------------------------------------

    async def _dispatch(self, conn: Connection, request: Request) -> bool:
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
        except HttpError as exc:
            if conn.streaming:  # too late for a status: an error line ends the stream
                await conn.send_line({"error": exc.message})
                keep = await conn.end_stream()
            else:
                await conn.send_json(exc.status, {"error": exc.message})
        except ClientGoneError:
            log["cancelled"] = True
            keep = False
        except DroppedError:
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

    # --- routes ------------------------------------------------------------------------------

    async def _root(self, conn: Connection, request: Request, log: dict) -> None:
        await conn.send(
            200,
            b"Ollama is running",
            "text/plain; charset=utf-8",
            head_only=request.method == "HEAD",
        )

    async def _api_version(self, conn: Connection, request: Request, log: dict) -> None:
        await conn.send_json(200, {"version": self.version}, head_only=request.method == "HEAD")

    async def _api_tags(self, conn: Connection, request: Request, log: dict) -> None:
        models = [
            {
                "name": spec.name,
                "model": spec.name,
                "modified_at": rfc3339(int(modified * 1e9), local=True),
                "size": spec.size_bytes,
                "digest": spec.digest,
                "details": spec.details(),
            }
            for spec, modified in self._library.newest_first()
        ]
        await conn.send_json(200, {"models": models}, head_only=request.method == "HEAD")

    async def _api_ps(self, conn: Connection, request: Request, log: dict) -> None:
        with self.rig.lock():
            models = []
            for runner in self._scheduler.running_locked():
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

    async def _api_show(self, conn: Connection, request: Request, log: dict) -> None:
        body = decode_body(request.body, "ShowRequest")
        check_fields(body, "ShowRequest", {"model": (str, "string"), "verbose": (bool, "bool")})
        name = body.get("model") or body.get("name") or ""
        log["model"] = name or None
        if not name:
            raise HttpError(400, "model is required")
        spec = self._library.installed_spec(name)
        if spec is None:
            raise HttpError(404, f"model '{display_name(name)}' not found")
        modified = self._library.modified_s(spec.name)
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

    async def _api_pull(self, conn: Connection, request: Request, log: dict) -> None:
        body = decode_body(request.body, "PullRequest")
        check_fields(body, "PullRequest", {"model": (str, "string"), "stream": (bool, "*bool")})
        name = body.get("model") or body.get("name") or ""
        log["model"] = name or None
        if not name.strip():
            raise HttpError(400, "invalid model name")
        stream = body.get("stream") is not False
        spec = self.catalogue.get(display_name(name))

        async def progress(line: dict, wait_s: float = 0.0) -> None:
            if await conn.pause(wait_s):
                raise ClientGoneError
            if stream:
                await conn.send_line(line)

        await progress({"status": "pulling manifest"}, 0.05 / self.speed)
        if spec is None:
            if not stream:
                raise HttpError(500, "pull model manifest: file does not exist")
            await conn.send_line({"error": "pull model manifest: file does not exist"})
            await conn.end_stream()
            return
        have = self._library.installed_spec(spec.name) is not None
        for _, digest, size in spec.layers():
            status = f"pulling {digest[:12]}"
            head = {"status": status, "digest": f"sha256:{digest}", "total": size}
            done = size if have else self._partial.get(digest, 0)
            if done >= size:
                await progress({**head, "completed": size})
                continue
            await progress({**head, "completed": done} if done else head)
            # A line per tick of the modelled clock, as many at any speed; the bytes the
            # download would have by then.
            ticks = max(1, math.ceil((size - done) / DOWNLOAD_BYTES_PER_S / PULL_PROGRESS_S))
            started = time.perf_counter()
            try:
                for tick in range(1, ticks + 1):
                    due = started + tick * PULL_PROGRESS_S / self.speed
                    completed = done + (size - done) * tick // ticks
                    await progress({**head, "completed": completed}, due - time.perf_counter())
                    self._partial[digest] = completed
            finally:
                if self._partial.get(digest, 0) >= size:
                    del self._partial[digest]  # a whole blob is the model's now
        await progress({"status": "verifying sha256 digest"}, 0.02 / self.speed)
        await progress({"status": "writing manifest"})
        self._library.install(spec)
        if stream:
            await conn.send_line({"status": "success"})
            await conn.end_stream()
        else:
            await conn.send_json(200, {"status": "success"})

    async def _api_delete(self, conn: Connection, request: Request, log: dict) -> None:
        """``DELETE /api/delete``: the model's manifest goes; a runner that has it loaded
        keeps running until it is unloaded or expires, as Ollama's does (``ollama rm``
        unloads first)."""
        body = decode_body(request.body, "DeleteRequest")
        check_fields(body, "DeleteRequest", {"model": (str, "string"), "name": (str, "string")})
        name = body.get("model") or body.get("name") or ""
        log["model"] = name or None
        if not name.strip():
            raise HttpError(400, f"name {go_quote(name)} is invalid")
        if not self._library.remove(name):
            raise HttpError(404, f"model '{name}' not found")
        await conn.send_empty(200)

    async def _api_chat(self, conn: Connection, request: Request, log: dict) -> bool:
        return await self._completions.handle(conn, request, log, chat=True)

    async def _api_generate(self, conn: Connection, request: Request, log: dict) -> bool:
        return await self._completions.handle(conn, request, log, chat=False)
