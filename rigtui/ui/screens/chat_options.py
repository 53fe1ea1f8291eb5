"""Per-chat options: system prompt, temperature, num_ctx, num_gpu, keep_alive, thinking.

Each field is checked as it is typed, with the reason shown under it; nothing is saved until all
are valid, and nothing typed is thrown away by a mistake. System-prompt presets are picked here
(the system prompt is filled in, and Ctrl+Z gives back what it held), saved and deleted: the
screen tells the app (``PresetSaved``, ``PresetDeleted``), which keeps them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Input, Label, Select, Static, TextArea

from rigtui.llm.keep_alive import FieldError, parse_keep_alive
from rigtui.llm.ollama import ChatOptions
from rigtui.ui.messages import PresetDeleted, PresetSaved
from rigtui.ui.screens.preset_name import PresetNameScreen


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
    AUTO_FOCUS = None  # see on_mount
    # The fields scroll; the buttons stay in sight below them, at 80x24 too.
    DEFAULT_CSS = """
    ChatOptionsScreen #options-fields {
        height: auto;
        max-height: 100%;
    }
    ChatOptionsScreen #options-buttons {
        dock: bottom;
    }
    ChatOptionsScreen #preset-row {
        height: 1;
        margin: 0 0 1 0;
    }
    ChatOptionsScreen #preset-row Label {
        width: 8;
    }
    ChatOptionsScreen #field-preset {
        width: 1fr;
        background: $boost;
    }
    ChatOptionsScreen #preset-row Button {
        margin: 0 0 0 1;
    }
    """
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="options-cancel"),
        Binding("ctrl+s", "save", "Save", id="options-save"),
    ]

    def __init__(self, options: ChatOptions, presets: dict[str, str] | None = None) -> None:
        super().__init__()
        self.options = options
        self.presets = dict(presets or {})
        """System-prompt presets by name: a copy, changed here as the user saves or deletes."""
        self.errors: dict[str, str] = {}
        self._deleting: str | None = None
        """The preset the Delete button has asked about: pressed again, it goes."""

    def compose(self) -> ComposeResult:
        with Vertical(id="options-body"):
            yield Static("Chat options", classes="title")
            yield from self._fields()
            with Horizontal(id="options-buttons"):
                yield Button("Save", variant="primary", id="save", compact=True)
                yield Button("Cancel", id="cancel", compact=True)
                yield Static("ctrl+s saves · esc cancels", classes="options-keys")
        yield Footer()  # this screen's keys, not the dashboard's under it

    def _fields(self) -> ComposeResult:
        with VerticalScroll(id="options-fields"):
            with Horizontal(id="preset-row"):
                yield Label("Preset")
                yield Select(
                    self._preset_choices(),
                    prompt="none",
                    value=self._preset_shown(),
                    id="field-preset",
                    compact=True,
                )
                yield Button("Save as…", id="preset-save", compact=True)
                yield Button("Delete", id="preset-delete", compact=True)
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

    def on_mount(self) -> None:
        # The first keys typed go into the first field (by default the scrolling body took
        # them), and its label stays in sight.
        self.query_one("#system-prompt").focus(scroll_visible=False)

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
        elif event.button.id == "preset-save":
            self.save_preset()
        elif event.button.id == "preset-delete":
            self.delete_preset()
        else:
            self.action_cancel()

    # --- presets ------------------------------------------------------------------------------

    def _preset_choices(self) -> list[tuple[str, str]]:
        return [(name, name) for name in self.presets]

    def _preset_shown(self) -> str | object:
        """The preset whose text the system prompt holds, if one does."""
        system_prompt = self.options.system_prompt
        for name, text in self.presets.items():
            if system_prompt and text == system_prompt:
                return name
        return Select.NULL

    @property
    def picked_preset(self) -> str | None:
        value = self.query_one("#field-preset", Select).value
        return None if value == Select.NULL else str(value)

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id != "field-preset":
            return
        self._forget_delete()
        name = self.picked_preset
        if name is None or name not in self.presets:
            return
        area = self.query_one("#system-prompt", TextArea)
        if area.text == self.presets[name]:
            return
        had_text = bool(area.text.strip())
        # An edit, not a new document: Ctrl+Z in the field brings back what it held.
        area.replace(self.presets[name], (0, 0), area.document.end)
        if had_text:
            self.notify(f"System prompt set to the preset {name!r} (Ctrl+Z in it undoes).")

    def save_preset(self) -> None:
        text = self.query_one("#system-prompt", TextArea).text
        if not text.strip():
            self.notify("The system prompt is empty: type one to save it.", severity="warning")
            return

        def named(name: str | None) -> None:
            if name is None:
                return
            self.presets[name] = text
            self.post_message(PresetSaved(name, text))
            self._show_presets(picked=name)
            self.notify(f"Saved the preset {name!r}.")

        self._forget_delete()
        self.app.push_screen(PresetNameScreen(list(self.presets), self.picked_preset or ""), named)

    def delete_preset(self) -> None:
        name = self.picked_preset
        if name is None:
            self.notify("Pick the preset to delete in the list first.", severity="warning")
            return
        button = self.query_one("#preset-delete", Button)
        if self._deleting != name:
            self._deleting = name
            button.label = "Delete?"
            self.notify(f"Press Delete again to delete the preset {name!r}.", severity="warning")
            return
        self._forget_delete()
        del self.presets[name]
        self.post_message(PresetDeleted(name))
        self._show_presets(picked=None)
        self.notify(f"Deleted the preset {name!r} (the system prompt keeps its text).")

    def _forget_delete(self) -> None:
        if self._deleting is not None:
            self._deleting = None
            self.query_one("#preset-delete", Button).label = "Delete"

    def _show_presets(self, picked: str | None) -> None:
        select = self.query_one("#field-preset", Select)
        with self.prevent(Select.Changed):
            select.set_options(self._preset_choices())
            select.value = picked if picked is not None else Select.NULL

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
