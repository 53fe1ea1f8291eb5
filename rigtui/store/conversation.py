"""A saved conversation's values: what the store reads and writes, and what the chat on screen
hands over to be kept. Plain data (no SQLite), so the dashboard's messages and widgets may carry
them; the engine that reads and writes them is ``store.chats``."""

from __future__ import annotations

from dataclasses import dataclass, field

from rigtui.llm.ollama import ChatOptions

TITLE_LENGTH = 60


@dataclass(frozen=True)
class Turn:
    role: str
    content: str
    thinking: str = ""
    model: str = ""
    state: str = "done"
    """``streaming`` while written as it streams; a turn still ``streaming`` when read back was
    cut off (the writer was killed); ``stopped`` by the user; ``failed`` by an error."""
    stats: str = ""
    """The statistics line shown under the reply."""
    created_at: float = 0.0

    @property
    def cut_off(self) -> bool:
        return self.state == "streaming"

    def message(self) -> dict[str, str]:
        """As Ollama's /api/chat expects it in ``messages``."""
        return {"role": self.role, "content": self.content}


@dataclass(frozen=True)
class ConversationSummary:
    id: int
    title: str
    model: str
    created_at: float
    updated_at: float
    turns: int
    characters: int
    deleted_at: float | None = None
    """When it was put aside (:meth:`ChatStore.delete`); None while it is listed."""


@dataclass(frozen=True)
class Conversation:
    summary: ConversationSummary
    options: ChatOptions
    turns: tuple[Turn, ...] = field(default_factory=tuple)

    @property
    def id(self) -> int:
        return self.summary.id

    @property
    def model(self) -> str:
        return self.summary.model

    def messages(self) -> list[dict[str, str]]:
        return [turn.message() for turn in self.turns if turn.content]


def title_from(text: str) -> str:
    """A conversation's first prompt, as its title until it is renamed."""
    line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return line if len(line) <= TITLE_LENGTH else line[: TITLE_LENGTH - 1].rstrip() + "…"
