"""Per-chat options: system prompt, temperature, num_ctx, num_gpu, keep_alive, thinking.

Each field is checked as it is typed, with the reason shown under it; nothing is saved until all
are valid, and nothing typed is thrown away by a mistake.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static, TextArea

from rigtui.llm.ollama import ChatOptions

_GO_DURATION = re.compile(r"^-?(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$")


class FieldError(ValueError):
    pass


def parse_temperature(text: str) -> float | None:
    if not text.strip():
        return None
    try:
        value = float(text)
    except ValueError:
        raise FieldError("a number such as 0.7") from None
    if not 0.0 <= value <= 2.0:
        raise FieldError("between 0 and 2")
    return value


def _parse_int(text: str, low: int, high: int, example: str) -> int | None:
    if not text.strip():
        return None
    try:
        value = int(text.replace("_", "").replace(",", ""))
    except ValueError:
        raise FieldError(f"a whole number such as {example}") from None
    if not low <= value <= high:
        raise FieldError(f"between {low:,} and {high:,}")
    return value


def parse_num_ctx(text: str) -> int | None:
    return _parse_int(text, 256, 1_048_576, "8192")


def parse_num_gpu(text: str) -> int | None:
    return _parse_int(text, 0, 1024, "0 (CPU only) or 999 (all layers)")


def parse_keep_alive(text: str) -> str | None:
    """Ollama's keep_alive: seconds, or a Go duration (5m, 1h30m); negative keeps it forever.

    A bare number is sent as seconds (Ollama refuses the *string* "10" for a missing unit).
    """
    text = text.strip()
    if not text:
        return None
    try:
        float(text)
    except ValueError:
        if not _GO_DURATION.match(text):
            raise FieldError("seconds, or a duration such as 5m, 1h or 30s; -1 = forever") from None
        return text
    return f"{text}s" if not text.startswith("-") else "-1s"


FIELDS: dict[str, tuple[str, Callable[[str], Any], str]] = {
    "temperature": ("Temperature", parse_temperature, "model default"),
    "num_ctx": ("Context length (num_ctx)", parse_num_ctx, "model default"),
    "num_gpu": ("Layers on the GPU (num_gpu)", parse_num_gpu, "automatic"),
    "keep_alive": ("Keep the model loaded (keep_alive)", parse_keep_alive, "server default (5m)"),
}


def _shown(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


class ChatOptionsScreen(ModalScreen[ChatOptions | None]):
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="options-cancel"),
        Binding("ctrl+s", "save", "Save", id="options-save"),
    ]

    def __init__(self, options: ChatOptions) -> None:
        super().__init__()
        self.options = options
        self.errors: dict[str, str] = {}

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="options-body"):
            yield Static("Chat options", classes="title")
            yield Label("System prompt")
            yield TextArea(
                self.options.system_prompt, id="system-prompt", soft_wrap=True, compact=True
            )
            for key, (title, _, placeholder) in FIELDS.items():
                with Horizontal(classes="option-row"):
                    yield Label(title, classes="option-label")
                    yield Input(
                        _shown(getattr(self.options, key)),
                        placeholder=placeholder,
                        id=f"field-{key}",
                        compact=True,
                    )
                yield Static("", id=f"error-{key}", classes="field-error")
            with Horizontal(classes="option-row"):
                yield Label("Thinking", classes="option-label")
                yield Select(
                    [("model default", "default"), ("show thinking", "on"), ("no thinking", "off")],
                    value={None: "default", True: "on", False: "off"}[self.options.think],
                    allow_blank=False,
                    id="field-think",
                    compact=True,
                )
            with Horizontal(id="options-buttons"):
                yield Button("Save", variant="primary", id="save", compact=True)
                yield Button("Cancel", id="cancel", compact=True)
                yield Static("ctrl+s saves · esc cancels", classes="options-keys")

    def on_input_changed(self, event: Input.Changed) -> None:
        key = (event.input.id or "").removeprefix("field-")
        if key in FIELDS:
            self._check(key, event.value)

    def _check(self, key: str, text: str) -> Any:
        _, parse, _ = FIELDS[key]
        error_widget = self.query_one(f"#error-{key}", Static)
        try:
            value = parse(text)
        except FieldError as error:
            self.errors[key] = str(error)
            error_widget.update(f"Expected {error}.")
            self.query_one("#save", Button).disabled = True
            return None
        self.errors.pop(key, None)
        error_widget.update("")
        self.query_one("#save", Button).disabled = bool(self.errors)
        return value

    def on_input_submitted(self, _event: Input.Submitted) -> None:
        self.action_save()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "save":
            self.action_save()
        else:
            self.action_cancel()

    def action_save(self) -> None:
        values = {}
        for key in FIELDS:
            values[key] = self._check(key, self.query_one(f"#field-{key}", Input).value)
        if self.errors:
            self.notify("Fix the fields marked in red first.", severity="warning")
            return
        think = {"default": None, "on": True, "off": False}[
            self.query_one("#field-think", Select).value
        ]
        system_prompt = self.query_one("#system-prompt", TextArea).text
        self.dismiss(replace(self.options, system_prompt=system_prompt, think=think, **values))

    def action_cancel(self) -> None:
        self.dismiss(None)
