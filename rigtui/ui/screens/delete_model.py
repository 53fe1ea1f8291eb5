"""Are you sure? Deleting a model names it and its size, and the safe answer is the default."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Static

from rigtui.text.safe import literal
from rigtui.ui.screens.model_chooser import CSS


class DeleteModelScreen(ModalScreen[bool]):
    """True to delete. Cancel has the focus: Enter alone deletes nothing."""

    CSS_PATH = CSS
    BINDINGS = [
        Binding("escape,n", "cancel", "Keep it", id="delete-cancel"),
        Binding("y", "delete", "Delete", id="delete-confirm"),
    ]

    def __init__(self, model: str, size_bytes: int | None, *, loaded: bool = False) -> None:
        super().__init__()
        self.model = model
        self.size_bytes = size_bytes
        self.loaded = loaded

    def compose(self) -> ComposeResult:
        size = f" ({self.size_bytes / 1e9:.1f} GB on disk)" if self.size_bytes else ""
        question = literal(f"Delete {self.model}{size}?", style="bold")
        then = (
            "It is loaded now: it is unloaded first. " if self.loaded else ""
        ) + f"`ollama pull {self.model}` downloads it again."
        with Vertical(id="delete-body", classes="model-control-body"):
            yield Static(question, id="delete-question", classes="title")
            yield Static(literal(then), id="delete-then")
            with Horizontal(classes="model-control-buttons"):
                yield Button("Delete", variant="error", id="delete-go", compact=True)
                yield Button("Keep it", id="delete-keep", compact=True)
                yield Static("y deletes · n / esc keeps it", classes="model-control-keys")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#delete-keep", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "delete-go")

    def action_delete(self) -> None:
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)
