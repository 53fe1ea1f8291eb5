"""The saved conversations: search as you type, then open, rename, delete (with undo) or
start a new one. It posts what the user asked for; the app reads and writes the store."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from rigtui.text.safe import literal
from rigtui.ui.messages import (
    ConversationDeleteRequested,
    ConversationOpenRequested,
    ConversationRenameRequested,
    ConversationRestoreRequested,
    ConversationsWanted,
    NewChatRequested,
)
from rigtui.ui.render.conversations import conversation_entry

if TYPE_CHECKING:
    from rigtui.store.conversation import ConversationSummary


class ConversationList(Vertical):
    BINDINGS = [
        Binding("ctrl+n", "new", "New", id="chats-new", tooltip="A new, empty conversation"),
        Binding("f2", "rename", "Rename", id="chats-rename", tooltip="Rename the highlighted chat"),
        Binding(
            "delete",
            "delete",
            "Delete",
            id="chats-delete",
            tooltip="Delete the highlighted chat (ctrl+z brings it back until rigtui quits)",
        ),
        Binding(
            "ctrl+z",
            "undo",
            "Undo delete",
            id="chats-undo",
            tooltip="Bring back the chat deleted last",
        ),
    ]

    def __init__(self, *, id: str | None = None, classes: str = "") -> None:
        super().__init__(id=id, classes=classes)
        self.summaries: list[ConversationSummary] = []
        self.problem = ""
        self.listed = 0
        """Listings shown so far (tests wait on it)."""

    def compose(self) -> ComposeResult:
        yield Input(placeholder="Search chats…", id="chats-search", compact=True)
        yield OptionList(id="chats-options")
        yield Static("", id="chats-status")

    def on_mount(self) -> None:
        self.border_title = "Chats"
        self.ask()

    @property
    def search(self) -> str:
        """What the search field holds (empty before it exists)."""
        found = self.query("#chats-search").results(Input)
        return next((field.value for field in found), "")

    @property
    def options(self) -> OptionList:
        return self.query_one("#chats-options", OptionList)

    def ask(self) -> None:
        """Ask the app for the conversations that match the search (again)."""
        self.post_message(ConversationsWanted(self, self.search))

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.ask()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_open()

    def on_key(self, event: events.Key) -> None:
        # From the search field down into the list, as in a browser's address bar.
        if event.key == "down" and isinstance(self.app.focused, Input):
            event.stop()
            self.options.focus()

    def show(
        self,
        summaries: list[ConversationSummary],
        search: str,
        today: date,
        open_id: int | None = None,
    ) -> None:
        """The conversations that match ``search`` (a listing for an older search is dropped);
        ``open_id``: the chat on screen, marked, and highlighted unless the user is moving
        along the list."""
        if search != self.search or not self.is_mounted:
            return
        self.listed += 1
        options = self.options
        highlighted = self.highlighted
        self.summaries = summaries
        options.clear_options()
        width = options.scrollable_content_region.width or 24
        options.add_options(
            Option(
                conversation_entry(summary, today, width, is_open=summary.id == open_id),
                id=str(summary.id),
            )
            for summary in summaries
        )
        ids = [summary.id for summary in summaries]
        if summaries:
            keep = highlighted.id if highlighted is not None and highlighted.id in ids else None
            if not options.has_focus and open_id in ids:
                keep = open_id
            options.highlighted = ids.index(keep) if keep is not None else 0
        if self.problem:
            return
        if summaries:
            self._say("")
        elif search.strip():
            self._say(literal(f"No saved chat holds “{search.strip()}”."))
        else:
            self._say("No saved chats yet: the first prompt starts one.")

    def show_problem(self, problem: str) -> None:
        """Why nothing is kept (no data directory, a damaged database...)."""
        self.problem = problem
        if self.is_mounted:
            self._say(literal(problem, style="bold"))

    def _say(self, text) -> None:
        status = self.query_one("#chats-status", Static)
        status.update(text)
        status.display = bool(text)

    @property
    def highlighted(self) -> ConversationSummary | None:
        index = self.options.highlighted
        if index is None or not 0 <= index < len(self.summaries):
            return None
        return self.summaries[index]

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.action_open()

    def action_open(self) -> None:
        chosen = self.highlighted
        if chosen is not None:
            self.post_message(ConversationOpenRequested(chosen.id))

    def action_new(self) -> None:
        self.post_message(NewChatRequested())

    def action_rename(self) -> None:
        chosen = self.highlighted
        if chosen is None:
            self.app.bell()
            return
        self.post_message(ConversationRenameRequested(chosen.id, chosen.title))

    def action_delete(self) -> None:
        chosen = self.highlighted
        if chosen is None:
            self.app.bell()
            return
        self.post_message(ConversationDeleteRequested(chosen.id, chosen.title))

    def action_undo(self) -> None:
        self.post_message(ConversationRestoreRequested())
