"""A saved conversation's new name, checked as it is typed."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

NAME_LENGTH = 200


def name_problem(text: str) -> str:
    """Why ``text`` cannot be a name (empty: it can)."""
    name = " ".join(text.split())
    if not name:
        return "A name cannot be empty."
    if len(name) > NAME_LENGTH:
        return f"At most {NAME_LENGTH} characters ({len(name)} now)."
    return ""


class RenameChatScreen(ModalScreen[str | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="cancel-rename")]

    def __init__(self, current: str) -> None:
        super().__init__()
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(id="rename-body"):
            yield Static("Rename the chat", classes="title")
            yield Input(self.current, id="rename-input", select_on_focus=True)
            yield Static("", id="rename-error", classes="field-error")
            yield Static("Enter saves · Esc cancels", classes="picker-keys")

    def on_input_changed(self, event: Input.Changed) -> None:
        self.query_one("#rename-error", Static).update(name_problem(event.value))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        problem = name_problem(event.value)
        if problem:
            self.query_one("#rename-error", Static).update(problem)
            self.app.bell()
            return
        self.dismiss(" ".join(event.value.split()))

    def action_cancel(self) -> None:
        self.dismiss(None)
