"""The saved conversations over the screen (a narrow terminal's sidebar, or ctrl+f anywhere)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, Static

from rigtui.ui.messages import ConversationOpenRequested, NewChatRequested
from rigtui.ui.widgets.conversation_list import ConversationList


class ConversationPickerScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape", "dismiss", "Close", id="close-chats")]

    def compose(self) -> ComposeResult:
        with Vertical(id="picker-body"):
            yield ConversationList(id="chats-picker")
            yield Static(
                "Type to search · ↓ to the list · Enter opens · F2 renames · Del deletes "
                "(ctrl+z undoes) · ctrl+n new · Esc closes",
                classes="picker-keys",
            )
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#chats-search").focus()

    def on_conversation_open_requested(self, _event: ConversationOpenRequested) -> None:
        self.dismiss()  # the message goes on to the app, which opens it

    def on_new_chat_requested(self, _event: NewChatRequested) -> None:
        self.dismiss()
