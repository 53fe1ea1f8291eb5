"""RigApp: binds the keys, owns the lifetimes of the engines, and routes what they report.

The engines know nothing of Textual: ``telemetry.pacing`` samples, ``llm.watch`` watches Ollama,
``llm.reply`` streams one reply. Thin workers here run them and turn what they report into
messages (``ui/messages.py``), each carrying its data; the handlers hand the data to the screen.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import date
from functools import partial
from pathlib import Path

from textual import on, work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.command import CommandPalette
from textual.message import Message
from textual.widgets import Input, TabbedContent, TextArea
from textual.worker import Worker, get_current_worker

from rigtui.config import INTERVAL_MAX_S, INTERVAL_MIN_S, Settings
from rigtui.insight.fit import FitEstimate
from rigtui.insight.fits import fit_estimates, load_predictions
from rigtui.insight.rig import RigInsight
from rigtui.llm.keep_alive import describe_keep_alive
from rigtui.llm.ollama import ChatOptions, ModelFacts, OllamaClient, OllamaError
from rigtui.llm.placement import cross_check, processor_split, runner_gpus
from rigtui.llm.reply import Batches, Reply
from rigtui.llm.stats import ReplyStats
from rigtui.llm.watch import Connected, Disconnected, FactsRead, Listed, OllamaWatch, Running
from rigtui.recording import ReplayCursor
from rigtui.sources import DashboardSource
from rigtui.store.presets import PresetBook
from rigtui.store.prompts import PromptHistory
from rigtui.store.state import RememberedState, options_from_state, options_to_state
from rigtui.telemetry.history import History, snapshot_values
from rigtui.telemetry.model import RigSnapshot
from rigtui.telemetry.opening import Opened
from rigtui.telemetry.pacing import NewestWins, PaceClock, SamplingLoop
from rigtui.telemetry.signals import PidOrigin, ProcessSignals, SignalCheck, SignalTarget
from rigtui.ui import messages as said
from rigtui.ui.bindings import APP_BINDINGS, TAB_KEYS
from rigtui.ui.screens.confirm_signal import ConfirmSignalScreen
from rigtui.ui.screens.dashboard import DashboardScreen
from rigtui.ui.screens.delete_model import DeleteModelScreen
from rigtui.ui.screens.help import HelpScreen
from rigtui.ui.screens.model_chooser import ModelChoice, ModelChooserScreen
from rigtui.ui.tuning.command_palette import SteadyCommandPalette
from rigtui.ui.tuning.garbage import (
    freeze_startup_objects,
    hold_full_collections,
    release_full_collections,
)
from rigtui.ui.tuning.surviving import SurvivesErrors
from rigtui.ui.widgets.loaded_models import LoadedModels
from rigtui.ui.widgets.process_pane import ProcessPane

INTERVAL_STEPS = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)
STARTUP_SETTLED_S = 5.0
"""By then the modules, widgets and history that live as long as the app are all there."""
GENERATING = "llm.generating"
REPLY_FLUSH_S = 0.05
"""Streamed text reaches the screen at most 20 times a second (see ``llm.reply.Batches``)."""
REPLAY_TICK_S = 0.1
PULL_PROGRESS_S = 0.1
REMEMBER_AFTER_S = 1.0
"""Remembered settings are written this long after the last change: a theme previewed in the
palette, or + pressed five times, is one write."""
TYPED_ACTIONS = {"quit", "toggle_pause", "slower", "faster", "help", "show_tab"}
"""Actions bound to a printable key: a text field with the focus takes the key as text."""


class RigApp(SurvivesErrors, App):
    CSS_PATH = "app.tcss"
    TITLE = "rigtui"
    BINDINGS = APP_BINDINGS

    def __init__(
        self,
        settings: Settings,
        source: DashboardSource,
        *,
        pace_clock: PaceClock | None = None,
        ollama_watch: Callable[[OllamaClient], OllamaWatch] | None = None,
        fleet_watch: Callable | None = None,
    ) -> None:
        """``source`` (from ``rigtui.sources``): a sampler being opened, or a recording.
        ``pace_clock``: the sampling loop's time, else the monotonic clock; ``ollama_watch``
        makes the watch for the client (tests hand in its waits)."""
        super().__init__()
        self._pace_clock = pace_clock
        self._make_watch = ollama_watch or OllamaWatch
        self._make_fleet_watch = fleet_watch
        """Makes the Fleet tab's ``FleetWatch`` for a ``PrometheusClient`` (tests step it)."""
        self.prometheus = None
        self.fleet_watch = None
        self.settings = settings
        self.source = source
        self.replay = ReplayCursor(source.replay) if source.replay is not None else None
        self._replay_shown = -1
        self._standing_problem = ""
        self.interval_s = settings.interval_s
        self.paused = False
        self.history = History(settings.history_capacity)
        self.snapshot: RigSnapshot | None = None
        self.snapshots_shown = 0
        self.sampling: SamplingLoop | None = None
        self._handover = NewestWins()
        self.ollama: OllamaClient | None = None
        self.watch: OllamaWatch | None = None
        self._ollama_starting = False
        self.ollama_connected = False
        self.ollama_version: str | None = None
        self.running_models: list = []
        self.model_facts: dict[str, ModelFacts] = {}
        self.generating = False
        self.pulls: dict[str, Worker] = {}
        """The pulls going on, by model: Esc (or Cancel) cancels one."""
        self._collections_held = 0
        """Replies that hold back full garbage collections (see ``ui/tuning/garbage.py``)."""
        self.rig_insight = RigInsight()
        self.insights: dict = {}
        self.theme = settings.theme
        self.keeper = None
        """The saved chats' writer (``store.keeper.ChatKeeper``), once the store is open."""
        self.chats_off = ""
        """Why the chats are not saved (empty while they are, or until the store is open)."""
        self._deleted_chats: list[tuple[int, str]] = []
        # What the data directory keeps: read on a thread at the start (see "remembered").
        self.prompt_history = PromptHistory(None)
        self.preset_book = PresetBook(None)
        self.remembered: RememberedState | None = None
        """None until read: what changes before that (the first tab shown) is not a choice."""
        self._remembered_read: RememberedState | None = None
        self._remember_timer = None
        self._problems_told: set[str] = set()

    # --- lifetime ---------------------------------------------------------------------------

    def get_driver_class(self):
        """On Linux and macOS, a driver whose input thread sleeps until there is input
        (``ui/tuning/quiet_driver.py``)."""
        driver = super().get_driver_class()
        try:
            from textual.drivers.linux_driver import LinuxDriver
        except ImportError:  # Windows
            return driver
        if driver is LinuxDriver:
            from rigtui.ui.tuning.quiet_driver import QuietLinuxDriver

            return QuietLinuxDriver
        return driver

    def get_default_screen(self) -> DashboardScreen:
        self._dashboard = DashboardScreen(
            self.interval_s,
            self.source.label,
            on_ready=self._start_sources,
            chat=self.source.ollama_address is not None,
            fleet_server=self.settings.prometheus_url,
        )
        return self._dashboard

    @property
    def dashboard(self) -> DashboardScreen:
        return self._dashboard

    @property
    def sampler(self):
        return self.sampling.sampler if self.sampling is not None else None

    @property
    def power_rounds(self) -> bool:
        return self.sampling.power_rounds if self.sampling is not None else True

    def on_mount(self) -> None:
        self._start_metrics()
        self.theme_changed_signal.subscribe(self, self._theme_changed)
        self.app_resume_signal.subscribe(self, self._draw_all_again)
        self.set_timer(STARTUP_SETTLED_S, self._freeze_when_quiet)
        self._start_fleet()

    def _draw_all_again(self, _app: App) -> None:
        """After ``fg``: the terminal's screen was the shell's, and Textual, seeing the same
        size, repainted only what had changed since (the footer and borders stayed blank)."""
        self.screen.refresh(repaint=True, layout=True)

    def _freeze_when_quiet(self) -> None:
        if self.generating:
            # The collection before the freeze stalls the app for about 100 ms: not in the
            # middle of a reply someone is watching.
            self.set_timer(STARTUP_SETTLED_S, self._freeze_when_quiet)
            return
        freeze_startup_objects()

    async def _on_message(self, message: Message) -> None:
        # Textual still dispatches what was queued when the app began to shut down; ours would
        # update widgets that are gone by then.
        if isinstance(message, said.RigMessage) and not self.is_running:
            return
        await super()._on_message(message)

    async def on_unmount(self) -> None:
        if self.sampling is not None:
            self.sampling.stop()  # it may sleep up to a minute: woken, it ends
        self._stop_metrics()
        while self._collections_held:  # a reply was cut short by quitting
            self._release_collections()
        if self.ollama is not None:
            await self.ollama.close()
        await self._close_fleet()
        self._close_saved_chats()
        self._save_remembered_now()

    def _theme_changed(self, _theme) -> None:
        # The panels repaint only the lines whose text changed: new colours are not a change.
        for widget in self.dashboard.query("*"):
            widget.refresh()
        self._remember(theme=self.theme)

    # --- readings ---------------------------------------------------------------------------

    def _start_sources(self) -> None:
        """The dashboard's widgets exist: readings (or the replay) may start to reach them."""
        self._on_started()  # from now on an error on the screen is reported, not fatal
        self._open_saved_chats()
        self._read_kept()  # the prompt history, presets and remembered settings
        if self.replay is not None:
            self._start_replay()
        elif self.source.opening is not None:
            if self.source.opening.ready:
                # Opened while the dashboard was imported: the first frame shows the first reading.
                self._take_opened(self.source.opening.result())
            else:
                self._wait_for_opening()

    @work(thread=True, exclusive=True, group="sampler-opening", name="sampler-opening")
    def _wait_for_opening(self) -> None:
        """Opens the sampler here if nobody started it, else waits for its own thread."""
        worker = get_current_worker()
        opened = None
        while opened is None and not worker.is_cancelled:
            opened = self.source.opening.result(timeout_s=0.1)
        if opened is not None:
            self.post_message(said.SamplerReady(opened))

    def on_sampler_ready(self, message: said.SamplerReady) -> None:
        self._take_opened(message.opened)

    def _take_opened(self, opened: Opened) -> None:
        for snapshot in opened.history:
            self.history.add_snapshot(snapshot)
            # So a model load that is under way when the dashboard opens is measured already.
            self.rig_insight.update(snapshot)
        if opened.status is not None:
            self.dashboard.show_status(opened.status)
        if opened.first is not None:
            self.show_snapshot(opened.first)
        elif opened.error:
            self._source_failed(opened.error)
        if opened.sampler is not None:
            self.sampling = SamplingLoop(
                opened.sampler,
                interval_s=self.interval_s,
                on_snapshot=self._hand_over,
                on_failure=lambda error: self.post_message(said.SourceFailed("sampler", error)),
                clock=self._pace_clock,
            )
            self.sampling.paused = self.paused
            # The opening stamped its reading on time.monotonic; a clock handed in keeps time
            # of its own, on which the reading was taken just now.
            first_at = opened.first_at if self._pace_clock is None else self.sampling.clock.now()
            self._sample_forever(self.sampling, opened.first, first_at)

    @work(thread=True, exclusive=True, group="sampler", name="sampler")
    def _sample_forever(
        self, sampling: SamplingLoop, first: RigSnapshot | None, first_at: float
    ) -> None:
        sampling.run(first, first_at if first is not None else None)

    def _hand_over(self, snapshot: RigSnapshot) -> None:
        """On the sampling thread. A message only if the last was taken: a backlog collapses."""
        if self._handover.put(snapshot):
            self.post_message(said.SnapshotTaken(snapshot))

    def on_snapshot_taken(self, message: said.SnapshotTaken) -> None:
        # The newest reading: the message's, or one taken since it was posted.
        self.show_snapshot(self._handover.take() or message.snapshot)

    def show_snapshot(self, snapshot: RigSnapshot) -> None:
        self.snapshot = snapshot
        self._feed_metrics(snapshot)
        values = snapshot_values(snapshot)
        values[GENERATING] = 1.0 if self.generating else None
        self.history.add(snapshot.taken_at, values)
        self.snapshots_shown += 1
        if self.snapshots_shown == 1:
            self.call_after_refresh(self._start_ollama)
        # A fresh reading clears a sampling error; a damaged recording stays noted.
        self.dashboard.header.problem = self._standing_problem
        self.insights = self.rig_insight.update(snapshot, self.running_models)
        self.dashboard.show_snapshot(
            snapshot, self.history, self.settings.history_minutes * 60, self.insights
        )
        if self.running_models:
            self._show_running()
        if self.watch is not None:
            self.watch.observe(snapshot)
        if self.model_facts and self.snapshots_shown % 5 == 1:
            self._show_fits()

    def on_source_failed(self, message: said.SourceFailed) -> None:
        self._source_failed(message.error)

    def _source_failed(self, error: str) -> None:
        self.dashboard.header.problem = error
        self.notify(error, title="rigtui", severity="error", timeout=8)
        # No reading may ever come to start it: the chat must work all the same.
        self._start_ollama()

    # --- actions ------------------------------------------------------------------------------

    def action_toggle_pause(self) -> None:
        if self.replay is not None:
            self._toggle_replay()
            return
        self.paused = not self.paused
        self.dashboard.header.paused = self.paused
        if self.sampling is not None:
            self.sampling.paused = self.paused

    def action_slower(self) -> None:
        self._set_interval(next((s for s in INTERVAL_STEPS if s > self.interval_s), INTERVAL_MAX_S))

    def action_faster(self) -> None:
        self._set_interval(
            next((s for s in reversed(INTERVAL_STEPS) if s < self.interval_s), INTERVAL_MIN_S)
        )

    def _set_interval(self, interval_s: float) -> None:
        if interval_s == self.interval_s:
            self.bell()
            return
        self.interval_s = interval_s
        self._remember(interval_s=interval_s)
        self.history.resize(max(2, round(self.settings.history_minutes * 60 / interval_s)))
        self.dashboard.header.interval_s = interval_s
        if self.sampling is not None:
            self.sampling.interval_s = interval_s

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_show_tab(self, tab: str) -> None:
        tabs = self.dashboard.query_one(TabbedContent)
        if tab != tabs.active and self.dashboard.focused is not None:
            # Hidden with the focus, a widget hands it to a neighbour in the same pane, and a
            # focus inside a pane makes that pane the active tab again: let go of it first.
            self.dashboard.set_focus(None)
        tabs.active = tab
        if tab == "chat-tab":
            self.call_after_refresh(self.dashboard.query_one("#prompt").focus)

    def action_command_palette(self) -> None:
        if self.use_command_palette and not CommandPalette.is_open(self):
            self.push_screen(SteadyCommandPalette(id="--command-palette"))

    def get_system_commands(self, screen):
        """rigtui's own actions in the command palette (Ctrl+P), beside Textual's (theme, keys,
        quit): only those that work in this mode."""
        if self.replay is not None:
            yield SystemCommand(
                "Play or pause the replay", "The replay holds still (p)", self.action_toggle_pause
            )
        else:
            pausing = "Resume sampling" if self.paused else "Pause sampling"
            yield SystemCommand(pausing, "The screen holds still (p)", self.action_toggle_pause)
            yield SystemCommand("Sample faster", "A shorter interval (-)", self.action_faster)
            yield SystemCommand("Sample slower", "A longer interval (+)", self.action_slower)
        for digit, tab, title, tooltip in TAB_KEYS:
            if tab == "chat-tab" and self.source.ollama_address is None:
                continue
            if tab == "fleet-tab" and self.settings.prometheus_url is None:
                continue
            yield SystemCommand(
                f"{title} tab",
                f"{tooltip} ({digit}, alt+{digit})",
                partial(self.action_show_tab, tab),
            )
        yield SystemCommand("Help: every key", "The keys of this screen (?)", self.action_help)
        yield from self._process_commands()
        if self.source.ollama_address is not None:
            yield SystemCommand("New chat", "Start a new conversation (ctrl+n)", self._new_chat)
            yield SystemCommand(
                "Chat options",
                "System prompt, temperature, num_ctx, num_gpu, keep_alive (ctrl+o)",
                self._chat_options,
            )
            yield from self._saved_chat_commands()
            yield from self._model_control_commands()
        yield from super().get_system_commands(screen)

    def _new_chat(self) -> None:
        self.action_show_tab("chat-tab")
        self.dashboard.chat.action_new_chat()

    def _chat_options(self) -> None:
        self.action_show_tab("chat-tab")
        self.dashboard.chat.action_options()

    def get_key_display(self, binding: Binding) -> str:
        if binding.id == "tab-rig-anywhere" and self.settings.prometheus_url is not None:
            return "alt+1…5"  # the Fleet tab
        if binding.id == "tab-rig-anywhere" and self.source.ollama_address is None:
            return "alt+1…3"  # no Chat tab without Ollama
        return super().get_key_display(binding)

    def action_switch_tab(self, tab: str) -> None:
        """Alt+digit: the digit's tab, from a text field too."""
        self.action_show_tab(tab)

    def action_interrupt(self) -> None:
        """Ctrl+C: quits, as in nvitop and btop; a selection in a text field is copied instead."""
        focused = self.focused
        if isinstance(focused, TextArea | Input) and focused.selected_text:
            focused.action_copy()
            return
        self.exit()

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if parameters == ("chat-tab",) and self.source.ollama_address is None:
            return False  # without Ollama there is no Chat tab to show
        if parameters == ("fleet-tab",) and self.settings.prometheus_url is None:
            return False  # without --prometheus there is no Fleet tab
        typing = isinstance(self.focused, TextArea | Input)
        if action in {"seek", "replay_faster", "replay_slower", "seek_start", "seek_end"}:
            # Arrow keys stay with a text field that has the focus.
            return self.replay is not None and not typing
        if typing and action in TYPED_ACTIONS:
            return False  # its key is a character there: off the footer
        if action in {"slower", "faster"}:
            return self.replay is None
        return True

    # --- Ollama: watching the server ----------------------------------------------------------

    def _start_ollama(self) -> None:
        """After the first reading is shown (or sampling failed). The client library takes a
        fifth of a second to import (pydantic, httpx): on a thread, so that neither the first
        complete frame nor the keys pressed meanwhile wait for it."""
        if self.source.ollama_address is not None and not self._ollama_starting:
            self._ollama_starting = True
            self._import_ollama()

    @work(thread=True, group="ollama-import", name="ollama-import")
    def _import_ollama(self) -> None:
        import ollama  # noqa: F401

        self.post_message(said.OllamaImported())

    def on_ollama_imported(self, _message: said.OllamaImported) -> None:
        self.ollama = OllamaClient(self.source.ollama_address)
        self.watch = self._make_watch(self.ollama)
        if self.snapshot is not None:
            self.watch.observe(self.snapshot)
        self._watch_ollama(self.watch)

    @work(exclusive=True, group="ollama-watch", name="ollama-watch")
    async def _watch_ollama(self, watch: OllamaWatch) -> None:
        address = self.source.ollama_address.display
        async for event in watch.events():
            if isinstance(event, Running):
                self.post_message(said.ModelsRunning(event.models))
            elif isinstance(event, Listed):
                self.post_message(said.ModelsListed(event.models))
            elif isinstance(event, FactsRead):
                self.post_message(said.ModelFactsRead(event.facts))
            elif isinstance(event, Connected):
                self.post_message(said.OllamaConnected(address, event.version))
            elif isinstance(event, Disconnected):
                self.post_message(said.OllamaDisconnected(address, event.error, event.retry_in_s))

    def refresh_ollama(self) -> None:
        """Read the models now (after a pull, a finished reply), beside the watch's polls."""
        if self.watch is not None:
            self._poll_once(self.watch)

    @work(group="ollama-once")
    async def _poll_once(self, watch: OllamaWatch) -> None:
        try:
            listed, running = await watch.read_now()
        except OllamaError:
            return  # the watch reports it
        self.post_message(said.ModelsListed(listed.models))
        self.post_message(said.ModelsRunning(running.models))

    def on_ollama_connected(self, message: said.OllamaConnected) -> None:
        self.ollama_connected = True
        self.ollama_version = message.version
        self.dashboard.show_ollama(f"Ollama {message.version} at {message.address}", "")

    def on_ollama_disconnected(self, message: said.OllamaDisconnected) -> None:
        self.ollama_connected = False
        self.running_models = []
        self.dashboard.show_ollama(f"Ollama at {message.address}", message.error)

    def on_models_listed(self, message: said.ModelsListed) -> None:
        self.dashboard.chat.show_installed(message.models)

    def on_model_facts_read(self, message: said.ModelFactsRead) -> None:
        self.model_facts.update(message.facts)
        self._show_fits()

    def on_models_running(self, message: said.ModelsRunning) -> None:
        changed = message.models != self.running_models
        self.running_models = message.models
        if changed and self.snapshot is not None:
            # A model loaded, unloaded or split: say so now, not at the next sample.
            self.insights = self.rig_insight.assess(self.snapshot, self.running_models)
            self.dashboard.show_insights(self.insights)
        self._show_running()

    def _show_running(self) -> None:
        """The loaded models, the NVML cross-check, and what the estimate predicted for each."""
        gpus = self.snapshot.gpus if self.snapshot is not None else ()
        loading = any(insight.loading for insight in self.insights.values())
        self.dashboard.show_running(
            self.running_models,
            cross_check(self.running_models, gpus, loading=loading),
            load_predictions(gpus, self.running_models, self.model_facts),
        )

    def fit_estimates(self, num_ctx: int | None = None) -> dict[str, FitEstimate]:
        gpus = self.snapshot.gpus if self.snapshot is not None else ()
        return fit_estimates(gpus, self.model_facts, self.ollama_version, num_ctx)

    def _show_fits(self) -> None:
        chat = self.dashboard.chat
        chat.show_fits(self.fit_estimates(chat.options.num_ctx))

    def on_chat_options_changed(self, _message: said.ChatOptionsChanged) -> None:
        self._remember(chat_options=options_to_state(self.dashboard.chat.options))
        if self.model_facts:
            self._show_fits()

    # --- Ollama: the chat ---------------------------------------------------------------------

    def on_prompt_submitted(self, message: said.PromptSubmitted) -> None:
        if self.ollama is None:
            self.notify("Ollama is switched off (--no-ollama).", severity="warning")
            return
        self._stream_reply(message.model, message.messages, message.options)

    def on_stop_requested(self, _message: said.StopRequested) -> None:
        self.workers.cancel_group(self, "chat")

    @work(exclusive=True, group="chat", name="chat")
    async def _stream_reply(
        self, model: str, messages: list[dict[str, str]], options: ChatOptions
    ) -> None:
        assert self.ollama is not None
        sampler = self.sampler
        reply = Reply(
            self.ollama,
            model,
            messages,
            options,
            energy_clock=sampler.clock if sampler is not None else time.time,
            energy=self._reply_energy if sampler is not None else None,
        )
        self._set_generating(True)
        self.post_message(said.ReplyStarted(model))
        batches = Batches(
            lambda pieces: self.post_message(said.ReplyChunk(pieces, batches.taken)),
            REPLY_FLUSH_S,
        )
        try:
            async for piece in reply.pieces():
                batches.add(piece)
        finally:
            if rest := batches.rest():  # the last words, also when stopped
                self.post_message(said.ReplyChunk(rest))
            self._set_generating(False)
            self.post_message(said.ReplyFinished(reply.stats(), reply.error))

    def _set_generating(self, generating: bool) -> None:
        self.generating = generating
        if self.sampling is not None:
            self.sampling.generating = generating

    def _reply_energy(self, first_at: float, last_at: float):
        """Energy of the runner's GPUs (else every GPU) between the first and the last token."""
        gpus = self.snapshot.gpus if self.snapshot is not None else ()
        indices = runner_gpus(gpus) or tuple(gpu.index for gpu in gpus if not gpu.lost)
        return self.sampler.power_watch.energy(indices, first_at, last_at)

    def on_reply_started(self, message: said.ReplyStarted) -> None:
        # Released once the reply's last frame is on the screen.
        hold_full_collections()
        self._collections_held += 1
        self.dashboard.chat.reply_started(message.model)

    async def on_reply_chunk(self, message: said.ReplyChunk) -> None:
        await self.dashboard.chat.reply_pieces(message.pieces)
        if message.taken is not None:
            message.taken()

    async def on_reply_finished(self, message: said.ReplyFinished) -> None:
        # The reply's last words reach the screen first; the stats line (and the check that
        # the reply reads as it was streamed) a frame later: with a fast model, one frame of a
        # long chat is what the user waits for. Until the last words are laid out there is
        # nothing to refresh, and the finish would run before the frame instead of after it.
        await self.dashboard.chat.reply_written()
        self.call_after_refresh(self._finish_reply, message.stats, message.error)

    async def _finish_reply(self, stats: ReplyStats, error: Exception | None) -> None:
        if not self.is_running:
            return  # quit during the frame
        try:
            await self.dashboard.chat.reply_finished(stats, error)
            self.refresh_ollama()
        finally:
            self._release_collections()

    def _release_collections(self) -> None:
        if self._collections_held:
            self._collections_held -= 1
            release_full_collections()

    # --- Ollama: pulling a model --------------------------------------------------------------

    def on_pull_requested(self, message: said.PullRequested) -> None:
        if self.ollama is None:
            return
        if message.model in self.pulls:
            self.notify(f"{message.model} is being pulled already.", severity="warning")
            return
        self.pulls[message.model] = self._pull(message.model)

    @work(group="pull")
    async def _pull(self, model: str) -> None:
        assert self.ollama is not None
        last_post = 0.0
        try:
            async for step in self.ollama.pull(model):
                now = time.monotonic()
                if now - last_post > PULL_PROGRESS_S or step.status == "success":
                    last_post = now
                    self.post_message(said.PullProgressed(model, step))
        except OllamaError as error:
            self.post_message(said.PullFinished(model, error))
            return
        except asyncio.CancelledError:
            # The stream is closed (``OllamaClient.pull``); Ollama keeps what it downloaded.
            self.post_message(said.PullFinished(model, cancelled=True))
            raise
        self.post_message(said.PullFinished(model))

    def on_pull_progressed(self, message: said.PullProgressed) -> None:
        self.dashboard.chat.pull_progressed(message.model, message.step)

    def on_pull_finished(self, message: said.PullFinished) -> None:
        self.pulls.pop(message.model, None)
        self.dashboard.chat.pull_finished(message.model, message.error, message.cancelled)
        self.refresh_ollama()

    def on_pull_cancel_requested(self, message: said.PullCancelRequested) -> None:
        worker = self.pulls.get(message.model)
        if worker is not None:
            worker.cancel()

    # --- replaying a recording ------------------------------------------------------------------

    def _start_replay(self) -> None:
        recording = self.replay.recording
        header = self.dashboard.header
        if recording.problems:
            self._standing_problem = header.problem = recording.problems[0]
            self.notify(recording.summary(), title=f"replay {recording.path.name}", timeout=10)
        header.interval_s = 0  # the recording's pace, not a sampling interval
        self.dashboard.show_status(recording.snapshots[0].nvml)
        self._show_replay_position()
        self.set_interval(REPLAY_TICK_S, self._replay_tick)

    def _replay_tick(self) -> None:
        if not self.is_running:
            return
        self.replay.advance(REPLAY_TICK_S)
        self._show_replay_position()
        if not self.replay.playing:
            self.dashboard.header.paused = True

    def _toggle_replay(self) -> None:
        cursor = self.replay
        cursor.playing = not cursor.playing
        if cursor.playing and cursor.position >= cursor.end:
            cursor.seek_to(cursor.start)  # played to the end: start over
            self._replay_shown = -1
        self.dashboard.header.paused = not cursor.playing
        self._show_replay_position()

    def _show_replay_position(self) -> None:
        """Show the sample at the cursor; a jump rebuilds the history window around it."""
        frame = self.replay.frame(self._replay_shown, self.settings.history_minutes * 60)
        if frame is not None:
            if frame.restart:
                self.history = History(self.history.capacity)
                self.rig_insight = RigInsight()
            for snapshot in frame.earlier:
                self.history.add_snapshot(snapshot)
                self.rig_insight.update(snapshot)
            self._replay_shown = frame.index
            self.running_models = frame.models or []
            self.show_snapshot(frame.snapshot)
            if frame.models is not None:
                self._show_running()
            else:
                self.dashboard.show_ollama(
                    "Ollama (not recorded)", "no Ollama data in the recording"
                )
        self.dashboard.header.source = self.replay.describe()

    def action_seek(self, seconds: float) -> None:
        self.replay.seek(seconds)
        self._show_replay_position()

    def action_seek_start(self) -> None:
        self.replay.seek_to(self.replay.start)
        self._show_replay_position()

    def action_seek_end(self) -> None:
        self.replay.seek_to(self.replay.end)
        self._show_replay_position()

    def action_replay_faster(self) -> None:
        if not self.replay.faster():
            self.bell()
        self._show_replay_position()

    def action_replay_slower(self) -> None:
        if not self.replay.slower():
            self.bell()
        self._show_replay_position()

    # --- saved chats ----------------------------------------------------------------------------
    # The store opens on a thread; every write and every read after it runs on the keeper's
    # thread, in order, so a listing or a load sees the writes asked for before it.

    def _open_saved_chats(self) -> None:
        if self.source.ollama_address is None:
            return  # no chat
        if self.settings.data_dir is None:
            self.chats_off = "Chats are not kept: no data directory (--data-dir) is set."
            return
        self._open_chat_store(self.settings.data_dir)

    @work(thread=True, group="chat-store", name="chat-store")
    def _open_chat_store(self, data_dir) -> None:
        from rigtui.store.chats import ChatStore, StoreError

        try:
            store = ChatStore.open(data_dir)
        except StoreError as error:
            self.post_message(said.ChatStoreOpened(None, str(error), getattr(error, "kind", "")))
            return
        self.post_message(said.ChatStoreOpened(store))

    def on_chat_store_opened(self, message: said.ChatStoreOpened) -> None:
        if message.store is None:
            self._chats_failed(message.error, message.kind)
            return
        from rigtui.store.keeper import ChatKeeper

        def failed(error) -> None:  # on the keeper's thread
            self.post_message(said.ChatStoreFailed(str(error), getattr(error, "kind", "")))

        self.keeper = ChatKeeper(message.store, failed)
        # Held here: at quitting, the screen's widgets are gone before the last write.
        self._saving_chat = self.dashboard.chat
        self._list_all_chats()

    def on_chat_store_failed(self, message: said.ChatStoreFailed) -> None:
        self._chats_failed(message.error, message.kind)

    def _chats_failed(self, error: str, kind: str = "") -> None:
        from rigtui.ui.render.conversations import short_reason

        first = not self.chats_off
        self.chats_off = f"Chats are not saved: {error}"
        if first:
            self.notify(
                f"{error}. The chat goes on, but this session is not saved.",
                title="Chats not saved",
                severity="error",
                timeout=12,
            )
        self.dashboard.chat.show_saving(short_reason(error, kind), error)
        for listing in self._chat_listings():
            listing.show_problem(self.chats_off)

    def _close_saved_chats(self) -> None:
        keeper, self.keeper = self.keeper, None
        if keeper is not None:
            streaming = self._saving_chat.streaming_now()
            if streaming is not None and streaming[0].id is not None:
                saved, position, turn = streaming
                keeper.streaming(saved.id, position, turn)
            # Deleted chats go for good on quitting (until then ctrl+z in the list undoes).
            keeper.submit(keeper.store.purge)
            keeper.close()

    def _chat_listings(self) -> list:
        from rigtui.ui.widgets.conversation_list import ConversationList

        return [
            listing for screen in self.screen_stack for listing in screen.query(ConversationList)
        ]

    def on_turn_to_save(self, message: said.TurnToSave) -> None:
        keeper = self.keeper
        if keeper is None:
            return

        store, saved, position = keeper.store, message.saved, message.position
        turn = message.turn
        if saved.id is None and not saved.starting:
            if turn is None or turn.role != "user":
                return
            saved.starting = True
            saved.model, saved.options = message.model, message.options

            def start() -> None:
                saved.id = store.start(message.model, message.options)

            keeper.submit(start)

        def when_saved(write) -> None:
            keeper.submit(lambda: saved.id is not None and write(saved.id))

        def truncate() -> None:
            # Through the keeper once the chat has its id: a turn still waiting to be written
            # (streaming, or retried after a failure) would otherwise come back after it.
            if saved.id is not None:
                keeper.truncate(saved.id, position)
            else:
                when_saved(lambda chat: store.truncate(chat, position))

        if turn is None:
            truncate()
            self._list_all_chats()
            return
        if turn.role == "user":
            if (message.model, message.options) != (saved.model, saved.options):
                saved.model, saved.options = message.model, message.options
                model, options = message.model, message.options
                when_saved(lambda chat: store.set_model(chat, model, options))

            truncate()
            when_saved(lambda chat: store.put_turn(chat, position, turn))
            self._list_all_chats()
            return
        if turn.state == "streaming":
            if saved.streaming_position != position:
                saved.streaming_position = position
                # A regenerated reply, or one after an edited prompt: what followed goes.
                truncate()
            if saved.id is not None:
                keeper.streaming(saved.id, position, turn)
            return
        saved.streaming_position = None
        if saved.id is not None:
            keeper.finished(saved.id, position, turn)
        else:
            when_saved(lambda chat: store.put_turn(chat, position, turn))
        self._list_all_chats()

    def _list_all_chats(self) -> None:
        for listing in self._chat_listings():
            self._list_chats(listing, listing.search)

    def _list_chats(self, listing, search: str) -> None:
        keeper = self.keeper
        if keeper is None:
            if self.chats_off:
                listing.show_problem(self.chats_off)
            return
        store = keeper.store

        def read() -> None:
            summaries = store.conversations(search)
            self.post_message(said.ConversationsListed(listing, search, summaries))

        keeper.submit(read)

    def on_conversations_wanted(self, message: said.ConversationsWanted) -> None:
        self._list_chats(message.listing, message.search)

    def on_conversations_listed(self, message: said.ConversationsListed) -> None:
        if message.listing.is_attached:
            open_id = self.dashboard.chat.saved.id
            message.listing.show(message.summaries, message.search, date.today(), open_id)

    def on_conversation_open_requested(self, message: said.ConversationOpenRequested) -> None:
        keeper = self.keeper
        if keeper is None:
            return
        store, wanted = keeper.store, message.conversation_id

        def load() -> None:
            try:
                conversation = store.load(wanted)
            except KeyError:
                conversation = None  # deleted for good by another rigtui
            self.post_message(said.ConversationLoaded(conversation))

        keeper.submit(load)

    async def on_conversation_loaded(self, message: said.ConversationLoaded) -> None:
        chat = self.dashboard.chat
        conversation = message.conversation
        if conversation is None:
            self.notify("That chat is not there any more.", severity="warning")
            self._list_all_chats()
            return
        installed = any(model.name == conversation.model for model in chat.installed)
        self.action_show_tab("chat-tab")
        await chat.open_conversation(conversation, installed)
        self.notify(f"Opened “{conversation.summary.title or 'Untitled'}”.", timeout=3)

    def on_conversation_picker_requested(self, _message: said.ConversationPickerRequested) -> None:
        from rigtui.ui.screens.conversation_picker import ConversationPickerScreen

        if not isinstance(self.screen, ConversationPickerScreen):
            self.push_screen(ConversationPickerScreen())

    def on_new_chat_requested(self, _message: said.NewChatRequested) -> None:
        self._new_chat()

    def on_conversation_rename_requested(self, message: said.ConversationRenameRequested) -> None:
        if self.keeper is None:
            return
        if message.title is None:
            from rigtui.ui.screens.rename_chat import RenameChatScreen

            def renamed(title: str | None) -> None:
                if title is not None and title != message.current:
                    self.post_message(
                        said.ConversationRenameRequested(
                            message.conversation_id, message.current, title
                        )
                    )

            self.push_screen(RenameChatScreen(message.current), renamed)
            return
        store, wanted, title = self.keeper.store, message.conversation_id, message.title
        self.keeper.submit(lambda: store.rename(wanted, title))
        chat = self.dashboard.chat
        if chat.saved.id == wanted:
            chat.saved.title = title
        self._list_all_chats()

    def on_conversation_delete_requested(self, message: said.ConversationDeleteRequested) -> None:
        if self.keeper is None:
            return
        store, wanted = self.keeper.store, message.conversation_id
        self.keeper.submit(lambda: store.delete(wanted))
        self._deleted_chats.append((wanted, message.title))
        if self.dashboard.chat.saved.id == wanted:
            # Going on in it would write into a chat that goes for good on quitting.
            self.call_later(self.dashboard.chat.action_new_chat)
        self._list_all_chats()
        self.notify(
            f"Deleted “{message.title or 'Untitled'}”. Ctrl+Z in the chat list brings it back "
            "(until rigtui quits).",
            title="Chat deleted",
            timeout=10,
        )

    def on_conversation_restore_requested(
        self, _message: said.ConversationRestoreRequested
    ) -> None:
        if self.keeper is None or not self._deleted_chats:
            self.bell()
            self.notify("No deleted chat to bring back.", severity="warning", timeout=3)
            return
        wanted, title = self._deleted_chats.pop()
        store = self.keeper.store
        self.keeper.submit(lambda: store.restore(wanted))
        self._list_all_chats()
        self.notify(f"Brought back “{title or 'Untitled'}”.", timeout=4)

    def on_chat_export_requested(self, message: said.ChatExportRequested) -> None:
        from rigtui.store.conversation import Conversation, ConversationSummary, title_from

        turns = tuple(message.turns)
        first = next((turn.content for turn in turns if turn.role == "user"), "")
        now = time.time()
        summary = ConversationSummary(
            message.saved.id or 0,
            message.saved.title or title_from(first),
            message.model,
            now,
            now,
            len(turns),
            sum(len(turn.content) for turn in turns),
        )
        conversation = Conversation(summary, message.options, turns)
        data_dir = self.settings.data_dir
        folder = data_dir / "exports" if data_dir is not None else Path.cwd()
        self._export_chat(conversation, message.format, folder)

    @work(thread=True, group="chat-export", name="chat-export")
    def _export_chat(self, conversation, format: str, folder: Path) -> None:
        from rigtui.store.export import export_file_name, to_json, to_markdown
        from rigtui.store.files import write_new_file

        text = to_markdown(conversation) if format == "md" else to_json(conversation)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            name = export_file_name(conversation, format)
            path = write_new_file(folder / name, text, numbered=True)
        except OSError as error:
            self.post_message(said.ChatExported(None, f"Could not export the chat: {error}"))
            return
        self.post_message(said.ChatExported(path))

    def on_chat_exported(self, message: said.ChatExported) -> None:
        if message.path is None:
            self.notify(message.error, title="Not exported", severity="error", timeout=10)
        else:
            self.notify(f"Exported to {message.path}", title="Chat exported", timeout=10)

    def _saved_chat_commands(self):
        yield SystemCommand(
            "Saved chats", "Open, rename, delete or search saved chats (ctrl+f)", self._chat_list
        )
        yield SystemCommand(
            "Export chat as Markdown",
            "Write this chat to a new .md file (ctrl+s)",
            partial(self._export_from_palette, "md"),
        )
        yield SystemCommand(
            "Export chat as JSON",
            "Write this chat to a new .json file (alt+s)",
            partial(self._export_from_palette, "json"),
        )
        if self._deleted_chats:
            yield SystemCommand(
                "Undo delete",
                "Bring back the chat deleted last (ctrl+z in the chat list)",
                lambda: self.post_message(said.ConversationRestoreRequested()),
            )

    def _chat_list(self) -> None:
        self.action_show_tab("chat-tab")
        self.dashboard.chat.action_chat_list()

    def _export_from_palette(self, format: str) -> None:
        self.action_show_tab("chat-tab")
        self.dashboard.chat.action_export(format)

    # --- process control ----------------------------------------------------------------------

    process_signal_uid: int | None = None
    """The user signals are sent as (None: this process's effective uid); tests set another."""

    def on_every_process_wanted(self, message: said.EveryProcessWanted) -> None:
        sampler = self.sampler
        if sampler is not None:
            # Read on the sampling thread at its next round: one attribute, set whole.
            sampler.system.all_processes = message.every

    def process_signals(self) -> ProcessSignals:
        """Where the listed PIDs come from decides whether a signal may be sent at all."""
        if self.replay is not None:
            origin = PidOrigin.RECORDED
        elif self.sampler is not None:
            origin = PidOrigin.LOCAL if self.sampler.pids_are_local else PidOrigin.SIMULATED
        else:
            origin = PidOrigin.SIMULATED if self.source.environment else PidOrigin.LOCAL
        return ProcessSignals(origin, uid=self.process_signal_uid)

    def on_process_signal_requested(self, message: said.ProcessSignalRequested) -> None:
        self._check_signal(self.process_signals(), message.target, message.action)

    @work(thread=True, group="process-signal", name="process-signal-check")
    def _check_signal(self, signals: ProcessSignals, target: SignalTarget, action: str) -> None:
        self.post_message(said.ProcessSignalChecked(signals.check(target), action))

    def on_process_signal_checked(self, message: said.ProcessSignalChecked) -> None:
        check = message.check
        if not check.allowed:
            # Said before asking: there is nothing to confirm.
            severity = "information" if check.gone else "warning"
            self.notify(check.refusal or "", title="Not sent", severity=severity, timeout=8)
            return

        def answered(send: bool | None) -> None:
            if send:
                self._send_signal(self.process_signals(), check, message.action)

        self.push_screen(ConfirmSignalScreen(check.target, message.action, check.owner), answered)

    @work(thread=True, group="process-signal", name="process-signal-send")
    def _send_signal(self, signals: ProcessSignals, check: SignalCheck, action: str) -> None:
        self.post_message(said.ProcessSignalSent(signals.send(check, action)))

    def on_process_signal_sent(self, message: said.ProcessSignalSent) -> None:
        outcome = message.outcome
        if outcome.sent:
            self.notify(outcome.message, title="Sent", timeout=5)
        elif outcome.gone:
            self.notify(outcome.message, title="Not sent", timeout=6)
        else:
            self.notify(outcome.message, title="Not sent", severity="error", timeout=10)

    def _process_commands(self):
        """The Processes tab's keys in the command palette."""

        def on_processes(action: str):
            def run() -> None:
                self.action_show_tab("processes-tab")
                pane = self.dashboard.query_one(ProcessPane)
                self.call_after_refresh(pane.run_action, action)

            return run

        for title, help_text, action in (
            (
                "Processes: sort by the next column",
                "VRAM, SM%, CPU%, memory, PID, name (s)",
                "sort_next",
            ),
            ("Processes: reverse the sort", "Biggest or smallest first (r)", "sort_reverse"),
            ("Processes: filter", "By name, command, user or PID (/)", "open_filter"),
            (
                "Processes: terminate the selected process",
                "SIGTERM, after a confirmation (T)",
                "signal('terminate')",
            ),
            (
                "Processes: kill the selected process",
                "SIGKILL, after a confirmation (K)",
                "signal('kill')",
            ),
        ):
            yield SystemCommand(title, help_text, on_processes(action))

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
        if tabs.active == first and self.check_action("show_tab", (tab,)) is not False:
            self.action_show_tab(tab)  # unless a tab was chosen already

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

    # --- model control ------------------------------------------------------------------------
    # Unload, load and delete, from the loaded-models pane's keys and the command palette. After
    # each, /api/ps is read at once: the pane shows what Ollama did without waiting for a poll.

    def _model_control_commands(self):
        if self.replay is not None:
            return
        for purpose, title, help_text in (
            ("load", "Load a model…", "Load one, or keep one loaded, for a keep-alive (l)"),
            ("unload", "Unload a model…", "Free its VRAM now, as `ollama stop` does (u)"),
            ("delete", "Delete a model…", "Remove an installed model, as `ollama rm` does (d)"),
        ):
            yield SystemCommand(
                title, help_text, partial(self.post_message, said.ModelChooserRequested(purpose))
            )

    def _say_to_models(self, text: str, kind: str = "") -> None:
        for pane in self.dashboard.query(LoadedModels):
            pane.say(text, kind)

    def _ollama_to_control(self) -> OllamaClient | None:
        """The client, or None with the reason said in the pane."""
        if self.ollama is None:
            if self.replay is not None:
                why = "a replay shows a recording, with no Ollama to act on"
            elif self.source.ollama_address is None:
                why = "Ollama is switched off (--no-ollama)"
            else:
                why = "Ollama is not connected yet"
            self._say_to_models(f"Cannot control models: {why}.", "error")
        return self.ollama

    def on_unload_requested(self, message: said.UnloadRequested) -> None:
        if self._ollama_to_control() is not None:
            self._control_model("unload", message.model)

    def on_model_chooser_requested(self, message: said.ModelChooserRequested) -> None:
        if self._ollama_to_control() is not None:
            self._choose_model(message.purpose, message.highlighted)

    @work(exclusive=True, group="model-chooser")
    async def _choose_model(self, purpose: str, highlighted: str | None) -> None:
        """The list to choose from (the installed models, fresh; or the loaded ones), then,
        to delete, the confirmation; then the action."""
        assert self.ollama is not None
        loaded = {model.name: model for model in self.running_models}
        sizes: dict[str, int] = {}
        if purpose == "unload":
            choices = [
                ModelChoice(
                    model.name,
                    f"{model.size_bytes / 1e9:.1f} GB  "
                    f"{processor_split(model.size_bytes, model.size_vram_bytes)}",
                )
                for model in loaded.values()
            ]
        else:
            try:
                installed = await self.ollama.installed()
            except OllamaError as error:
                self.post_message(said.ModelActionFinished(purpose, "", error))
                return
            choices = []
            for model in installed:
                sizes[model.name] = model.size_bytes
                detail = [f"{model.size_bytes / 1e9:.1f} GB", model.parameter_size]
                detail += [model.quantization, "loaded" if model.name in loaded else ""]
                choices.append(ModelChoice(model.name, "  ".join(part for part in detail if part)))
        chosen = await self.push_screen_wait(ModelChooserScreen(purpose, choices, highlighted))
        if chosen is None:
            return
        if purpose == "delete":
            confirm = DeleteModelScreen(
                chosen.model, sizes.get(chosen.model), loaded=chosen.model in loaded
            )
            if not await self.push_screen_wait(confirm):
                return
        self._control_model(purpose, chosen.model, chosen.keep_alive)

    @work(group="model-control")
    async def _control_model(self, action: str, model: str, keep_alive: str | None = None) -> None:
        client = self.ollama
        assert client is not None
        self.post_message(said.ModelActionStarted(action, model, keep_alive))
        error: OllamaError | None = None
        try:
            if action == "unload":
                await client.unload(model)
            elif action == "load":
                await client.load(model, keep_alive)
            else:
                await client.delete(model)
        except OllamaError as failed:
            error = failed
        still_loaded = False
        try:  # at once, not at the next poll
            running = await client.running()
            self.post_message(said.ModelsRunning(running))
            still_loaded = action != "load" and any(m.name == model for m in running)
            if action == "delete":
                self.post_message(said.ModelsListed(await client.installed()))
        except OllamaError:
            pass  # the watch says so
        self.post_message(
            said.ModelActionFinished(
                action, model, error, keep_alive=keep_alive, still_loaded=still_loaded
            )
        )

    def on_model_action_started(self, message: said.ModelActionStarted) -> None:
        doing = {"unload": "Unloading", "load": "Loading", "delete": "Deleting"}[message.action]
        kept = message.keep_alive and f" (keep-alive {describe_keep_alive(message.keep_alive)})"
        self._say_to_models(f"{doing} {message.model}{kept or ''}…")

    def on_model_action_finished(self, message: said.ModelActionFinished) -> None:
        model = message.model
        if message.error is not None:
            text = str(message.error)
            if model:
                text = f"Could not {message.action} {model}: {text}"
            self._say_to_models(text, "error")
            self.notify(text, title="Ollama", severity="error", timeout=8)
            return
        if message.still_loaded:
            text = f"{model} is answering a request: Ollama unloads it when that ends."
        elif message.action == "unload":
            text = f"Unloaded {model}: its memory is free."
        elif message.action == "load":
            kept = describe_keep_alive(message.keep_alive or "5m")
            kept = "loaded forever" if kept == "forever" else f"for {kept}"
            text = f"Loaded {model}; Ollama keeps it {kept}."
        else:
            text = f"Deleted {model}."
        self._say_to_models(text, "muted")

    # --- the exporter: --metrics serves the dashboard's own readings (issue 16, part 1) -----
    # The same board as ``rigtui exporter``'s, fed here from the sampling worker's readings and
    # the Ollama watch's messages: no second sampler, and a scrape never reaches the rig.

    metrics_board = None
    """``rigtui.exporter.board.MetricsBoard`` while metrics are served."""
    metrics_server = None

    def _start_metrics(self) -> None:
        listen = self.settings.metrics_listen
        if not listen:
            return
        if self.replay is not None:
            self.notify("--metrics serves a live rig, not a recording.", severity="warning")
            return
        from rigtui.exporter.board import MetricsBoard
        from rigtui.exporter.server import ServeError, serve_board

        environment = self.source.environment
        board = MetricsBoard(watches_ollama=self.source.ollama_address is not None)
        try:
            self.metrics_server = serve_board(
                board,
                listen,
                demo=environment.scenario.name if environment else "",
                flag="--metrics",
            )
        except ServeError as error:
            self.notify(
                f"Metrics not served: {error}", title="--metrics", severity="error", timeout=12
            )
            return
        self.metrics_board = board
        where = self.metrics_server.url
        if self.metrics_server.reachable_from_network:
            where += " (reachable from the network)"
        self.notify(f"Serving metrics at {where}", title="Prometheus", timeout=8)

    def _stop_metrics(self) -> None:
        if self.metrics_server is not None:
            self.metrics_server.stop()
            self.metrics_server = None

    def _feed_metrics(self, snapshot: RigSnapshot) -> None:
        if self.metrics_board is not None:
            self.metrics_board.took(snapshot)

    @on(said.SourceFailed)
    def _metrics_sampling_failed(self, message: said.SourceFailed) -> None:
        if self.metrics_board is not None and message.source == "sampler":
            self.metrics_board.failed(message.error)

    @on(said.OllamaConnected)
    @on(said.OllamaDisconnected)
    @on(said.ModelsListed)
    @on(said.ModelFactsRead)
    @on(said.ModelsRunning)
    def _metrics_ollama(self, message: said.RigMessage) -> None:
        board = self.metrics_board
        if board is None:
            return
        if isinstance(message, said.OllamaConnected):
            board.heard(Connected(message.version))
        elif isinstance(message, said.OllamaDisconnected):
            board.heard(Disconnected(message.error, message.retry_in_s))
        elif isinstance(message, said.ModelsListed):
            board.heard(Listed(message.models))
        elif isinstance(message, said.ModelFactsRead):
            board.heard(FactsRead(message.facts))
        elif isinstance(message, said.ModelsRunning):
            board.heard(Running(message.models))

    # --- the Fleet tab: the rigs a Prometheus scrapes (issue 16) --------------------------------

    def _start_fleet(self) -> None:
        if self.settings.prometheus_url is None or self.fleet_watch is not None:
            return
        from rigtui.fleet.prometheus import PrometheusClient
        from rigtui.fleet.watch import FleetWatch

        self.prometheus = PrometheusClient(self.settings.prometheus_url)
        self.fleet_watch = (self._make_fleet_watch or FleetWatch)(self.prometheus)
        self._watch_fleet(self.fleet_watch)

    @work(exclusive=True, group="fleet-watch", name="fleet-watch")
    async def _watch_fleet(self, watch) -> None:
        from rigtui.fleet.watch import FleetRead, FleetUnreadable

        async for event in watch.events():
            if isinstance(event, FleetRead):
                self.post_message(said.FleetReadingTaken(event.reading, event.reading.read_at))
            elif isinstance(event, FleetUnreadable):
                self.post_message(said.FleetReadFailed(event.error, event.retry_in_s, time.time()))

    def _fleet_pane(self):
        from rigtui.ui.widgets.fleet_pane import FleetPane

        return self.dashboard.query_one("#fleet-pane", FleetPane)

    def on_fleet_reading_taken(self, message: said.FleetReadingTaken) -> None:
        self._fleet_pane().show_reading(message.reading, message.now)

    def on_fleet_read_failed(self, message: said.FleetReadFailed) -> None:
        self._fleet_pane().show_unreadable(message.error, message.retry_in_s, message.now)

    def on_fleet_read_requested(self, _message: said.FleetReadRequested) -> None:
        if self.fleet_watch is not None:
            # A new run of the watch reads at once; the old one, maybe waiting out a backoff,
            # is cancelled (exclusive).
            self._watch_fleet(self.fleet_watch)

    def on_fleet_history_requested(self, message: said.FleetHistoryRequested) -> None:
        if self.fleet_watch is not None:
            self._read_fleet_history(self.fleet_watch, message.instance, message.window_s)

    @work(exclusive=True, group="fleet-history", name="fleet-history")
    async def _read_fleet_history(self, watch, instance: str, window_s: float) -> None:
        from rigtui.fleet.model import FleetError
        from rigtui.ui.render.fleet import HISTORY_POINTS

        try:
            history = await watch.history(instance, window_s, HISTORY_POINTS)
        except FleetError as error:
            self.post_message(said.FleetHistoryFailed(instance, str(error)))
        else:
            self.post_message(said.FleetHistoryRead(history))

    def on_fleet_history_read(self, message: said.FleetHistoryRead) -> None:
        self._fleet_pane().show_history(message.history)

    def on_fleet_history_failed(self, message: said.FleetHistoryFailed) -> None:
        self._fleet_pane().show_history_failed(message.instance, message.error)

    async def _close_fleet(self) -> None:
        if self.prometheus is not None:
            self.workers.cancel_group(self, "fleet-watch")
            self.workers.cancel_group(self, "fleet-history")
            await self.prometheus.aclose()
