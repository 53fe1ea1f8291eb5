"""Where the prompt is typed: Enter sends, Shift+Enter or Ctrl+J starts a new line."""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.document._document_navigator import DocumentNavigator
from textual.message import Message
from textual.strip import Strip
from textual.widgets import TextArea

from rigtui.ui.tuning.long_prompt import IncrementalWrapping, WrappedLine


class PromptInput(TextArea):
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
