"""Talking to Ollama over HTTP with the official client, and saying clearly what went wrong.

Pure: no Textual imports. The address is parsed the way Ollama and ollama-python parse
``OLLAMA_HOST``; every failure the client can raise is mapped to one of the exceptions below,
each with a message a person can act on.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, TypeVar
from urllib.parse import urlsplit

T = TypeVar("T")

DEFAULT_PORT = 11434
CONNECT_TIMEOUT_S = 3.0


# --- the address -------------------------------------------------------------------------------


@dataclass(frozen=True)
class OllamaAddress:
    scheme: str
    host: str
    port: int
    path: str = ""

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}{self.path}"

    @property
    def display(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        shown = f"{host}:{self.port}{self.path}"
        return shown if self.scheme == "http" else f"{self.scheme}://{shown}"


def parse_ollama_host(text: str | None) -> OllamaAddress:
    """``OLLAMA_HOST`` as Ollama reads it: scheme and port optional, default 127.0.0.1:11434.

    ``0.0.0.0`` (and ``::``), which a server listens on, means this machine to a client.
    Raises ``ValueError`` with a message for an address that cannot be used.
    """
    text = (text or "").strip()
    port = DEFAULT_PORT
    scheme, separator, rest = text.partition("://")
    if not separator:
        scheme, rest = "http", text
    elif scheme == "http":
        port = 80
    elif scheme == "https":
        port = 443
    else:
        raise ValueError(f"Ollama address {text!r}: the scheme must be http or https")
    try:
        split = urlsplit(f"{scheme}://{rest}")
        explicit_port = split.port
    except ValueError:
        raise ValueError(f"Ollama address {text!r}: the port must be a number 1-65535") from None
    host = split.hostname or "127.0.0.1"
    if host in ("0.0.0.0", ""):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if explicit_port is not None:
        if not 0 < explicit_port < 65536:
            raise ValueError(f"Ollama address {text!r}: the port must be a number 1-65535")
        port = explicit_port
    return OllamaAddress(scheme, host, port, split.path.rstrip("/"))


# --- what goes wrong -------------------------------------------------------------------------


class OllamaError(Exception):
    """Something Ollama did or could not do, with a message to show as it is."""


class OllamaUnreachableError(OllamaError):
    def __init__(self, address: OllamaAddress, cause: str) -> None:
        self.address = address
        self.cause = cause
        super().__init__(
            f"Cannot reach Ollama at {address.display} ({cause}). Start it with `ollama serve` "
            f"(or `systemctl start ollama`), or point rigtui at it with --ollama-host or "
            f"OLLAMA_HOST."
        )


class ModelNotFoundError(OllamaError):
    def __init__(self, model: str, server_message: str = "") -> None:
        self.model = model
        self.server_message = server_message
        super().__init__(f"Model {model!r} is not installed.")


class NotInLibraryError(OllamaError):
    """A pull of a name the Ollama library does not have (a typo, a tag that does not exist)."""

    def __init__(self, model: str, server_message: str = "") -> None:
        self.model = model
        self.server_message = server_message
        super().__init__(
            f"{model!r} does not exist in the Ollama library: check the name and its tag "
            "(ollama.com/library)."
        )


class NotOllamaError(OllamaError):
    """Something answers at the Ollama address, but not as Ollama (a web server's 404s would
    read as "model not installed")."""

    def __init__(self, address: OllamaAddress, answer: str) -> None:
        self.address = address
        self.answer = answer
        super().__init__(
            f"The server at {address.display} is not Ollama: {answer}. Point rigtui at Ollama "
            "with --ollama-host or OLLAMA_HOST (Ollama listens on 127.0.0.1:11434 by default)."
        )


class OllamaResponseError(OllamaError):
    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.server_message = message
        if status == -1:
            text = f"Ollama reported an error while replying: {message}"
        else:
            text = f"Ollama answered {status}: {message}"
        super().__init__(text)


class StreamInterruptedError(OllamaError):
    """The connection closed before the final chunk (Ollama stopped, crashed or restarted)."""

    def __init__(self, cause: str, *, anything_arrived: bool = True) -> None:
        self.cause = cause
        self.anything_arrived = anything_arrived
        if anything_arrived:
            text = (
                f"The connection to Ollama dropped in the middle of the reply ({cause}). "
                "What arrived is kept; you can send again."
            )
        else:
            text = f"The connection to Ollama dropped before any of the reply arrived ({cause})."
        super().__init__(text)


class MalformedStreamError(OllamaError):
    def __init__(self, line: str) -> None:
        self.line = line
        shown = line if len(line) <= 60 else line[:57] + "…"
        super().__init__(f"Ollama sent a line that is not JSON: {shown!r}")


# --- what comes back -------------------------------------------------------------------------


@dataclass(frozen=True)
class InstalledModel:
    """One model of ``/api/tags``."""

    name: str
    size_bytes: int
    parameter_size: str
    quantization: str
    family: str
    digest: str = ""
    modified_at: datetime | None = None


@dataclass(frozen=True)
class RunningModel:
    """One model of ``/api/ps``: loaded, with how much of it is in VRAM."""

    name: str
    size_bytes: int
    size_vram_bytes: int
    context_length: int | None
    expires_at: datetime | None
    digest: str = ""
    parameter_size: str = ""
    quantization: str = ""

    @property
    def expires_at_s(self) -> float | None:
        """``expires_at`` in epoch seconds; a time without a zone is UTC (as ``ollama ps``
        reads it)."""
        if self.expires_at is None:
            return None
        moment = self.expires_at
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        return moment.timestamp()


@dataclass(frozen=True)
class ModelFacts:
    """What ``/api/show`` tells about a model's shape (for the fit estimate)."""

    name: str
    architecture: str | None
    parameter_count: int | None
    quantization: str
    context_length: int | None
    block_count: int | None
    embedding_length: int | None
    head_count: int | None
    head_count_kv: int | None
    key_length: int | None
    value_length: int | None
    capabilities: tuple[str, ...] = ()
    size_bytes: int | None = None
    vocab_size: int | None = None


