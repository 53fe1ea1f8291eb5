"""Messages are past-tense facts that flow from the engines and widgets to the app; each
carries its data, so a reader follows the data without looking into the app's fields."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from textual.message import Message

from rigtui.fleet.model import FleetReading, RigHistory
from rigtui.llm.ollama import (
    ChatOptions,
    InstalledModel,
    ModelFacts,
    PullStep,
    ReplyPiece,
    RunningModel,
)
from rigtui.llm.stats import ReplyStats
from rigtui.store.conversation import Turn
from rigtui.telemetry.model import RigSnapshot
from rigtui.telemetry.opening import Opened
from rigtui.telemetry.signals import SignalCheck, SignalOutcome, SignalTarget

if TYPE_CHECKING:
    from rigtui.store.conversation import Conversation, ConversationSummary


class RigMessage(Message):
    """One of rigtui's own messages: the app drops those still queued when it shuts down."""


class SamplerReady(RigMessage):
    """The sampler is open (or failed to open): its first reading, and the history before it."""

    def __init__(self, opened: Opened) -> None:
        super().__init__()
        self.opened = opened


class SnapshotTaken(RigMessage):
    """A new reading. The sampling worker posts one only when the previous one was shown, so a
    backlog collapses to the newest (``snapshot`` is the newest when the message was posted)."""

    def __init__(self, snapshot: RigSnapshot) -> None:
        super().__init__()
        self.snapshot = snapshot


class SourceFailed(RigMessage):
    def __init__(self, source: str, error: str) -> None:
        super().__init__()
        self.source = source
        self.error = error


# --- Ollama ---------------------------------------------------------------------------------


class OllamaImported(RigMessage):
    """The ``ollama`` client library is imported: the client can be made without a stall."""


class OllamaConnected(RigMessage):
    def __init__(self, address: str, version: str) -> None:
        super().__init__()
        self.address = address
        self.version = version


class OllamaDisconnected(RigMessage):
    def __init__(self, address: str, error: str, retry_in_s: float) -> None:
        super().__init__()
        self.address = address
        self.error = error
        self.retry_in_s = retry_in_s


class ModelsListed(RigMessage):
    """``/api/tags``: the installed models."""

    def __init__(self, models: list[InstalledModel]) -> None:
        super().__init__()
        self.models = models


class ModelFactsRead(RigMessage):
    """``/api/show`` for installed models: their shapes, for the fit estimate."""

    def __init__(self, facts: dict[str, ModelFacts]) -> None:
        super().__init__()
        self.facts = facts


class ModelsRunning(RigMessage):
    """``/api/ps``: the loaded models and where they live."""

    def __init__(self, models: list[RunningModel]) -> None:
        super().__init__()
        self.models = models


# --- the chat -------------------------------------------------------------------------------


class PromptSubmitted(RigMessage):
    def __init__(self, model: str, messages: list[dict[str, str]], options: ChatOptions) -> None:
        super().__init__()
        self.model = model
        self.messages = messages
        self.options = options


class ChatOptionsRequested(RigMessage):
    """The chat asks for its options screen (the screen that hosts the chat pushes it)."""


class ChatOptionsChanged(RigMessage):
    """The chat's options changed (num_ctx changes what fits)."""


class StopRequested(RigMessage):
    """The user asked to stop the reply (Esc)."""


class ReplyStarted(RigMessage):
    def __init__(self, model: str) -> None:
        super().__init__()
        self.model = model


class ReplyChunk(RigMessage):
    """The reply's pieces that arrived since the last chunk (at most 20 chunks a second)."""

    def __init__(self, pieces: list[ReplyPiece], taken: Callable[[], None] | None = None) -> None:
        """``taken``: to call once the pieces are on the screen, so the reply's batching may
        send the next chunk (its own reply's, not whichever reply streams by then)."""
        super().__init__()
        self.pieces = pieces
        self.taken = taken


class ReplyFinished(RigMessage):
    def __init__(self, stats: ReplyStats, error: Exception | None = None) -> None:
        super().__init__()
        self.stats = stats
        self.error = error


class PullRequested(RigMessage):
    def __init__(self, model: str) -> None:
        super().__init__()
        self.model = model


class PullProgressed(RigMessage):
    def __init__(self, model: str, step: PullStep) -> None:
        super().__init__()
        self.model = model
        self.step = step


class PullFinished(RigMessage):
    def __init__(
        self, model: str, error: Exception | None = None, *, cancelled: bool = False
    ) -> None:
        super().__init__()
        self.model = model
        self.error = error
        self.cancelled = cancelled


