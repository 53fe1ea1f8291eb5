"""What the dashboard remembers under data_dir: prompt history, presets and settings, read
and written off the UI loop.

A part of :class:`rigtui.ui.app.RigApp` (a mixin: ``self`` is the app), kept apart so the app
stays the place that binds keys and owns lifetimes, and each feature's routing reads on its own.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from textual import work
from textual.widgets import TabbedContent

from rigtui.store.presets import PresetBook
from rigtui.store.prompts import PromptHistory
from rigtui.store.state import RememberedState, options_from_state
from rigtui.ui import messages as said
from rigtui.ui.bindings import TAB_KEYS

REMEMBER_AFTER_S = 1.0
"""Remembered settings are written this long after the last change: a theme previewed in the
palette, or + pressed five times, is one write."""


class RememberedWiring:
    # --- remembered: prompt history, presets, settings (data_dir) -------------------------------

    @work(thread=True, group="kept", name="kept-read")
    def _read_kept(self) -> None:
        data_dir = self.settings.data_dir
        history = PromptHistory.load(data_dir)
        book = PresetBook.load(data_dir)
        state = RememberedState.load(data_dir)
        problems = [each.problem for each in (history, book, state) if each.problem]
        if history.skipped:
            problems.append(f"{history.skipped} damaged line(s) of the prompt history skipped")
        self.prompt_history, self.preset_book, self._remembered_read = history, book, state
        self.post_message(
            said.KeptRead(list(history.prompts), dict(book.presets), dict(state.values), problems)
        )

    def on_kept_read(self, message: said.KeptRead) -> None:
        self.remembered = self._remembered_read
        for problem in message.problems:
            self._tell_once(problem)
        remembered = message.remembered
        if self.source.ollama_address is not None:
            chat = self.dashboard.chat
            chat.query_one("#prompt").recall_from(message.prompts)
            chat.presets = dict(message.presets)
            if remembered.get("chat_options"):
                chat.apply_options(options_from_state(remembered["chat_options"]))
            if remembered.get("model"):
                chat.remembered_model = remembered["model"]
                if chat.installed:
                    chat.show_installed(chat.installed)
        if remembered.get("tab") in {tab for _, tab, _, _ in TAB_KEYS}:
            # After the focus the first tab's activation asked for: a focus given to the first
            # tab after the switch would switch back (and the two would take turns forever).
            self.call_after_refresh(self._show_remembered_tab, remembered["tab"])

    def _show_remembered_tab(self, tab: str) -> None:
        tabs = self.dashboard.query_one(TabbedContent)
        first = TAB_KEYS[0][1]
        if self._tab_chosen or tabs.active != first:
            return  # the user chose a tab while this was read (maybe the first, once more)
        if self.check_action("show_tab", (tab,)) is not False:
            self.action_show_tab(tab)

    def _tell_once(self, problem: str) -> None:
        if problem not in self._problems_told:
            self._problems_told.add(problem)
            self.notify(problem, title="rigtui", severity="warning", timeout=10)

    def _remember(self, **values) -> None:
        """Note a choice to remember: written a moment after the last change, off the loop."""
        if self.remembered is None or not self.remembered.remember(**values):
            return
        if self._remember_timer is not None:
            self._remember_timer.stop()
        self._remember_timer = self.set_timer(REMEMBER_AFTER_S, self._save_remembered)

    @work(thread=True, group="kept", name="kept-remember")
    def _save_remembered(self) -> None:
        if self.remembered is not None and (problem := self.remembered.save()):
            self.call_from_thread(self._tell_once, problem)

    def _save_remembered_now(self) -> None:
        """At the end: what changed in the last moment is written too."""
        if self.remembered is not None:
            self.remembered.save()

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        if event.tabbed_content.id == "tabs" and event.pane.id:
            self._remember(tab=event.pane.id)
            if event.pane.id != TAB_KEYS[0][1]:
                self._tab_chosen = True

    def on_model_chosen(self, message: said.ModelChosen) -> None:
        self._remember(model=message.model)

    def on_prompt_kept(self, message: said.PromptKept) -> None:
        self._keep_prompt(message.prompt)

    @work(thread=True, group="kept", name="kept-prompt")
    def _keep_prompt(self, prompt: str) -> None:
        history = self.prompt_history
        told = history.problem
        history.add(prompt)
        if history.problem and history.problem != told:
            self.call_from_thread(self._tell_once, history.problem)

    def on_preset_saved(self, message: said.PresetSaved) -> None:
        self.dashboard.chat.presets[message.name] = message.system_prompt
        self._write_presets(partial(self.preset_book.save, message.name, message.system_prompt))

    def on_preset_deleted(self, message: said.PresetDeleted) -> None:
        self.dashboard.chat.presets.pop(message.name, None)
        self._write_presets(partial(self.preset_book.delete, message.name))

    @work(thread=True, group="kept", name="kept-presets")
    def _write_presets(self, change: Callable[[], str | None]) -> None:
        if problem := change():
            self.call_from_thread(self._tell_once, problem)