@dataclass(frozen=True)
class ReplyPiece:
    """Text that arrived: reply content, thinking, or both."""

    content: str = ""
    thinking: str = ""
    arrived_at: float = 0.0
    """``time.monotonic()`` when it arrived."""


@dataclass(frozen=True)
class ReplyEnd:
    """The final chunk: why it stopped and Ollama's own measurements (nanoseconds)."""

    done_reason: str | None
    total_duration_ns: int | None = None
    load_duration_ns: int | None = None
    prompt_eval_count: int | None = None
    prompt_eval_duration_ns: int | None = None
    eval_count: int | None = None
    eval_duration_ns: int | None = None
    arrived_at: float = 0.0


@dataclass(frozen=True)
class PullStep:
    status: str
    completed: int | None = None
    total: int | None = None
    digest: str | None = None
    arrived_at: float = 0.0
    """``time.monotonic()`` when it arrived (speed and time left are worked out from it)."""

    @property
    def fraction(self) -> float | None:
        if not self.total or self.completed is None:
            return None
        return min(1.0, self.completed / self.total)


@dataclass
class ChatOptions:
    """Per-chat settings sent with each request."""

    system_prompt: str = ""
    temperature: float | None = None
    num_ctx: int | None = None
    num_gpu: int | None = None
    keep_alive: str | None = None
    think: bool | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def request_options(self) -> dict[str, Any]:
        options: dict[str, Any] = dict(self.extra)
        if self.temperature is not None:
            options["temperature"] = self.temperature
        if self.num_ctx is not None:
            options["num_ctx"] = self.num_ctx
        if self.num_gpu is not None:
            options["num_gpu"] = self.num_gpu
        return options


# --- the client ------------------------------------------------------------------------------


def _get(item: Any, name: str, default: Any = None) -> Any:
    if isinstance(item, Mapping):
        return item.get(name, default)
    return getattr(item, name, default)


