"""Where the prompt is typed: Enter sends, Shift+Enter or Ctrl+J starts a new line."""

from __future__ import annotations

from textual import events
from textual.message import Message
from textual.strip import Strip
from textual.widgets import TextArea


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
        self.placeholder = (
            "Ask the model…  (Enter sends · Shift+Enter new line · /pull NAME · /clear)"
        )

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

    def render_line(self, y: int) -> Strip:
        # Squeezed to no width (a small terminal), TextArea wraps its placeholder to width 0,
        # which Rich cannot do (ValueError): nothing fits there anyway.
        if self.content_size.width < 1:
            return Strip.blank(self.size.width, self.rich_style)
        return super().render_line(y)
