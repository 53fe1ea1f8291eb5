"""A saved conversation as one entry of the conversation list: its title, then its model, date
and length."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING

from rich.text import Text

from rigtui.text.safe import literal

if TYPE_CHECKING:
    from rigtui.store.conversation import ConversationSummary


def when(epoch_s: float, today: date) -> str:
    """Today: the time; another day: the date."""
    try:
        moment = datetime.fromtimestamp(epoch_s)
    except (OverflowError, OSError, ValueError):
        return "?"
    return moment.strftime("%H:%M") if moment.date() == today else moment.strftime("%Y-%m-%d")


def conversation_entry(
    summary: ConversationSummary, today: date, width: int = 0, *, is_open: bool = False
) -> Text:
    """Two lines, each cut to ``width`` (0: whole) with an ellipsis, never wrapped; the chat on
    screen (``is_open``) marked by a ``▸`` before its title."""
    title = literal(summary.title, "bold", placeholder="Untitled")
    if is_open:
        title = Text.assemble(("▸ ", "bold"), title)
    turns = f"{summary.turns} turn" + ("" if summary.turns == 1 else "s")
    parts = (when(summary.updated_at, today), turns, summary.model)  # the model is cut first
    facts = literal(" · ".join(part for part in parts if part), "dim")
    if width > 0:
        title.truncate(width, overflow="ellipsis")
        facts.truncate(width, overflow="ellipsis")
    return Text.assemble(title, "\n", facts)


_SHORT_REASONS = (
    ("newer rigtui", "newer schema"),
    ("damaged", "damaged"),
    ("locked", "locked"),
    ("full", "disk full"),
    ("readonly", "read-only"),
    ("read-only", "read-only"),
    ("permission denied", "no permission"),
    ("cannot create", "cannot create"),
    ("unable to open", "cannot open"),
)


_KINDS = {
    "locked": "locked",
    "full": "disk full",
    "damaged": "damaged",
    "newer": "newer schema",
    "unwritable": "read-only",
}


def short_reason(error: str, kind: str = "") -> str:
    """Why the chats are not saved, in a word or two: at 80 columns the chat's toolbar has room
    for about a dozen characters. ``kind``: the store's word for the failure, where it has one."""
    if kind in _KINDS:
        return _KINDS[kind]
    words = error.lower()
    return next((short for found, short in _SHORT_REASONS if found in words), "store error")
