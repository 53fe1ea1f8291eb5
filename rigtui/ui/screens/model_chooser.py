"""Choose a model to load (with how long Ollama keeps it loaded), unload or delete.

A list of models (↑/↓, Enter) and, to load, a keep-alive: one of the usual ones or a typed Go
duration, checked as it is typed with the same check as the chat options. What the app does with
the choice is the app's: the screen only returns it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Input, Label, OptionList, Select, Static
from textual.widgets.option_list import Option

from rigtui.llm.keep_alive import KEEP_ALIVE_CHOICES, FieldError, parse_keep_alive
from rigtui.text.safe import literal

CSS = Path(__file__).parent.parent / "model_control.tcss"
VERBS = {"load": "Load", "unload": "Unload", "delete": "Delete"}


@dataclass(frozen=True)
class ModelChoice:
    """One model to offer: its name, and what to show beside it (size, quantization, loaded)."""

    name: str
    detail: str = ""


@dataclass(frozen=True)
class Chosen:
    model: str
    keep_alive: str | None = None
    """To load: the Go duration to send as ``keep_alive``."""


class ModelChooserScreen(ModalScreen[Chosen | None]):
    CSS_PATH = CSS
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="chooser-cancel"),
        Binding("ctrl+s", "choose", "Choose", id="chooser-choose", show=False),
    ]

    def __init__(
        self, purpose: str, choices: list[ModelChoice], highlighted: str | None = None
    ) -> None:
        """``purpose``: ``load``, ``unload`` or ``delete``."""
        super().__init__()
        self.purpose = purpose
        self.choices = choices
        self.highlighted = highlighted

    def compose(self) -> ComposeResult:
        verb = VERBS[self.purpose]
        with Vertical(id="chooser-body", classes="model-control-body"):
            yield Static(f"{verb} a model", classes="title")
            width = max((len(choice.name) for choice in self.choices), default=0)
            options = [
                Option(self._prompt(choice, width), id=choice.name) for choice in self.choices
            ]
            yield OptionList(*options, id="chooser-models")
            if self.purpose == "load":
                with Horizontal(classes="option-row"):
                    yield Label("Keep it loaded for", classes="chooser-label")
                    yield Select(
                        KEEP_ALIVE_CHOICES,
                        value=KEEP_ALIVE_CHOICES[0][1],
                        allow_blank=False,
                        id="chooser-keep-alive",
                        compact=True,
                    )
                with Horizontal(classes="option-row"):
                    yield Label("or type a duration", classes="chooser-label")
                    yield Input(
                        placeholder="2h, 90s, 1h30m; -1 = forever",
                        id="chooser-typed",
                        compact=True,
                    )
                yield Static("", id="chooser-error", classes="field-error")
            with Horizontal(classes="model-control-buttons"):
                yield Button(verb, variant="primary", id="chooser-go", compact=True)
                yield Button("Cancel", id="chooser-cancel", compact=True)
                yield Static("enter chooses · esc cancels", classes="model-control-keys")
        yield Footer()

    @staticmethod
    def _prompt(choice: ModelChoice, width: int) -> Text:
        """The name, then its details in a column of their own."""
        prompt = literal(choice.name, style="bold")
        if choice.detail:
            prompt.append(" " * (width - len(choice.name) + 2))
            prompt.append(choice.detail, style="dim")
        return prompt

    def on_mount(self) -> None:
        models = self.query_one("#chooser-models", OptionList)
        if not self.choices:
            nothing = {"load": "installed", "unload": "loaded", "delete": "installed"}
            self.query_one("#chooser-go", Button).disabled = True
            models.add_option(Option(f"No model is {nothing[self.purpose]}.", disabled=True))
        names = [choice.name for choice in self.choices]
        if self.highlighted in names:
            models.highlighted = names.index(self.highlighted)
        models.focus()

    def keep_alive(self) -> str | None:
        """The typed duration if there is one, else the one picked; None while the typed one
        is wrong (the reason is shown under it)."""
        typed = self.query_one("#chooser-typed", Input).value
        error = self.query_one("#chooser-error", Static)
        try:
            parsed = parse_keep_alive(typed)
        except FieldError as wrong:
            error.update(f"Expected {wrong}.")
            return None
        error.update("")
        if parsed is not None:
            return parsed
        return str(self.query_one("#chooser-keep-alive", Select).value)

    def on_input_changed(self, _event: Input.Changed) -> None:
        self.query_one("#chooser-go", Button).disabled = self.keep_alive() is None

    def on_input_submitted(self, _event: Input.Submitted) -> None:
        self.action_choose()

    def on_option_list_option_selected(self, _event: OptionList.OptionSelected) -> None:
        self.action_choose()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "chooser-go":
            self.action_choose()
        else:
            self.action_cancel()

    def action_choose(self) -> None:
        models = self.query_one("#chooser-models", OptionList)
        if models.highlighted is None or not self.choices:
            self.notify("Pick a model in the list first.", severity="warning")
            return
        name = self.choices[models.highlighted].name
        if self.purpose != "load":
            self.dismiss(Chosen(name))
            return
        keep_alive = self.keep_alive()
        if keep_alive is None:
            self.notify("The typed duration cannot be used: see under it.", severity="warning")
            return
        self.dismiss(Chosen(name, keep_alive))

    def action_cancel(self) -> None:
        self.dismiss(None)