# --- saved chats ----------------------------------------------------------------------------


class SavedChat:
    """Which saved conversation the chat on screen is. ``id`` is None until the store has made
    it (on the keeper's thread, at the first prompt); ``model`` and ``options`` are what was
    last saved with it, so a change is saved once."""

    def __init__(
        self, id: int | None = None, model: str = "", options: ChatOptions | None = None
    ) -> None:
        self.id = id
        self.model = model
        self.options = options
        self.title = ""
        """Its name once it has one (the first prompt, or a rename)."""
        self.starting = False
        self.streaming_position: int | None = None
        """The reply position already truncated to while it streams."""


class ChatStoreOpened(RigMessage):
    """The chat store opened (``store`` is a ChatStore), or could not (``error`` in words)."""

    def __init__(self, store: object | None, error: str = "", kind: str = "") -> None:
        super().__init__()
        self.store = store
        self.error = error
        self.kind = kind


class ChatStoreFailed(RigMessage):
    """A write (or a read) of the saved chats failed: the chat goes on unsaved."""

    def __init__(self, error: str, kind: str = "") -> None:
        super().__init__()
        self.error = error
        self.kind = kind


class TurnToSave(RigMessage):
    """A turn of the chat on screen to keep at ``position``, the turns after it dropped; with
    ``turn`` None, the turns from ``position`` on are dropped (a reply that failed)."""

    def __init__(
        self,
        saved: SavedChat,
        position: int,
        turn: Turn | None,
        model: str,
        options: ChatOptions,
    ) -> None:
        super().__init__()
        self.saved = saved
        self.position = position
        self.turn = turn
        self.model = model
        self.options = options


class ConversationsWanted(RigMessage):
    """A conversation list asks for the saved conversations that match ``search``."""

    def __init__(self, listing: object, search: str) -> None:
        super().__init__()
        self.listing = listing
        self.search = search


class ConversationsListed(RigMessage):
    def __init__(self, listing: object, search: str, summaries: list[ConversationSummary]) -> None:
        super().__init__()
        self.listing = listing
        self.search = search
        self.summaries = summaries


class ConversationOpenRequested(RigMessage):
    def __init__(self, conversation_id: int) -> None:
        super().__init__()
        self.conversation_id = conversation_id


class ConversationLoaded(RigMessage):
    """A saved conversation, read whole (None: it is not there any more)."""

    def __init__(self, conversation: Conversation | None) -> None:
        super().__init__()
        self.conversation = conversation


class ConversationRenameRequested(RigMessage):
    """Asks for the rename screen (``title`` None) or renames to ``title``."""

    def __init__(self, conversation_id: int, current: str, title: str | None = None) -> None:
        super().__init__()
        self.conversation_id = conversation_id
        self.current = current
        self.title = title


class ConversationDeleteRequested(RigMessage):
    def __init__(self, conversation_id: int, title: str) -> None:
        super().__init__()
        self.conversation_id = conversation_id
        self.title = title


class ConversationRestoreRequested(RigMessage):
    """Undo the last delete."""


class ConversationPickerRequested(RigMessage):
    """The chat asks for the list of saved conversations, as a picker over the screen."""


class NewChatRequested(RigMessage):
    """From the conversation list: a new, empty conversation in the chat."""


class ChatExportRequested(RigMessage):
    """Write the chat on screen to a file: ``format`` "md" or "json"."""

    def __init__(
        self,
        saved: SavedChat,
        model: str,
        options: ChatOptions,
        turns: list[Turn],
        format: str,
    ) -> None:
        super().__init__()
        self.saved = saved
        self.model = model
        self.options = options
        self.turns = turns
        self.format = format


class ChatExported(RigMessage):
    """The export wrote ``path`` (None: it could not, ``error`` says why)."""

    def __init__(self, path: Path | None, error: str = "") -> None:
        super().__init__()
        self.path = path
        self.error = error


# --- process control ------------------------------------------------------------------------


class EveryProcessWanted(RigMessage):
    """The Processes tab was shown (``every``) or hidden: read every process, or the busiest."""

    def __init__(self, every: bool) -> None:
        super().__init__()
        self.every = every


class ProcessSignalRequested(RigMessage):
    """The user asked to ``terminate`` or ``kill`` the selected process."""

    def __init__(self, target: SignalTarget, action: str) -> None:
        super().__init__()
        self.target = target
        self.action = action


class ProcessSignalChecked(RigMessage):
    """Whether the signal may be sent (``check.refusal`` says why not), before asking."""

    def __init__(self, check: SignalCheck, action: str) -> None:
        super().__init__()
        self.check = check
        self.action = action