class OllamaClient:
    """The official ``ollama.AsyncClient``, with errors mapped and results as our dataclasses."""

    def __init__(self, address: OllamaAddress, *, connect_timeout_s: float = CONNECT_TIMEOUT_S):
        # Imported here: with its pydantic models and httpx it takes a fifth of a second, which
        # the dashboard's first frame need not wait for.
        import httpx
        import ollama

        self.address = address
        # No read timeout: a cold load of a large model can take minutes before the first byte.
        self._client = ollama.AsyncClient(
            host=address.url, timeout=httpx.Timeout(None, connect=connect_timeout_s)
        )

    async def close(self) -> None:
        await self._client._client.aclose()

    def _translate(self, error: BaseException, model: str | None = None) -> OllamaError:
        if isinstance(error, OllamaError):
            return error
        import httpx
        from ollama import ResponseError

        if isinstance(error, ResponseError):
            if error.status_code == 404 and model is not None:
                return ModelNotFoundError(model, str(error.error))
            return OllamaResponseError(error.status_code, str(error.error))
        if isinstance(error, ConnectionError | httpx.ConnectError | httpx.ConnectTimeout):
            cause = "connection refused"
            if isinstance(error, httpx.ConnectTimeout):
                cause = "no answer within 3 s"
            return OllamaUnreachableError(self.address, cause)
        if isinstance(error, httpx.RemoteProtocolError | httpx.ReadError):
            return StreamInterruptedError(str(error) or type(error).__name__)
        if isinstance(error, json.JSONDecodeError):
            return MalformedStreamError(error.doc)
        if isinstance(error, httpx.HTTPError):
            return OllamaUnreachableError(self.address, str(error) or type(error).__name__)
        return OllamaError(f"Unexpected error talking to Ollama: {error!r}")

    async def version(self) -> str:
        try:
            response = await self._client._client.get("/api/version")
            response.raise_for_status()
            return str(response.json().get("version", "?"))
        except Exception as error:
            raise self._translate(error) from error

    async def ollama_version(self) -> str:
        """Ollama's version, from a server checked to be Ollama: ``GET /api/version`` answers
        ``{"version": ...}`` there. ``NotOllamaError`` for a server that answers otherwise; the
        usual errors (unreachable, ...) for one that does not answer."""
        import httpx

        asked = "GET /api/version"
        try:
            response = await self._client._client.get("/api/version")
        except httpx.RemoteProtocolError as error:
            raise NotOllamaError(self.address, "it does not answer in HTTP") from error
        except Exception as error:
            raise self._translate(error) from error
        if not response.is_success:
            status = f"{response.status_code} {response.reason_phrase}"
            raise NotOllamaError(self.address, f"{asked} answered {status}")
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise NotOllamaError(self.address, f"{asked} did not answer with Ollama's JSON")
        if "version" not in answer:
            raise NotOllamaError(self.address, f"{asked} answered without a version")
        return str(answer["version"])

    async def _ask(self, request: Awaitable[T], model: str | None = None) -> T:
        """One request of the official client, its errors in our words."""
        try:
            return await request
        except Exception as error:
            raise self._translate(error, model) from error

    async def installed(self) -> list[InstalledModel]:
        response = await self._ask(self._client.list())
        models = []
        for item in _get(response, "models", []) or []:
            details = _get(item, "details") or {}
            models.append(
                InstalledModel(
                    name=_get(item, "model") or _get(item, "name") or "?",
                    size_bytes=int(_get(item, "size") or 0),
                    parameter_size=_get(details, "parameter_size") or "",
                    quantization=_get(details, "quantization_level") or "",
                    family=_get(details, "family") or "",
                    digest=_get(item, "digest") or "",
                    modified_at=_get(item, "modified_at"),
                )
            )
        return models

    async def running(self) -> list[RunningModel]:
        response = await self._ask(self._client.ps())
        models = []
        for item in _get(response, "models", []) or []:
            details = _get(item, "details") or {}
            models.append(
                RunningModel(
                    name=_get(item, "model") or _get(item, "name") or "?",
                    size_bytes=int(_get(item, "size") or 0),
                    size_vram_bytes=int(_get(item, "size_vram") or 0),
                    context_length=_get(item, "context_length"),
                    expires_at=_get(item, "expires_at"),
                    digest=_get(item, "digest") or "",
                    parameter_size=_get(details, "parameter_size") or "",
                    quantization=_get(details, "quantization_level") or "",
                )
            )
        return models

    async def facts(self, model: str) -> ModelFacts:
        response = await self._ask(self._client.show(model), model)
        info = _get(response, "modelinfo") or _get(response, "model_info") or {}
        details = _get(response, "details") or {}
        architecture = info.get("general.architecture")

        def arch(key: str) -> Any:
            value = info.get(f"{architecture}.{key}") if architecture else None
            if isinstance(value, list):  # per-layer arrays: the largest is the safe figure
                value = max((v for v in value if isinstance(v, int | float)), default=None)
            return value

        return ModelFacts(
            name=model,
            architecture=architecture,
            parameter_count=info.get("general.parameter_count"),
            quantization=_get(details, "quantization_level") or "",
            context_length=arch("context_length"),
            block_count=arch("block_count"),
            embedding_length=arch("embedding_length"),
            head_count=arch("attention.head_count"),
            head_count_kv=arch("attention.head_count_kv"),
            key_length=arch("attention.key_length"),
            value_length=arch("attention.value_length"),
            capabilities=tuple(_get(response, "capabilities") or ()),
            vocab_size=arch("vocab_size"),
        )

    async def chat(
        self,
        model: str,
        messages: Sequence[Mapping[str, str]],
        options: ChatOptions,
    ) -> AsyncIterator[ReplyPiece | ReplyEnd]:
        """Stream a reply. Closing the iterator early closes the HTTP stream, so Ollama stops."""
        request_messages = list(messages)
        if options.system_prompt:
            request_messages = [{"role": "system", "content": options.system_prompt}, *messages]
        try:
            stream = await self._client.chat(
                model=model,
                messages=request_messages,
                stream=True,
                options=options.request_options() or None,
                keep_alive=options.keep_alive,
                think=options.think,
            )
        except Exception as error:
            raise self._translate(error, model) from error
        arrived = False
        try:
            async for chunk in stream:
                now = time.monotonic()
                message = _get(chunk, "message") or {}
                content = _get(message, "content") or ""
                thinking = _get(message, "thinking") or ""
                if content or thinking:
                    arrived = True
                    yield ReplyPiece(content=content, thinking=thinking, arrived_at=now)
                if _get(chunk, "done"):
                    yield ReplyEnd(
                        done_reason=_get(chunk, "done_reason"),
                        total_duration_ns=_get(chunk, "total_duration"),
                        load_duration_ns=_get(chunk, "load_duration"),
                        prompt_eval_count=_get(chunk, "prompt_eval_count"),
                        prompt_eval_duration_ns=_get(chunk, "prompt_eval_duration"),
                        eval_count=_get(chunk, "eval_count"),
                        eval_duration_ns=_get(chunk, "eval_duration"),
                        arrived_at=now,
                    )
                    return
        except Exception as error:
            translated = self._translate(error, model)
            if isinstance(translated, StreamInterruptedError) and not arrived:
                translated = StreamInterruptedError(translated.cause, anything_arrived=False)
            raise translated from error
        finally:
            await stream.aclose()
        raise StreamInterruptedError(
            "the stream ended without its final chunk", anything_arrived=arrived
        )

    async def pull(self, model: str) -> AsyncIterator[PullStep]:
        """Download a model. Closing the iterator early (or cancelling the task reading it)
        closes the HTTP stream: Ollama stops, keeping what it has for the next pull."""
        stream = None
        try:
            stream = await self._client.pull(model, stream=True)
            async for step in stream:
                yield PullStep(
                    status=_get(step, "status") or "",
                    completed=_get(step, "completed"),
                    total=_get(step, "total"),
                    digest=_get(step, "digest"),
                    arrived_at=time.monotonic(),
                )
        except Exception as error:
            translated = self._translate(error, model)
            if isinstance(translated, OllamaResponseError) and "file does not exist" in str(
                translated.server_message
            ):
                raise NotInLibraryError(model, translated.server_message) from error
            raise translated from error
        finally:
            if stream is not None:
                await stream.aclose()

    # --- model control: what `ollama stop`, `ollama run` (a load) and `ollama rm` send ---------

    async def unload(self, model: str) -> None:
        """Unload now, as ``ollama stop`` does: ``/api/generate`` with no prompt and
        ``keep_alive: 0``. A model still answering a request is unloaded when it is done.
        ``ModelNotFoundError`` for a model that is not installed."""
        await self._ask(self._client.generate(model=model, keep_alive=0), model)

    async def load(self, model: str, keep_alive: str | float | None = None) -> None:
        """Load (or keep loaded) with this keep-alive: ``/api/generate`` with no prompt, as
        ``ollama run`` warms a model. Returns once it is loaded, which may take minutes."""
        await self._ask(self._client.generate(model=model, keep_alive=keep_alive), model)

    async def delete(self, model: str) -> None:
        """Remove an installed model from disk, as ``ollama rm`` does: unloaded first (the
        server's ``DELETE /api/delete`` leaves a loaded runner running), then deleted."""
        with contextlib.suppress(ModelNotFoundError):  # the delete says so in Ollama's words
            await self.unload(model)
        await self._ask(self._client.delete(model), model)
