"""RigApp: owns the sampling worker and the history, and routes each snapshot to the screen."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from textual import work
from textual.app import App
from textual.binding import Binding
from textual.worker import get_current_worker

from rigtui.config import INTERVAL_MAX_S, INTERVAL_MIN_S, Settings
from rigtui.telemetry.history import History
from rigtui.telemetry.model import RigSnapshot
from rigtui.telemetry.sampler import RigSampler
from rigtui.ui.messages import HistoryLoaded, SamplerOpened, SnapshotTaken, SourceFailed
from rigtui.ui.render.palette import Palette
from rigtui.ui.screens.dashboard import DashboardScreen
from rigtui.ui.screens.help import HelpScreen
from rigtui.ui.widgets.rig_header import RigHeader

INTERVAL_STEPS = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)


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
    ]

    def __init__(
        self,
        settings: Settings,
        sampler_factory: Callable[[], RigSampler],
        *,
        history: History | None = None,
        prefill: Callable[[], tuple[RigSnapshot, ...]] | None = None,
        source_label: str = "",
    ) -> None:
        super().__init__()
        self.settings = settings
        self.interval_s = settings.interval_s
        self.paused = False
        self.history = history or History(settings.history_capacity)
        self.palette = Palette()
        self.snapshot: RigSnapshot | None = None
        self.snapshots_shown = 0
        self._sampler_factory = sampler_factory
        self._prefill = prefill
        self._source_label = source_label
        self._wake = threading.Event()
        self._pending: RigSnapshot | None = None
        self._pending_lock = threading.Lock()
        self.theme = settings.theme

    # --- lifetime ---------------------------------------------------------------------------

    def get_default_screen(self) -> DashboardScreen:
        self._dashboard = DashboardScreen(self.interval_s, self._source_label)
        return self._dashboard

    def on_mount(self) -> None:
        self.palette = Palette.from_theme_variables(self.theme_variables)
        self.theme_changed_signal.subscribe(self, self._theme_changed)

    def start_sampling(self) -> None:
        """Called by the dashboard once its widgets exist to receive the readings."""
        self._sample_forever()

    def _theme_changed(self, _theme) -> None:
        self.palette = Palette.from_theme_variables(self.theme_variables)
        for widget in self.dashboard.query("*"):
            widget.refresh()

    @property
    def dashboard(self) -> DashboardScreen:
        return self._dashboard

    # --- the sampler thread -----------------------------------------------------------------

    @work(thread=True, exclusive=True, group="sampler", name="sampler")
    def _sample_forever(self) -> None:
        worker = get_current_worker()
        if self._prefill is not None:
            self.post_message(HistoryLoaded(self._prefill()))
        sampler = self._sampler_factory()
        try:
            status = sampler.open()
        except Exception as error:  # noqa: BLE001 - the UI must say what broke, not crash
            self.post_message(SourceFailed("sampler", f"could not start sampling: {error}"))
            return
        self.post_message(SamplerOpened(status))
        next_due = time.monotonic()
        try:
            while not worker.is_cancelled:
                if not self.paused:
                    try:
                        snapshot = sampler.sample()
                    except Exception as error:  # noqa: BLE001
                        self.post_message(SourceFailed("sampler", f"sampling failed: {error}"))
                    else:
                        self._hand_over(snapshot)
                next_due += self.interval_s
                delay = next_due - time.monotonic()
                if delay < 0:
                    # Fell behind (a slow NVML call, a suspended laptop): start counting afresh.
                    next_due = time.monotonic()
                    delay = 0
                if self._wake.wait(delay):
                    self._wake.clear()
                    next_due = time.monotonic()
        finally:
            sampler.close()

    def _hand_over(self, snapshot: RigSnapshot) -> None:
        """Post a message only if the previous one was taken: a backlog collapses to the newest."""
        with self._pending_lock:
            already_waiting = self._pending is not None
            self._pending = snapshot
        if not already_waiting:
            self.post_message(SnapshotTaken())

    # --- messages -----------------------------------------------------------------------------

    def on_sampler_opened(self, message: SamplerOpened) -> None:
        self.dashboard.show_status(message.status)

    def on_history_loaded(self, message: HistoryLoaded) -> None:
        for snapshot in message.snapshots:
            self.history.add_snapshot(snapshot)

    def on_snapshot_taken(self, _message: SnapshotTaken) -> None:
        with self._pending_lock:
            snapshot, self._pending = self._pending, None
        if snapshot is None:
            return
        self.show_snapshot(snapshot)

    def show_snapshot(self, snapshot: RigSnapshot) -> None:
        self.snapshot = snapshot
        self.history.add_snapshot(snapshot)
        self.snapshots_shown += 1
        self.dashboard.query_one(RigHeader).problem = ""
        self.dashboard.show_snapshot(snapshot, self.history, self.settings.history_minutes * 60)

    def on_source_failed(self, message: SourceFailed) -> None:
        self.dashboard.query_one(RigHeader).problem = message.error
        self.notify(message.error, title="rigtui", severity="error", timeout=8)

    # --- actions ------------------------------------------------------------------------------

    def action_toggle_pause(self) -> None:
        self.paused = not self.paused
        self.dashboard.query_one(RigHeader).paused = self.paused
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
        self.dashboard.query_one(RigHeader).interval_s = interval_s
        self._wake.set()

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_show_tab(self, tab: str) -> None:
        from textual.widgets import TabbedContent

        self.dashboard.query_one(TabbedContent).active = tab
