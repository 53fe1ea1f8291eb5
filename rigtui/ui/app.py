"""RigApp: owns the sampling worker and the history, and routes each snapshot to the screen."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from dataclasses import replace

from textual import work
from textual.app import App
from textual.binding import Binding
from textual.widgets import Input, TextArea
from textual.worker import get_current_worker

from rigtui.config import INTERVAL_MAX_S, INTERVAL_MIN_S, Settings
from rigtui.insight.fit import (
    FitEstimate,
    estimate,
    ollama_default_num_ctx,
    shape_from,
    usable_vram,
)
from rigtui.insight.rig import RigInsight
from rigtui.llm.ollama import (
    ChatOptions,
    ModelFacts,
    OllamaClient,
    OllamaError,
    OllamaUnreachableError,
    ReplyEnd,
    ReplyPiece,
)
from rigtui.llm.placement import cross_check, runner_bytes_by_gpu, runner_gpus
from rigtui.llm.stats import ReplyStats
from rigtui.recording import ReplayCursor
from rigtui.sources import DashboardSource
from rigtui.telemetry.history import History, snapshot_values
from rigtui.telemetry.model import RigSnapshot
from rigtui.telemetry.opening import Opened
from rigtui.telemetry.power import spikes_possible
from rigtui.telemetry.sampler import RigSampler
from rigtui.text import units
from rigtui.ui.messages import (
    ChatOptionsChanged,
    DashboardReady,
    ModelFactsRead,
    ModelsListed,
    ModelsRunning,
    OllamaConnected,
    OllamaDisconnected,
    OllamaImported,
    PromptSubmitted,
    PullFinished,
    PullProgressed,
    PullRequested,
    ReplyFinished,
    ReplyProgressed,
    ReplyStarted,
    SamplerReady,
    SnapshotTaken,
    SourceFailed,
    StopRequested,
)
from rigtui.ui.render.palette import Palette
from rigtui.ui.screens.dashboard import DashboardScreen
from rigtui.ui.screens.help import HelpScreen
from rigtui.ui.tuning.garbage import (
    freeze_startup_objects,
    hold_full_collections,
    release_full_collections,
)

INTERVAL_STEPS = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)
OLLAMA_POLL_S = 2.0
"""How often /api/ps is read while something moves: the GPUs' memory (a model loading,
unloading or spilling over) or a loaded model's keep-alive running out; and always without
GPUs to watch."""
OLLAMA_QUIET_POLL_S = 10.0
"""How often while nothing moves: a poll costs the main thread about 1.5 ms (the HTTP client),
which every 2 s was a sixth of what the idle dashboard costs."""
OLLAMA_MOVED_BYTES = 128 * 2**20
"""This much more or less memory in use on the GPUs since the last poll asks for the next now."""
OLLAMA_TAGS_S = 30.0
"""Re-read the installed models this often."""
OLLAMA_BACKOFF_MAX_S = 15.0
STARTUP_SETTLED_S = 5.0
"""By then the modules, widgets and history that live as long as the app are all there."""
GENERATING = "llm.generating"
FAST_POWER_S = 0.1
REPLY_FLUSH_S = 0.05
"""Streamed text reaches the screen at most 20 times a second: each Markdown append costs
about 5 ms whatever its size, so one per token would saturate a core at 200 tokens/s."""


class RigApp(App):
    CSS_PATH = "app.tcss"
    TITLE = "rigtui"
    BINDINGS = [
        Binding("q", "quit", "Quit", id="quit"),
        Binding(
            "p",
            "toggle_pause",
            "Pause",
            id="pause",
            tooltip="Pause or resume sampling (the screen holds still)",
        ),
        Binding(
            "plus",
            "slower",
            "Slower",
            key_display="+",
            id="slower",
            tooltip="Sample less often (longer interval)",
        ),
        Binding(
            "minus",
            "faster",
            "Faster",
            key_display="-",
            id="faster",
            tooltip="Sample more often (shorter interval, down to 0.25 s)",
        ),
        Binding("question_mark", "help", "Help", key_display="?", id="help"),
        Binding(
            "1",
            "show_tab('rig-tab')",
            "Rig",
            show=False,
            id="tab-rig",
            tooltip="The Rig tab: GPU cards, CPU and memory, processes",
        ),
        Binding(
            "2",
            "show_tab('charts-tab')",
            "Charts",
            show=False,
            id="tab-charts",
            tooltip="The Charts tab: history of every metric",
        ),
        Binding(
            "3",
            "show_tab('processes-tab')",
            "Processes",
            show=False,
            id="tab-processes",
            tooltip="The Processes tab: GPU and CPU processes with command lines",
        ),
        Binding(
            "left",
            "seek(-10)",
            "-10 s",
            key_display="←",
            priority=True,
            id="replay-back",
            tooltip="Replay: back 10 s",
        ),
        Binding(
            "right",
            "seek(10)",
            "+10 s",
            key_display="→",
            priority=True,
            id="replay-forward",
            tooltip="Replay: forward 10 s",
        ),
        Binding(
            "shift+left",
            "seek(-60)",
            "-1 min",
            show=False,
            priority=True,
            id="replay-back-minute",
            tooltip="Replay: back one minute",
        ),
        Binding(
            "shift+right",
            "seek(60)",
            "+1 min",
            show=False,
            priority=True,
            id="replay-forward-minute",
            tooltip="Replay: forward one minute",
        ),
        Binding(
            "left_square_bracket",
            "replay_slower",
            "Slower",
            key_display="[",
            id="replay-slower",
            tooltip="Replay: play slower (down to 1x)",
        ),
        Binding(
            "right_square_bracket",
            "replay_faster",
            "Faster",
            key_display="]",
            id="replay-faster",
            tooltip="Replay: play faster (up to 60x)",
        ),
        Binding(
            "home",
            "seek_start",
            "Start",
            show=False,
            id="replay-start",
            tooltip="Replay: back to the start",
        ),
        Binding(
            "end", "seek_end", "End", show=False, id="replay-end", tooltip="Replay: to the end"
        ),
        Binding(
            "4",
            "show_tab('chat-tab')",
            "Chat",
            show=False,
            id="tab-chat",
            tooltip="The Chat tab: talk to a local model and watch where it runs",
        ),
    ]

    def __init__(self, settings: Settings, source: DashboardSource) -> None:
        """``source`` (from ``rigtui.sources``): a sampler being opened, or a recording."""
        super().__init__()
        self.source = source
        replay = source.replay
        self.replay = ReplayCursor(replay) if replay is not None else None
        self._replay_shown = -1
        self._standing_problem = ""
        self.settings = settings
        self.interval_s = settings.interval_s
        self.paused = False
        self.history = History(settings.history_capacity)
        self.palette = Palette()
        self.snapshot: RigSnapshot | None = None
        self.snapshots_shown = 0
        self._opening = source.opening
        """Opened in the sampling worker, unless the caller started it earlier (``cli.py``)."""
        self._source_label = source.label
        self._wake = threading.Event()
        self._pending: RigSnapshot | None = None
        self._pending_lock = threading.Lock()
        self.ollama_address = source.ollama_address
        self.ollama: OllamaClient | None = None
        self.ollama_connected = False
        self._ollama_starting = False
        self.running_models: list = []
        self.generating = False
        self._collections_held = 0
        """Replies that hold back full garbage collections (see ``ui/tuning/garbage.py``)."""
        self.sampler: RigSampler | None = None
        self.power_rounds = True
        """Whether power is read ten times a second: not while every GPU rests (unless a reply
        of the chat is being generated)."""
        self.rig_insight = RigInsight()
        self.insights: dict = {}
        self.ollama_version: str | None = None
        self.model_facts: dict[str, ModelFacts] = {}
        self._facts_read: set[tuple[str, str]] = set()
        self.ollama_poll_s = OLLAMA_POLL_S
        self.ollama_quiet_poll_s = OLLAMA_QUIET_POLL_S
        self._ollama_moved = asyncio.Event()
        self._vram_at_poll: int | None = None
        self._reply_pieces: list[ReplyPiece] = []
        self._reply_posted = False
        self._last_flush = 0.0
        self.theme = settings.theme

    # --- lifetime ---------------------------------------------------------------------------

    def get_driver_class(self):
        """Textual's driver for the platform, but on Linux and macOS one whose input thread
        sleeps until there is input (``ui/tuning/quiet_driver.py``)."""
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
        self._dashboard = DashboardScreen(self.interval_s, self._source_label)
        return self._dashboard

    def on_mount(self) -> None:
        self.palette = Palette.from_theme_variables(self.theme_variables)
        self.theme_changed_signal.subscribe(self, self._theme_changed)
        self.set_timer(STARTUP_SETTLED_S, self._freeze_when_quiet)

    def _freeze_when_quiet(self) -> None:
        if self.generating:
            # The collection before the freeze stalls the app for about 100 ms: not in the
            # middle of a reply someone is watching.
            self.set_timer(STARTUP_SETTLED_S, self._freeze_when_quiet)
            return
        freeze_startup_objects()

    def on_dashboard_ready(self, _message: DashboardReady) -> None:
        """The dashboard's widgets exist to receive the readings."""
        if self.replay is not None:
            self._start_replay()
            return
        opened = None
        if self._opening.ready:
            # Opened while the dashboard was imported: the first frame shows the first reading.
            opened = self._opening.result()
            self._take_opened(opened)
        self._sample_forever(opened)

    def _start_ollama(self) -> None:
        """After the first reading is shown (or sampling failed). The client library takes a
        fifth of a second to import (pydantic, httpx): on a thread, so that neither the first
        complete frame nor the keys pressed meanwhile wait for it."""
        if self.ollama_address is not None and not self._ollama_starting:
            self._ollama_starting = True
            self._import_ollama()

    @work(thread=True, group="ollama-import", name="ollama-import")
    def _import_ollama(self) -> None:
        import ollama  # noqa: F401

        self.post_message(OllamaImported())

    def on_ollama_imported(self, _message: OllamaImported) -> None:
        if not self.is_running:
            return  # shutting down: no client to close later
        self.ollama = OllamaClient(self.ollama_address)
        self._watch_ollama()

    async def on_unmount(self) -> None:
        # The sampling thread sleeps until its next reading (up to the interval: a minute at
        # most), and the process waits for it to end: woken, it sees its worker cancelled.
        self._wake.set()
        while self._collections_held:  # a reply was cut short by quitting
            self._release_collections()
        if self.ollama is not None:
            await self.ollama.close()

    def _theme_changed(self, _theme) -> None:
        self.palette = Palette.from_theme_variables(self.theme_variables)
        for widget in self.dashboard.query("*"):
            widget.refresh()

    @property
    def dashboard(self) -> DashboardScreen:
        return self._dashboard

    # --- the sampler thread -----------------------------------------------------------------

    @work(thread=True, exclusive=True, group="sampler", name="sampler")
    def _sample_forever(self, opened: Opened | None) -> None:
        """Readings until the app ends; ``opened`` if the app has taken it already."""
        worker = get_current_worker()
        if opened is None:
            while opened is None:
                if worker.is_cancelled:
                    return
                opened = self._opening.result(timeout_s=0.1)
            self.post_message(SamplerReady(opened))
        sampler = opened.sampler
        if sampler is None:
            return
        self.sampler = sampler
        next_due = next_power = time.monotonic()
        if opened.first is not None:
            self.power_rounds = spikes_possible(opened.first.gpus)
            next_due = opened.first_at + self.interval_s
        try:
            while not worker.is_cancelled:
                now = time.monotonic()
                reading_due = now >= next_due
                fast = sampler.fast_power and (self.power_rounds or self.generating)
                if now >= next_power:
                    # Power alone, ten times a second, to catch spikes the 1 s average hides
                    # (a whole reading takes a power round of its own).
                    if fast and not self.paused and not reading_due:
                        self._sample_power(sampler)
                    next_power = max(next_power + FAST_POWER_S, now)
                if reading_due:
                    if not self.paused:
                        try:
                            snapshot = sampler.sample()
                        except Exception as error:  # noqa: BLE001
                            self.post_message(SourceFailed("sampler", f"sampling failed: {error}"))
                        else:
                            self._hand_over(snapshot)
                            self.power_rounds = spikes_possible(snapshot.gpus)
                    # Fell behind (a slow NVML call, a suspended laptop): count afresh.
                    next_due = max(next_due + self.interval_s, time.monotonic())
                fast = sampler.fast_power and (self.power_rounds or self.generating)
                wake_at = min(next_due, next_power) if fast else next_due
                if self._wake.wait(max(0.0, wake_at - time.monotonic())):
                    self._wake.clear()
                    next_due = next_power = time.monotonic()
        finally:
            sampler.close()

    def _sample_power(self, sampler: RigSampler) -> None:
        try:
            sampler.sample_power()
        except Exception as error:  # noqa: BLE001
            self.post_message(SourceFailed("sampler", f"power sampling failed: {error}"))

    def _hand_over(self, snapshot: RigSnapshot) -> None:
        """Post a message only if the previous one was taken: a backlog collapses to the newest."""
        with self._pending_lock:
            already_waiting = self._pending is not None
            self._pending = snapshot
        if not already_waiting:
            self.post_message(SnapshotTaken(snapshot))

    # --- messages -----------------------------------------------------------------------------

    def on_sampler_ready(self, message: SamplerReady) -> None:
        if not self.is_running:
            return  # shutting down: the widgets are going away
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

    def on_snapshot_taken(self, _message: SnapshotTaken) -> None:
        if not self.is_running:
            return  # shutting down: the widgets are going away
        with self._pending_lock:
            snapshot, self._pending = self._pending, None
        if snapshot is None:
            return
        self.show_snapshot(snapshot)

    def show_snapshot(self, snapshot: RigSnapshot) -> None:
        self.snapshot = snapshot
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
        if self._ollama_may_have_moved(snapshot):
            self._ollama_moved.set()
        if self.model_facts and self.snapshots_shown % 5 == 1:
            self._show_fits()

    def on_source_failed(self, message: SourceFailed) -> None:
        if not self.is_running:
            return  # shutting down: the widgets are going away
        self._source_failed(message.error)

    def _source_failed(self, error: str) -> None:
        self.dashboard.header.problem = error
        self.notify(error, title="rigtui", severity="error", timeout=8)
        # No reading may ever come to start it: the chat must work all the same.
        self._start_ollama()

    # --- actions ------------------------------------------------------------------------------

    def action_toggle_pause(self) -> None:
        if self.replay is not None:
            self.replay.playing = not self.replay.playing
            if self.replay.playing and self.replay.position >= self.replay.end:
                self.replay.seek_to(self.replay.start)  # played to the end: start over
                self._replay_shown = -1
            self.dashboard.header.paused = not self.replay.playing
            self._show_replay_position()
            return
        self.paused = not self.paused
        self.dashboard.header.paused = self.paused
        if not self.paused:
            self._wake.set()

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
        self.history.resize(max(2, round(self.settings.history_minutes * 60 / interval_s)))
        self.dashboard.header.interval_s = interval_s
        self._wake.set()

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_show_tab(self, tab: str) -> None:
        from textual.widgets import TabbedContent

        self.dashboard.query_one(TabbedContent).active = tab
        if tab == "chat-tab":
            self.call_after_refresh(self.dashboard.query_one("#prompt").focus)

    # --- Ollama: watching the server ----------------------------------------------------------

    @work(exclusive=True, group="ollama-watch", name="ollama-watch")
    async def _watch_ollama(self) -> None:
        """Poll /api/ps; when Ollama is away, say so and try again with a growing pause."""
        client = self.ollama
        assert client is not None and self.ollama_address is not None
        address = self.ollama_address.display
        backoff = 1.0
        tags_read_at = None
        connected = False
        while True:
            try:
                self._ollama_moved.clear()
                self._vram_at_poll = self._vram_used()
                running = await client.running()
                now = time.monotonic()
                if not connected or tags_read_at is None or now - tags_read_at >= OLLAMA_TAGS_S:
                    if not connected:
                        version = await client.version()
                        self.post_message(OllamaConnected(address, version))
                    installed = await client.installed()
                    tags_read_at = now
                    self.post_message(ModelsListed(installed))
                    await self._read_facts(client, installed)
                connected = True
                backoff = 1.0
                self.post_message(ModelsRunning(running))
                await self._until_next_poll()
            except OllamaError as error:
                connected = False
                tags_read_at = None
                message = str(error)
                if isinstance(error, OllamaUnreachableError):
                    message += f" rigtui tries again in {backoff:g} s."
                self.post_message(OllamaDisconnected(address, message, backoff))
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, OLLAMA_BACKOFF_MAX_S)

    async def _until_next_poll(self) -> None:
        """At least ``ollama_poll_s``; then at once if something moved, else when it has or
        ``ollama_quiet_poll_s`` has passed."""
        await asyncio.sleep(self.ollama_poll_s)
        if self._ollama_moved.is_set() or self._vram_at_poll is None:
            return
        with contextlib.suppress(asyncio.TimeoutError):  # not TimeoutError before 3.11
            await asyncio.wait_for(
                self._ollama_moved.wait(), max(0.0, self.ollama_quiet_poll_s - self.ollama_poll_s)
            )

    def _vram_used(self) -> int | None:
        """Memory in use on all the GPUs, or None where there are none to watch."""
        gpus = self.snapshot.gpus if self.snapshot is not None else ()
        used = [gpu.memory_used_bytes for gpu in gpus if not gpu.lost]
        if not used or None in used:
            return None
        return sum(used)

    def _ollama_may_have_moved(self, snapshot: RigSnapshot) -> bool:
        """Whether /api/ps may say something new: the GPUs' memory moved since the last poll, or
        a loaded model's keep-alive has run out (it unloads, or another request kept it)."""
        if self.ollama is None or self._ollama_moved.is_set():
            return False
        used, before = self._vram_used(), self._vram_at_poll
        if used is not None and before is not None and abs(used - before) >= OLLAMA_MOVED_BYTES:
            return True
        return any(
            model.expires_at_s is not None and model.expires_at_s <= snapshot.taken_at
            for model in self.running_models
        )

    async def _read_facts(self, client: OllamaClient, installed: list) -> None:
        """/api/show for each model not seen yet (by digest): the shapes the fit estimate needs."""
        new = {}
        for model in installed:
            key = (model.name, model.digest)
            if key in self._facts_read:
                continue
            try:
                facts = await client.facts(model.name)
            except OllamaError:
                continue
            self._facts_read.add(key)
            new[model.name] = replace(facts, size_bytes=model.size_bytes)
        if new:
            self.post_message(ModelFactsRead(new))

    def on_model_facts_read(self, message: ModelFactsRead) -> None:
        if not self.is_running:
            return  # shutting down: the widgets are going away
        self.model_facts.update(message.facts)
        self._show_fits()

    def fit_estimates(self, num_ctx: int | None = None) -> dict[str, FitEstimate]:
        """Where each installed model would go now, at ``num_ctx`` (else Ollama's default)."""
        gpus = self.snapshot.gpus if self.snapshot is not None else ()
        available = usable_vram(gpus, runner_bytes_by_gpu(gpus))
        if num_ctx is None:
            total = sum(gpu.memory_total_bytes or 0 for gpu in gpus if not gpu.lost)
            num_ctx = ollama_default_num_ctx(self.ollama_version, total)
        estimates = {}
        for name, facts in self.model_facts.items():
            shape = shape_from(facts, facts.size_bytes or 0)
            if shape is not None:
                estimates[name] = estimate(shape, num_ctx, available)
        return estimates

    def _show_fits(self) -> None:
        chat = self.dashboard.chat
        chat.show_fits(self.fit_estimates(chat.options.num_ctx))

    def on_chat_options_changed(self, _message: ChatOptionsChanged) -> None:
        if self.is_running and self.model_facts:
            self._show_fits()

    def on_ollama_connected(self, message: OllamaConnected) -> None:
        if not self.is_running:
            return  # shutting down: the widgets are going away
        self.ollama_connected = True
        self.ollama_version = message.version
        self.dashboard.show_ollama(f"Ollama {message.version} at {message.address}", "")

    def on_ollama_disconnected(self, message: OllamaDisconnected) -> None:
        if not self.is_running:
            return  # shutting down: the widgets are going away
        self.ollama_connected = False
        self.running_models = []
        self.dashboard.show_ollama(f"Ollama at {message.address}", message.error)

    def on_models_listed(self, message: ModelsListed) -> None:
        if not self.is_running:
            return  # shutting down: the widgets are going away
        self.dashboard.chat.show_installed(message.models)

    def on_models_running(self, message: ModelsRunning) -> None:
        if not self.is_running:
            return  # shutting down: the widgets are going away
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
        predictions = {}
        # Predict as if each model were loading alone now, at the context it was loaded with.
        held = runner_bytes_by_gpu(gpus)
        available = usable_vram(gpus, held)
        for model in self.running_models:
            facts = self.model_facts.get(model.name)
            shape = shape_from(facts, facts.size_bytes or 0) if facts is not None else None
            if shape is not None and model.context_length:
                predictions[model.name] = estimate(
                    shape, model.context_length, available, suggest=False
                )
        loading = any(insight.loading for insight in self.insights.values())
        self.dashboard.show_running(
            self.running_models,
            cross_check(self.running_models, gpus, loading=loading),
            predictions,
        )

    def refresh_ollama(self) -> None:
        """Poll now (after a pull, a finished reply), instead of at the next tick."""
        if self.ollama is not None:
            self._poll_once()

    @work(group="ollama-once")
    async def _poll_once(self) -> None:
        assert self.ollama is not None
        try:
            self.post_message(ModelsListed(await self.ollama.installed()))
            self.post_message(ModelsRunning(await self.ollama.running()))
        except OllamaError:
            pass  # the watcher reports it

    # --- Ollama: the chat ---------------------------------------------------------------------

    def on_prompt_submitted(self, message: PromptSubmitted) -> None:
        if self.ollama is None:
            self.notify("Ollama is switched off (--no-ollama).", severity="warning")
            return
        self._stream_reply(message.model, message.messages, message.options)

    def on_stop_requested(self, _message: StopRequested) -> None:
        self.workers.cancel_group(self, "chat")

    @work(exclusive=True, group="chat", name="chat")
    async def _stream_reply(
        self, model: str, messages: list[dict[str, str]], options: ChatOptions
    ) -> None:
        assert self.ollama is not None
        started = time.monotonic()
        first_token_s = None
        first_at = last_at = None
        clock = self.sampler.clock if self.sampler is not None else time.time
        pieces = 0
        end: ReplyEnd | None = None
        error: Exception | None = None
        stopped = False
        self.generating = True
        if not self.power_rounds:
            # The GPU rested until now: power ten times a second from the first token, not
            # from the next reading that shows it at work (the reply's peak and energy).
            self._wake.set()
        self.post_message(ReplyStarted(model))
        try:
            async for item in self.ollama.chat(model, messages, options):
                if isinstance(item, ReplyPiece):
                    if first_token_s is None:
                        first_token_s = item.arrived_at - started
                        first_at = clock()
                    last_at = clock()
                    pieces += 1
                    self._hand_over_piece(item)
                else:
                    end = item
        except asyncio.CancelledError:
            stopped = True
            raise
        except OllamaError as failure:
            error = failure
        finally:
            self.generating = False
            stats = ReplyStats(
                model,
                first_token_s,
                time.monotonic() - started,
                pieces,
                end,
                stopped,
                energy=self._reply_energy(first_at, last_at),
            )
            self.post_message(ReplyFinished(stats, error))

    def _reply_energy(self, first_at: float | None, last_at: float | None):
        """Energy of the runner's GPUs between the first and the last token."""
        if self.sampler is None or first_at is None or last_at is None or last_at <= first_at:
            return None
        gpus = runner_gpus(self.snapshot.gpus) if self.snapshot is not None else ()
        if not gpus and self.snapshot is not None:
            gpus = tuple(gpu.index for gpu in self.snapshot.gpus if not gpu.lost)
        return self.sampler.power_watch.energy(gpus, first_at, last_at)

    def _hand_over_piece(self, piece: ReplyPiece) -> None:
        """Coalesce: one message carries every piece that arrived since the last was shown."""
        self._reply_pieces.append(piece)
        if not self._reply_posted:
            self._reply_posted = True
            delay = self._last_flush + REPLY_FLUSH_S - time.monotonic()
            if delay <= 0:
                self.post_message(ReplyProgressed())
            else:
                self.set_timer(delay, lambda: self.post_message(ReplyProgressed()))

    def on_reply_started(self, message: ReplyStarted) -> None:
        if not self.is_running:
            return  # shutting down: the widgets are going away
        # Released once the reply's last frame is on the screen.
        hold_full_collections()
        self._collections_held += 1
        self.dashboard.chat.reply_started(message.model)

    async def on_reply_progressed(self, _message: ReplyProgressed) -> None:
        if not self.is_running:
            return  # shutting down: the widgets are going away
        await self._flush_pieces()

    async def _flush_pieces(self) -> None:
        pieces, self._reply_pieces = self._reply_pieces, []
        self._reply_posted = False
        self._last_flush = time.monotonic()
        await self.dashboard.chat.reply_pieces(pieces)

    async def on_reply_finished(self, message: ReplyFinished) -> None:
        if not self.is_running:
            return  # shutting down: the widgets are going away
        await self._flush_pieces()
        # The reply's last words reach the screen first; the stats line (and the check that
        # the reply reads as it was streamed) a frame later: with a fast model, one frame of a
        # long chat is what the user waits for. Until the last words are laid out there is
        # nothing to refresh, and the finish would run before the frame instead of after it.
        await self.dashboard.chat.reply_written()
        self.call_after_refresh(self._finish_reply, message.stats, message.error)

    async def _finish_reply(self, stats: ReplyStats, error: Exception | None) -> None:
        if not self.is_running:
            return  # shutting down: the widgets are going away
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

    def on_pull_requested(self, message: PullRequested) -> None:
        if self.ollama is None:
            return
        self._pull(message.model)

    @work(group="pull")
    async def _pull(self, model: str) -> None:
        assert self.ollama is not None
        last_post = 0.0
        try:
            async for step in self.ollama.pull(model):
                now = time.monotonic()
                if now - last_post > 0.1 or step.status == "success":
                    last_post = now
                    self.post_message(PullProgressed(model, step))
        except OllamaError as error:
            self.post_message(PullFinished(model, error))
            return
        self.post_message(PullFinished(model))

    def on_pull_progressed(self, message: PullProgressed) -> None:
        if not self.is_running:
            return  # shutting down: the widgets are going away
        self.dashboard.chat.pull_progressed(message.model, message.step)

    def on_pull_finished(self, message: PullFinished) -> None:
        if not self.is_running:
            return  # shutting down: the widgets are going away
        self.dashboard.chat.pull_finished(message.model, message.error)
        self.refresh_ollama()

    # --- replaying a recording ------------------------------------------------------------------

    REPLAY_TICK_S = 0.1

    def _start_replay(self) -> None:
        assert self.replay is not None
        recording = self.replay.recording
        header = self.dashboard.header
        if recording.problems:
            self._standing_problem = header.problem = recording.problems[0]
            self.notify(recording.summary(), title=f"replay {recording.path.name}", timeout=10)
        first = recording.snapshots[0]
        header.interval_s = 0  # the recording's pace, not a sampling interval
        self.dashboard.show_status(first.nvml)
        self._show_replay_position()
        self.set_interval(self.REPLAY_TICK_S, self._replay_tick)

    def _replay_tick(self) -> None:
        cursor = self.replay
        if cursor is None or not self.is_running:
            return
        cursor.advance(self.REPLAY_TICK_S)
        self._show_replay_position()
        if not cursor.playing:
            self.dashboard.header.paused = True

    def _show_replay_position(self) -> None:
        """Show the sample at the cursor; a jump rebuilds the history window around it."""
        cursor = self.replay
        assert cursor is not None
        index = cursor.index()
        recording = cursor.recording
        if index != self._replay_shown:
            if index < self._replay_shown or index > self._replay_shown + 120:
                # Seeking (or a long step at high speed): the charts show the window before it.
                self.history = History(self.history.capacity)
                self.rig_insight = RigInsight()
                window = self.settings.history_minutes * 60
                first = index
                while first > 0 and recording.snapshots[first - 1].taken_at >= (
                    recording.snapshots[index].taken_at - window
                ):
                    first -= 1
                span = range(first, index)
            else:
                span = range(self._replay_shown + 1, index)
            for earlier in span:
                self.history.add_snapshot(recording.snapshots[earlier])
                self.rig_insight.update(recording.snapshots[earlier])
            self._replay_shown = index
            models = recording.models[index]
            self.running_models = models or []
            self.show_snapshot(recording.snapshots[index])
            if models is not None:
                self._show_running()
            else:
                self.dashboard.show_ollama(
                    "Ollama (not recorded)", "no Ollama data in the recording"
                )
        header = self.dashboard.header
        at = time.strftime("%H:%M:%S", time.localtime(cursor.position))
        total = units.duration(cursor.end - cursor.start)
        done = units.duration(cursor.position - cursor.start)
        header.source = (
            f"replay {recording.path.name} · {done} of {total} ({at}) · {cursor.speed:g}x"
        )

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        replay_only = {"seek", "replay_faster", "replay_slower", "seek_start", "seek_end"}
        live_only = {"slower", "faster"}
        if action in replay_only:
            # Arrow keys stay with a text field that has the focus.
            typing = isinstance(self.focused, TextArea | Input)
            return self.replay is not None and not typing
        if action in live_only:
            return self.replay is None
        return True

    def action_seek(self, seconds: float) -> None:
        if self.replay is not None:
            self.replay.seek(seconds)
            self._show_replay_position()

    def action_seek_start(self) -> None:
        if self.replay is not None:
            self.replay.seek_to(self.replay.start)
            self._show_replay_position()

    def action_seek_end(self) -> None:
        if self.replay is not None:
            self.replay.seek_to(self.replay.end)
            self._show_replay_position()

    def action_replay_faster(self) -> None:
        if self.replay is not None and not self.replay.faster():
            self.bell()
        self._show_replay_position()

    def action_replay_slower(self) -> None:
        if self.replay is not None and not self.replay.slower():
            self.bell()
        self._show_replay_position()
