"""Asking before a signal is sent: the process named (name, PID, user, VRAM) and what the
signal does. Dismissed with True to send it; Cancel has the focus, so Enter alone sends
nothing."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from rigtui.telemetry.signals import SignalTarget
from rigtui.text import units

WHAT_IT_DOES = {
    "terminate": ("Terminate", "SIGTERM", "asks it to exit: it may save its work and clean up."),
    "kill": ("Kill", "SIGKILL", "ends it at once: nothing is saved, nothing cleaned up."),
}


def confirmation_text(target: SignalTarget, action: str, owner: str | None = None) -> Text:
    """The question, naming the process; plain text (its name is untrusted)."""
    verb, signal_name, effect = WHAT_IT_DOES[action]
    text = Text()
    text.append(f"{verb} {target.name or '(name not visible)'} (PID {target.pid})?\n", "bold")
    user = owner or target.username or "?"
    vram = units.size(target.vram_bytes) if target.vram_bytes is not None else "none"
    where = f" on GPU {target.gpu_index}" if target.gpu_index is not None else ""
    text.append(f"user {user} · VRAM {vram}{where}\n")
    text.append(f"Sends {signal_name}: {effect}")
    return text


class ConfirmSignalScreen(ModalScreen[bool]):
    DEFAULT_CSS = """
    ConfirmSignalScreen {
        align: center middle;
    }
    #confirm-signal {
        width: 64;
        max-width: 95%;
        height: auto;
        border: thick $error;
        background: $surface;
        padding: 1 2;
    }
    #confirm-signal-buttons {
        height: auto;
        margin-top: 1;
    }
    #confirm-signal-buttons Button {
        margin-right: 2;
    }
    """
    BINDINGS = [
        Binding("y", "send", "Send", id="confirm-signal-send", tooltip="Send the signal"),
        Binding("n,escape", "cancel", "Cancel", id="confirm-signal-cancel", tooltip="Send nothing"),
    ]

    def __init__(self, target: SignalTarget, action: str, owner: str | None = None) -> None:
        super().__init__()
        self.target = target
        self.action = action
        self.owner = owner

    @property
    def question(self) -> str:
        return confirmation_text(self.target, self.action, self.owner).plain

    def compose(self) -> ComposeResult:
        verb = WHAT_IT_DOES[self.action][0]
        with Vertical(id="confirm-signal"):
            yield Static(confirmation_text(self.target, self.action, self.owner), id="question")
            with Horizontal(id="confirm-signal-buttons"):
                yield Button(f"{verb} (y)", variant="error", id="send")
                yield Button("Cancel (n, Esc)", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "send")

    def action_send(self) -> None:
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)
