"""RigApp: binds the keys, owns the lifetimes of the engines, and routes what they report.

The engines know nothing of Textual: ``telemetry.pacing`` samples, ``llm.watch`` watches Ollama,
``llm.reply`` streams one reply. Thin workers here run them and turn what they report into
messages (``ui/messages.py``), each carrying its data; the handlers hand the data to the screen.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from functools import partial

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
from rigtui.llm.ollama import ChatOptions, ModelFacts, OllamaClient, OllamaError
from rigtui.llm.placement import cross_check, runner_gpus
from rigtui.llm.reply import Batches, Reply
from rigtui.llm.stats import ReplyStats
from rigtui.llm.watch import Connected, Disconnected, FactsRead, Listed, OllamaWatch, Running
from rigtui.recording import ReplayCursor
from rigtui.sources import DashboardSource
from rigtui.store.presets import PresetBook
from rigtui.store.prompts import PromptHistory
from rigtui.store.state import RememberedState, options_to_state
from rigtui.telemetry.history import History, snapshot_values
from rigtui.telemetry.model import RigSnapshot
from rigtui.telemetry.opening import Opened
from rigtui.telemetry.pacing import NewestWins, PaceClock, SamplingLoop
from rigtui.ui import messages as said
from rigtui.ui.bindings import APP_BINDINGS, TAB_KEYS
from rigtui.ui.screens.dashboard import DashboardScreen
from rigtui.ui.screens.help import HelpScreen
from rigtui.ui.tuning.command_palette import SteadyCommandPalette
from rigtui.ui.tuning.garbage import (
    freeze_startup_objects,
    hold_full_collections,
    release_full_collections,
)
from rigtui.ui.tuning.surviving import SurvivesErrors
from rigtui.ui.wiring.fleet import FleetWiring
from rigtui.ui.wiring.metrics import MetricsWiring
from rigtui.ui.wiring.model_control import ModelControlWiring
from rigtui.ui.wiring.process_control import ProcessControlWiring
from rigtui.ui.wiring.remembered import RememberedWiring
from rigtui.ui.wiring.saved_chats import SavedChatsWiring

INTERVAL_STEPS = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)
STARTUP_SETTLED_S = 5.0
"""By then the modules, widgets and history that live as long as the app are all there."""
GENERATING = "llm.generating"
REPLY_FLUSH_S = 0.05
"""Streamed text reaches the screen at most 20 times a second (see ``llm.reply.Batches``)."""
REPLAY_TICK_S = 0.1
PULL_PROGRESS_S = 0.1
TYPED_ACTIONS = {"quit", "toggle_pause", "slower", "faster", "help", "show_tab"}
"""Actions bound to a printable key: a text field with the focus takes the key as text."""


class RigApp(
    SavedChatsWiring,
    ProcessControlWiring,
    RememberedWiring,
    ModelControlWiring,
    MetricsWiring,
    FleetWiring,
    SurvivesErrors,
    App,
):
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
        self._tab_chosen = False
        """Once another tab than the first was shown, a remembered tab read later is not."""
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
        self._start_fleet()
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
        if tab == tabs.active:
            if tab == "chat-tab":
                self.dashboard.query_one("#prompt").focus()  # 4 on the chat: back to typing
            return
        if self.dashboard.focused is not None:
            # Hidden with the focus, a widget hands it to a neighbour in the same pane, and a
            # focus inside a pane makes that pane the active tab again: let go of it first.
            self.dashboard.set_focus(None)
        tabs.active = tab  # the dashboard focuses the tab's body once it is drawn

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

    # --- --metrics: the board hears the sampler's failures and the Ollama watch's news ---------
    # Here, not in wiring/metrics.py: Textual collects @on handlers from the App's class body.

    @on(said.SourceFailed)
    @on(said.OllamaConnected)
    @on(said.OllamaDisconnected)
    @on(said.ModelsListed)
    @on(said.ModelFactsRead)
    @on(said.ModelsRunning)
    def _metrics_heard(self, message: said.RigMessage) -> None:
        self._tell_metrics(message)
