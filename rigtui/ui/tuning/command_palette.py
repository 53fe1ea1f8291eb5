"""Textual's command palette, steady under a page key pressed as it opens.

Ctrl+P then PageDown within about 0.1 s ended the app with ``KeyError: 0`` (Textual 8.2.8, a
plain ``App`` too): the palette highlights its first command as soon as the list is filled,
and ``OptionList._move_page`` looks the highlight up in the line map, which is built only when
the list is first laid out. Here a page key that comes before that waits for the next refresh.
See contrib/upstream/textual-command-palette-pagedown.md.
"""

from __future__ import annotations

from textual.command import CommandList, CommandPalette

PAGE_ACTIONS = frozenset({"page_down", "page_up"})


class SteadyCommandPalette(CommandPalette):
    def _action_command_list(self, action: str) -> None:
        if action in PAGE_ACTIONS and not self._laid_out():
            self.call_after_refresh(self._page_when_laid_out, action)
            return
        super()._action_command_list(action)

    def _page_when_laid_out(self, action: str) -> None:
        if self._laid_out():  # else the list closed, or has nothing to page through
            super()._action_command_list(action)

    def _laid_out(self) -> bool:
        commands = self.query_one(CommandList)
        if commands.highlighted is None:
            return True  # Textual's page key then goes to the last command: no lookup
        return bool(getattr(commands, "_index_to_line", True))
