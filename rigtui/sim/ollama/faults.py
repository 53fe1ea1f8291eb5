"""Fault switches: the ways a real Ollama goes wrong, made to happen on purpose.

A test (or a scenario) sets them on :attr:`SimulatedOllama.faults
<rigtui.sim.ollama.routes.SimulatedOllama.faults>`; each applies to every chat/generate request
until cleared, except ``refuse``, which closes or reopens the listening socket at once.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

UNEXPECTED_EOF = "an error was encountered while running the model: unexpected EOF"


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
