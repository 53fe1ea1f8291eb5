"""Where the prompt is typed: Enter sends, Shift+Enter or Ctrl+J starts a new line.

↑ on the prompt's first row and ↓ on its last recall earlier prompts, as a shell does (and oterm):
inside a prompt of several lines the arrows move between its lines as usual. What was being typed
is kept, and comes back after ↓ past the newest prompt; a recalled prompt edited and left is
kept edited until one is sent.
"""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.document._document_navigator import DocumentNavigator
from textual.message import Message
from textual.strip import Strip
from textual.widgets import TextArea

from rigtui.ui.tuning.long_prompt import IncrementalWrapping, WrappedLine

MAX_RECALLED = 1000
"""Prompts ↑ reaches back to (the store keeps as many)."""


class PromptInput(TextArea):
    # Editing the last prompt (Ctrl+L): sending replaces an exchange, so it looks different.
    DEFAULT_CSS = """
    PromptInput.-editing {
        border: tall $warning;
    }
    """

    class Submitted(Message):
        def __init__(self, prompt_input: PromptInput, text: str) -> None:
            super().__init__()
            self.prompt_input = prompt_input
            self.text = text

        @property
        def control(self) -> PromptInput:
            return self.prompt_input

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, soft_wrap=True, show_line_numbers=False, tab_behavior="focus")
        # Short enough for the chat's width at 120x40: a placeholder is cut, not wrapped.
        self.placeholder = "Ask…  Enter sends · Shift+Enter new line · /clear · /pull NAME"
        self.prompts_sent: list[str] = []
        """Prompts sent, oldest first: what ↑ recalls."""
        self._recalled: int | None = None
        """The index in ``history`` shown now; None: the prompt being typed."""
        self._draft = ""
        self._edited: dict[int, str] = {}
        """Recalled prompts changed and left, by index: kept until a prompt is sent."""

    # --- prompt history ------------------------------------------------------------------------

    def recall_from(self, earlier: list[str]) -> None:
        """Prompts kept from earlier sessions, oldest first; those sent since go after them."""
        merged = list(earlier)
        for prompt in self.prompts_sent:
            if not merged or merged[-1] != prompt:
                merged.append(prompt)
        self.prompts_sent = merged[-MAX_RECALLED:]
        self._forget_browsing()

    def keep(self, prompt: str) -> None:
        """A prompt was sent (or a command run): ↑ recalls it from now on. (The chat tells the
        app, which keeps it across restarts.)"""
        if not self.prompts_sent or self.prompts_sent[-1] != prompt:
            self.prompts_sent.append(prompt)
            del self.prompts_sent[:-MAX_RECALLED]
        self._forget_browsing()

    def _forget_browsing(self) -> None:
        self._recalled = None
        self._draft = ""
        self._edited.clear()

    def _show(self, index: int | None) -> None:
        """Leave what is shown (kept as typed), and show the prompt at ``index``."""
        if self._recalled is None:
            self._draft = self.text
        elif self.text != self.prompts_sent[self._recalled]:
            self._edited[self._recalled] = self.text
        self._recalled = index
        if index is None:
            self.text = self._draft
        else:
            self.text = self._edited.get(index, self.prompts_sent[index])
        self.move_cursor(self.document.end)

    def action_cursor_up(self, select: bool = False) -> None:
        if (
            select
            or self.selected_text
            or not self.navigator.is_first_wrapped_line(self.cursor_location)
        ):
            super().action_cursor_up(select)
            return
        index = len(self.prompts_sent) if self._recalled is None else self._recalled
        if index == 0:
            super().action_cursor_up(select)  # the oldest: to the start, as before
            return
        self._show(index - 1)

    def action_cursor_down(self, select: bool = False) -> None:
        if (
            select
            or self.selected_text
            or self._recalled is None
            or not self.navigator.is_last_wrapped_line(self.cursor_location)
        ):
            super().action_cursor_down(select)
            return
        newer = self._recalled + 1
        self._show(newer if newer < len(self.prompts_sent) else None)

    @property
    def recalling(self) -> bool:
        """A prompt from the history is shown (not the one being typed)."""
        return self._recalled is not None

    async def _on_key(self, event: events.Key) -> None:
        if event.key == "enter":
            event.prevent_default()
            event.stop()
            text = self.text.strip()
            if text:
                self.post_message(self.Submitted(self, text))
            return
        if event.key in ("shift+enter", "ctrl+j"):
            event.prevent_default()
            event.stop()
            self.insert("\n")
            return
        await super()._on_key(event)

    def _set_document(self, text: str, language: str | None) -> None:
        super()._set_document(text, language)
        self.wrapped_document = IncrementalWrapping(self.document, tab_width=self.indent_width)
        self.navigator = DocumentNavigator(self.wrapped_document)
        self._rewrap_and_refresh_virtual_size()

    def get_line(self, line_index: int) -> Text:
        return WrappedLine(self.document.get_line(line_index), end="", no_wrap=True)

    def render_line(self, y: int) -> Strip:
        # Squeezed to no width (a small terminal), TextArea wraps its placeholder to width 0,
        # which Rich cannot do (ValueError): nothing fits there anyway.
        if self.content_size.width < 1:
            return Strip.blank(self.size.width, self.rich_style)
        return super().render_line(y)