class ProcessSignalSent(RigMessage):
    """What sending the confirmed signal came to (sent, already exited, refused)."""

    def __init__(self, outcome: SignalOutcome) -> None:
        super().__init__()
        self.outcome = outcome


# --- recall: prompt history, presets, remembered settings --------------------------------------


class PromptKept(RigMessage):
    """A prompt was sent: the app keeps it in the prompt history across restarts."""

    def __init__(self, prompt: str) -> None:
        super().__init__()
        self.prompt = prompt


class ModelChosen(RigMessage):
    """The user picked a model in the chat's picker: remembered for the next start."""

    def __init__(self, model: str) -> None:
        super().__init__()
        self.model = model


class PresetSaved(RigMessage):
    """A system-prompt preset was saved (a new one, or one replaced) in the options screen."""

    def __init__(self, name: str, system_prompt: str) -> None:
        super().__init__()
        self.name = name
        self.system_prompt = system_prompt


class PresetDeleted(RigMessage):
    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name


class KeptRead(RigMessage):
    """What the data directory kept from earlier sessions, read on a thread at the start:
    the prompt history (oldest first), the presets, the remembered values, and what could not
    be read (each said once)."""

    def __init__(
        self,
        prompts: list[str],
        presets: dict[str, str],
        remembered: dict,
        problems: list[str],
    ) -> None:
        super().__init__()
        self.prompts = prompts
        self.presets = presets
        self.remembered = remembered
        self.problems = problems


# --- model control ----------------------------------------------------------------------------


class UnloadRequested(RigMessage):
    """Unload this model now (the loaded-models pane's ``u``)."""

    def __init__(self, model: str) -> None:
        super().__init__()
        self.model = model


class ModelChooserRequested(RigMessage):
    """Choose a model to ``load``, ``unload`` or ``delete``; ``highlighted`` is where the list
    starts (the model under the pane's cursor)."""

    def __init__(self, purpose: str, highlighted: str | None = None) -> None:
        super().__init__()
        self.purpose = purpose
        self.highlighted = highlighted


class ModelActionStarted(RigMessage):
    """The app has asked Ollama to ``unload``, ``load`` or ``delete`` a model."""

    def __init__(self, action: str, model: str, keep_alive: str | None = None) -> None:
        super().__init__()
        self.action = action
        self.model = model
        self.keep_alive = keep_alive


class ModelActionFinished(RigMessage):
    """Ollama did it (``error`` None), or could not. ``still_loaded``: an unloaded model that
    /api/ps still lists (Ollama unloads it once the request it answers ends)."""

    def __init__(
        self,
        action: str,
        model: str,
        error: Exception | None = None,
        *,
        keep_alive: str | None = None,
        still_loaded: bool = False,
    ) -> None:
        super().__init__()
        self.action = action
        self.model = model
        self.error = error
        self.keep_alive = keep_alive
        self.still_loaded = still_loaded


class PullCancelRequested(RigMessage):
    """Stop pulling this model (Esc in the chat, or the notice's Cancel button)."""

    def __init__(self, model: str) -> None:
        super().__init__()
        self.model = model


# --- the Fleet tab (read from Prometheus) ---------------------------------------------------


class FleetReadingTaken(RigMessage):
    """Prometheus was read: every rig it scrapes with rigtui's metrics. ``now``: when (the
    "last seen" words count from it)."""

    def __init__(self, reading: FleetReading, now: float) -> None:
        super().__init__()
        self.reading = reading
        self.now = now


class FleetReadFailed(RigMessage):
    """Prometheus could not be read (``error`` in words); the watch tries again in
    ``retry_in_s``."""

    def __init__(self, error: str, retry_in_s: float | None, now: float) -> None:
        super().__init__()
        self.error = error
        self.retry_in_s = retry_in_s
        self.now = now


class FleetReadRequested(RigMessage):
    """Read Prometheus now (``r`` in the Fleet tab)."""


class FleetHistoryRequested(RigMessage):
    """Read the history of the rig at ``instance`` over the last ``window_s``."""

    def __init__(self, instance: str, window_s: float) -> None:
        super().__init__()
        self.instance = instance
        self.window_s = window_s


class FleetHistoryRead(RigMessage):
    def __init__(self, history: RigHistory) -> None:
        super().__init__()
        self.history = history


class FleetHistoryFailed(RigMessage):
    def __init__(self, instance: str, error: str) -> None:
        super().__init__()
        self.instance = instance
        self.error = error
