"""Textual's TabbedContent, deaf to news of a focus that has already moved on.

A widget focused inside a tab pane makes that pane the active tab: the pane hears of the focus
(``DescendantFocus``) and tells the tabs (``TabPane.Focused``), each a message on a queue. A tab
key read while those messages wait was undone when they arrived: under load, Alt+3 and then
Alt+1 ended on tab 3, as the Processes tab's own focus reached the tabs after the key.
"""

from __future__ import annotations

from textual.widgets import TabbedContent, TabPane


class SteadyTabbedContent(TabbedContent):
    def on_tab_pane_focused(self, event: TabPane.Focused) -> None:
        focused = self.screen.focused
        if focused is None or event.tab_pane not in focused.ancestors:
            # The focus left that pane before this came (it runs before Textual's own
            # handler, which prevent_default skips).
            event.prevent_default()
            event.stop()
