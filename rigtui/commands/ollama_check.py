"""Whether the server at the Ollama address is Ollama at all.

Anything may listen on 11434 (or on the address a user typed): a web server answers every
Ollama call with a 404 that read as "model not installed". ``GET /api/version`` tells them
apart: Ollama answers it with ``{"version": ...}``.
"""

from __future__ import annotations

from rigtui.llm.ollama import OllamaAddress, OllamaClient, OllamaError


class NotOllamaError(OllamaError):
    def __init__(self, address: OllamaAddress, answer: str) -> None:
        self.address = address
        self.answer = answer
        super().__init__(
            f"The server at {address.display} is not Ollama: {answer}. Point rigtui at Ollama "
            "with --ollama-host or OLLAMA_HOST (Ollama listens on 127.0.0.1:11434 by default)."
        )


async def ollama_version(client: OllamaClient) -> str:
    """Ollama's version. ``NotOllamaError`` for a server that answers, but not as Ollama; the
    client's own errors (unreachable, ...) for one that does not answer."""
    import httpx

    try:
        version = await client.version()
    except OllamaError as error:
        cause = error.__cause__
        if isinstance(cause, httpx.RemoteProtocolError):
            raise NotOllamaError(client.address, "it does not answer in HTTP") from error
        if cause is None or isinstance(cause, httpx.TransportError):
            raise  # no answer at all: the client's words say why
        if isinstance(cause, httpx.HTTPStatusError):
            status = cause.response.status_code
            answer = f"GET /api/version answered {status} {cause.response.reason_phrase}"
        else:
            answer = "GET /api/version did not answer with Ollama's JSON"
        raise NotOllamaError(client.address, answer) from error
    if version == "?":
        raise NotOllamaError(client.address, "GET /api/version answered without a version")
    return version
