"""Every key binding, gathered from the app and the dashboard so the list cannot go stale.

Only the keys that work in this mode: live, the replay keys are left out; replaying, the
sampling keys (as the app's ``check_action`` says).
"""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.actions import parse
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

EXTRA_KEYS = (
    ("tab / shift+tab", "Move the focus between panes"),
    ("↑ ↓ page up/down", "Scroll a table or pane"),
    ("ctrl+p", "Command palette: tabs, pause, speed, help, chat, theme, quit"),
    ("ctrl+q", "Quit, from anywhere"),
)


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape,q,question_mark", "dismiss", "Close", id="close-help"),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-body"):
            yield Static(self._table(), id="help-table")
            yield Static(
                Text(
                    "Press Esc, q or ? to close. The mouse works too: click a tab, scroll a table.",
                    style="dim",
                ),
                id="help-footer",
            )

    def _works_here(self, binding: Binding) -> bool:
        """What the app's ``check_action`` says of the binding's action (outside a text field:
        where the help was opened from)."""
        _, action, parameters = parse(binding.action)
        return self.app.check_action(action, parameters) is not False

    def _table(self) -> Table:
        table = Table(title="rigtui keys", expand=True, show_edge=False, box=None, padding=(0, 2))
        table.add_column("Key", style="bold", no_wrap=True)
        table.add_column("What it does")
        from rigtui.ui.widgets.chat_pane import ChatPane

        screens = [screen for screen in self.app.screen_stack if screen is not self]
        groups = [("Everywhere", [self.app, *screens])]
        from rigtui.ui.widgets.process_pane import ProcessPane

        groups.append(("In the Processes tab (3)", [ProcessPane]))
        if self.app.check_action("show_tab", ("fleet-tab",)) is not False:
            from rigtui.ui.widgets.fleet_pane import FleetPane

            groups.append(("In the Fleet tab (5)", [FleetPane]))  # with --prometheus
        if self.app.check_action("show_tab", ("chat-tab",)) is not False:
            groups.append(("In the chat (tab 4)", [ChatPane]))  # not without Ollama
            from rigtui.ui.widgets.conversation_list import ConversationList

            groups.append(("In the saved chats (ctrl+f)", [ConversationList]))
            from rigtui.ui.widgets.loaded_models import LoadedModels

            groups.append(("In the Ollama pane (Rig tab; Tab to it)", [LoadedModels]))
        for title, sources in groups:
            table.add_row(Text(title, style="bold underline"), "")
            seen: set[str] = set()
            for source in sources:
                for binding in getattr(source, "BINDINGS", []):
                    if not isinstance(binding, Binding) or not binding.description:
                        continue
                    if source is self.app and not self._works_here(binding):
                        continue
                    key = self.app.get_key_display(binding) if binding.key_display else binding.key
                    if key in seen:
                        continue
                    seen.add(key)
                    table.add_row(key.replace(",", " / "), binding.tooltip or binding.description)
        table.add_row(Text("Anywhere", style="bold underline"), "")
        for key, description in EXTRA_KEYS:
            table.add_row(key, description)
        table.add_row("enter / shift+enter", "In the prompt: send / new line")
        table.add_row("↑ / ↓", "In the prompt, from its first / last row: earlier / later prompts")
        return table
