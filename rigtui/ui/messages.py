"""Messages are past-tense facts that flow from sources to the app."""

from __future__ import annotations

from textual.message import Message

from rigtui.llm.ollama import (
    ChatOptions,
    InstalledModel,
    ModelFacts,
    PullStep,
    ReplyPiece,
    RunningModel,
)
from rigtui.llm.stats import ReplyStats
from rigtui.telemetry.model import RigSnapshot
from rigtui.telemetry.opening import Opened


class SamplerReady(Message):
    """The sampler is open (or failed to open): its first reading, and the history before it."""

    def __init__(self, opened: Opened) -> None:
        super().__init__()
        self.opened = opened


class DashboardReady(Message):
    """The dashboard's widgets exist: readings (or a replay) can start to reach them."""


class SnapshotTaken(Message):
    """A new reading. The sampling worker posts one only when the previous one was shown, so a
    backlog collapses to the newest (``snapshot`` is the newest when the message was posted)."""

    def __init__(self, snapshot: RigSnapshot) -> None:
        super().__init__()
        self.snapshot = snapshot


class SourceFailed(Message):
    def __init__(self, source: str, error: str) -> None:
        super().__init__()
        self.source = source
        self.error = error


# --- Ollama ---------------------------------------------------------------------------------


class OllamaImported(Message):
    """The ``ollama`` client library is imported: the client can be made without a stall."""


class OllamaConnected(Message):
    def __init__(self, address: str, version: str) -> None:
        super().__init__()
        self.address = address
        self.version = version


class OllamaDisconnected(Message):
    def __init__(self, address: str, error: str, retry_in_s: float) -> None:
        super().__init__()
        self.address = address
        self.error = error
        self.retry_in_s = retry_in_s


class ModelsListed(Message):
    """``/api/tags``: the installed models."""

    def __init__(self, models: list[InstalledModel]) -> None:
        super().__init__()
        self.models = models


class ModelFactsRead(Message):
    """``/api/show`` for installed models: their shapes, for the fit estimate."""

    def __init__(self, facts: dict[str, ModelFacts]) -> None:
        super().__init__()
        self.facts = facts


class ModelsRunning(Message):
    """``/api/ps``: the loaded models and where they live."""

    def __init__(self, models: list[RunningModel]) -> None:
        super().__init__()
        self.models = models


# --- the chat -------------------------------------------------------------------------------


class PromptSubmitted(Message):
    def __init__(self, model: str, messages: list[dict[str, str]], options: ChatOptions) -> None:
        super().__init__()
        self.model = model
        self.messages = messages
        self.options = options


class ChatOptionsRequested(Message):
    """The chat asks for its options screen (the screen that hosts the chat pushes it)."""


class ChatOptionsChanged(Message):
    """The chat's options changed (num_ctx changes what fits)."""


class StopRequested(Message):
    """The user asked to stop the reply (Esc)."""


class ReplyStarted(Message):
    def __init__(self, model: str) -> None:
        super().__init__()
        self.model = model


class ReplyProgressed(Message):
    """Deprecated: replaced by ReplyChunk (removed once the app posts chunks)."""


class ReplyChunk(Message):
    """The reply's pieces that arrived since the last chunk (at most 20 chunks a second)."""

    def __init__(self, pieces: list[ReplyPiece]) -> None:
        super().__init__()
        self.pieces = pieces


class ReplyFinished(Message):
    def __init__(self, stats: ReplyStats, error: Exception | None = None) -> None:
        super().__init__()
        self.stats = stats
        self.error = error


class PullRequested(Message):
    def __init__(self, model: str) -> None:
        super().__init__()
        self.model = model


class PullProgressed(Message):
    def __init__(self, model: str, step: PullStep) -> None:
        super().__init__()
        self.model = model
        self.step = step


class PullFinished(Message):
    def __init__(self, model: str, error: Exception | None = None) -> None:
        super().__init__()
        self.model = model
        self.error = error
