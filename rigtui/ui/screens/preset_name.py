"""Asks the name of a system-prompt preset: checked as typed; a name in use asks to confirm."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

MAX_NAME_CHARS = 60


class PresetNameError(ValueError):
    """A name a preset cannot have, in words."""


def check_name(name: str) -> str:
    """The name as it will be kept (trimmed), or PresetNameError saying what is wrong."""
    name = name.strip()
    if not name:
        raise PresetNameError("A preset needs a name.")
    if len(name) > MAX_NAME_CHARS:
        raise PresetNameError(f"A name has at most {MAX_NAME_CHARS} characters.")
    if any(not char.isprintable() for char in name):
        raise PresetNameError("A name holds no control characters or line breaks.")
    return name


class PresetNameScreen(ModalScreen[str | None]):
    DEFAULT_CSS = """
    PresetNameScreen {
        align: center middle;
    }
    PresetNameScreen #preset-name-body {
        width: 60;
        max-width: 95%;
        height: auto;
        border: round $primary;
        background: $surface;
        padding: 1 2;
    }
    PresetNameScreen #preset-name-error {
        color: $error;
        height: auto;
    }
    PresetNameScreen #preset-name {
        background: $boost;
    }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="preset-name-cancel")]

    def __init__(self, existing: list[str], suggested: str = "") -> None:
        super().__init__()
        self.existing = existing
        self.suggested = suggested
        self._confirming: str | None = None
        """A name in use that the user has been asked about: Enter again replaces it."""

    def compose(self) -> ComposeResult:
        with Vertical(id="preset-name-body"):
            yield Label("Save the system prompt as the preset named:")
            yield Input(self.suggested, placeholder="a name", id="preset-name", compact=True)
            yield Static("", id="preset-name-error")
            yield Static("enter saves · esc cancels", classes="options-keys")

    def on_input_changed(self, event: Input.Changed) -> None:
        self._confirming = None
        self._problem(event.value, confirm=False)

    def _problem(self, text: str, *, confirm: bool) -> str | None:
        """What stops ``text`` being saved now, shown under the field (None: nothing)."""
        try:
            name = check_name(text)
        except PresetNameError as error:
            problem = str(error)
        else:
            problem = None
            if name in self.existing and self._confirming != name:
                if confirm:
                    self._confirming = name
                    problem = f"A preset {name!r} exists: Enter again replaces it."
                else:
                    problem = f"A preset {name!r} exists."
        self.query_one("#preset-name-error", Static).update(problem or "")
        return problem

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if self._problem(event.value, confirm=True) is None:
            self.dismiss(check_name(event.value))

    def action_cancel(self) -> None:
        self.dismiss(None)
