"""The live dashboard: layout and wiring only; the widgets draw, the app routes the data."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer, TabbedContent, TabPane

from rigtui.insight.fit import FitEstimate
from rigtui.insight.rig import GpuInsight
from rigtui.llm.ollama import ChatOptions, RunningModel
from rigtui.llm.placement import CrossCheck
from rigtui.telemetry.history import History, gpu_key
from rigtui.telemetry.model import NvmlStatus, RigSnapshot
from rigtui.text import units
from rigtui.text.safe import literal
from rigtui.ui.messages import ChatOptionsRequested
from rigtui.ui.render.chart import ChartData, ChartLine, ChartSeries
from rigtui.ui.render.palette import theme_palette
from rigtui.ui.screens.chat_options import ChatOptionsScreen
from rigtui.ui.tuning.kept_colours import KeptColours
from rigtui.ui.tuning.steady_tabs import SteadyTabbedContent
from rigtui.ui.widgets.chat_pane import ChatPane
from rigtui.ui.widgets.conversation_list import ConversationList
from rigtui.ui.widgets.cpu_panel import CpuPanel
from rigtui.ui.widgets.fleet_pane import FleetPane
from rigtui.ui.widgets.gpu_card import GpuCard
from rigtui.ui.widgets.history_chart import HistoryChart
from rigtui.ui.widgets.loaded_models import LoadedModels
from rigtui.ui.widgets.nvml_notice import NvmlNotice
from rigtui.ui.widgets.process_list import ProcessList
from rigtui.ui.widgets.process_pane import ProcessPane
from rigtui.ui.widgets.rig_header import RigHeader

GPU_PROCESS_COLUMNS = [
    ("gpu", "GPU"),
    ("pid", "PID"),
    ("name", "Name"),
    ("vram", "VRAM"),
    ("type", "Type"),
    ("command", "Command"),
]
CPU_PROCESS_COLUMNS = [
    ("pid", "PID"),
    ("user", "User"),
    ("cpu", "CPU%"),
    ("rss", "RSS"),
    ("name", "Name"),
    ("command", "Command"),
]

# (chart id suffix, title, metric, scale, unit)
GPU_CHARTS = (
    ("util", "GPU utilization %", "utilization_gpu_pct", 1.0),
    ("vram", "VRAM used GiB", "memory_used_bytes", float(units.GIB)),
    ("temp", "Temp °C (slowdown ╌)", "temperature_c", 1.0),
    ("power", "Power W (limit ╌)", "power_draw_w", 1.0),
)
EXTRA_CHARTS = (
    ("cpu", "CPU load %", 1.0),
    ("pcie", "PCIe RX MB/s", 1e6),
)
SERIES_COLOURS = ("normal", "accent", "good", "error")
W = TypeVar("W", bound=Widget)
CHAT_LIST_MIN_WIDTH = 140
"""Below this the sidebar of saved chats would squeeze the chat (it has the GPUs beside it
from 120 columns): under it the list is a picker (ctrl+f)."""


class _Row(KeptColours, Horizontal):
    """A row of the dashboard: it is in every frame, so its colours are kept."""


class _Column(KeptColours, Vertical):
    """A column of the dashboard: it is in every frame, so its colours are kept."""


class _Scroll(KeptColours, VerticalScroll):
    """A tab's body that takes the focus, so PgUp/PgDn/Home/End and the arrows reach all of it
    without a mouse."""


class _Footer(Footer):
    """Textual's footer, with its keys in the first frame. Textual's waits until the screen
    announces its bindings and then composes them after the next refresh: at start that put
    the keys two layouts after the GPU's figures, about 0.15 s later."""

    def __init__(self) -> None:
        super().__init__()
        self.set_reactive(Footer._bindings_ready, True)


class DashboardScreen(KeptColours, Screen):
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (40, "-tall")]

    def __init__(
        self,
        interval_s: float = 1.0,
        source_label: str = "",
        *,
        on_ready: Callable[[], None] | None = None,
        chat: bool = True,
        fleet_server: str | None = None,
    ) -> None:
        """``on_ready``: called once the widgets exist to receive readings. A call, not a
        message: posted, it waited behind the first layout and paint of the whole dashboard,
        and the first reading took a second frame (a live start's first complete frame 0.64 s
        called, 0.97 s posted; benchmarks/first_frame.py)."""
        super().__init__(id="dashboard")
        self._on_ready = on_ready
        self._chat = chat
        """False without Ollama (``--no-ollama``): no Chat tab, rather than an empty one."""
        self._fleet_server = fleet_server
        """The Prometheus the Fleet tab reads (``--prometheus``); None: no Fleet tab."""
        self._initial_interval_s = interval_s
        self._source_label = source_label
        self.snapshot: RigSnapshot | None = None
        self.history: History | None = None
        self.window_s = 600.0
        self.insights: dict[int, GpuInsight] = {}
        self._gpu_count = -1
        self._found: dict[str, Widget] = {}

    def compose(self) -> ComposeResult:
        yield RigHeader(id="header")
        with SteadyTabbedContent(id="tabs", initial="rig-tab"):
            with TabPane("Rig", id="rig-tab"):
                with _Scroll(id="rig-body"):
                    yield NvmlNotice(id="nvml-notice")
                    with _Row(id="top-row"):
                        yield _Column(id="gpu-cards")
                        yield CpuPanel()
                    yield LoadedModels(id="rig-models")
                    with _Row(id="rig-charts", classes="chart-row"):
                        for suffix, title, _, scale in GPU_CHARTS:
                            yield HistoryChart(title, scale=scale, id=f"rig-chart-{suffix}")
                        yield HistoryChart("CPU load %", id="rig-chart-cpu")
                    with _Row(id="rig-processes"):
                        yield ProcessList(
                            GPU_PROCESS_COLUMNS[:5],
                            id="rig-gpu-processes",
                            empty_message="no GPU processes",
                        )
                        yield ProcessList(CPU_PROCESS_COLUMNS[:5], id="rig-cpu-processes")
            with TabPane("Charts", id="charts-tab"):
                with _Column(id="chart-grid"):
                    with _Row(classes="chart-row"):
                        for suffix, title, _, scale in GPU_CHARTS[:2]:
                            yield HistoryChart(title, scale=scale, id=f"big-chart-{suffix}")
                        yield HistoryChart("CPU load %", id="big-chart-cpu")
                    with _Row(classes="chart-row"):
                        for suffix, title, _, scale in GPU_CHARTS[2:]:
                            yield HistoryChart(title, scale=scale, id=f"big-chart-{suffix}")
                        yield HistoryChart("PCIe RX MB/s", scale=1e6, id="big-chart-pcie")
            with TabPane("Processes", id="processes-tab"):
                yield ProcessPane(id="process-panes")
            with TabPane("Chat", id="chat-tab"):
                with _Row(id="chat-layout"):
                    # The saved chats beside the chat on a wide terminal; ctrl+f at any width.
                    yield ConversationList(id="chat-sidebar")
                    yield ChatPane()
                    with _Column(id="chat-side"):
                        yield _Column(id="chat-gpus")
                        yield CpuPanel(id="chat-cpu")
                        yield LoadedModels(id="chat-models")
            if self._fleet_server is not None:
                with TabPane("Fleet", id="fleet-tab"):
                    yield FleetPane(self._fleet_server, id="fleet-pane")
        yield _Footer()

    def on_mount(self) -> None:
        header = self.header
        header.interval_s = self._initial_interval_s
        header.source = self._source_label
        if not self._chat:
            self.query_one(TabbedContent).hide_tab("chat-tab")
        self.query_one("#rig-body").focus()
        if self._on_ready is not None:
            self._on_ready()

    @property
    def header(self) -> RigHeader:
        """The top line; the app sets its problem, pause and interval."""
        return self._one("#header", RigHeader)

    @property
    def chat(self) -> ChatPane:
        return self.query_one(ChatPane)

    # --- the chat's options ------------------------------------------------------------------

    def on_chat_options_requested(self, event: ChatOptionsRequested) -> None:
        event.stop()
        chat = self.chat

        def saved(options: ChatOptions | None) -> None:
            if options is not None:  # None: cancelled
                chat.apply_options(options)
                # Saved, the next thing typed is the prompt (opened by its button, the focus
                # would go back to the button, and "hi" + Enter with it).
                chat.query_one("#prompt").focus()

        self.app.push_screen(ChatOptionsScreen(chat.options, chat.presets), saved)

    # --- data in ------------------------------------------------------------------------------

    def show_ollama(self, title: str, error: str) -> None:
        self.add_class("-ollama")
        for models in self.query(LoadedModels):
            models.border_title = title
            models.status = error
            if error:
                models.models = ()
        self.chat.show_connection(error)

    def show_running(
        self,
        running: list[RunningModel],
        check: CrossCheck,
        predictions: dict[str, FitEstimate] | None = None,
    ) -> None:
        now = self.snapshot.taken_at if self.snapshot is not None else None
        for selector in ("#rig-models", "#chat-models"):
            self._one(selector, LoadedModels).show(tuple(running), check, predictions or {}, now)
        self.chat.show_running(running)

    def show_status(self, status: NvmlStatus) -> None:
        self.query_one(NvmlNotice).status = status
        self.header.nvml = status
        self.set_class(not status.available or status.error is not None, "-no-gpu")

    def show_snapshot(
        self,
        snapshot: RigSnapshot,
        history: History,
        window_s: float,
        insights: dict[int, GpuInsight] | None = None,
    ) -> None:
        self.snapshot = snapshot
        self.history = history
        self.window_s = window_s
        self.insights = insights or {}
        with self.app.batch_update():
            header = self.header
            header.taken_at = snapshot.taken_at
            header.hostname = snapshot.hostname
            header.power = snapshot.power
            self._ensure_cards(len(snapshot.gpus))
            self._show_gpus_and_cpu(snapshot, "#gpu-card-", "#cpu-panel")
            self._refresh_active_tab()

    def show_insights(self, insights: dict[int, GpuInsight]) -> None:
        """New insight for the snapshot on screen (Ollama reported other models)."""
        self.insights = insights
        for card in self.query(GpuCard):
            if card.reading is not None:
                card.insight = insights.get(card.reading.index)

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        self._refresh_active_tab()
        # After the tab bar has taken the focus for itself: the tab's body has it, so the keys
        # scroll what is below the fold (the prompt, on the chat).
        focus = {
            "rig-tab": "#rig-body",
            "processes-tab": "#gpu-processes",
            "chat-tab": "#prompt",
            "fleet-tab": "#fleet-rigs",
        }.get(event.pane.id or "")
        if focus is not None:
            self.call_after_refresh(self._focus_tab_body, event.pane.id, focus)

    def _focus_tab_body(self, tab: str, body: str) -> None:
        # Only if the tab is still the one shown: a second tab key read before this refresh
        # (a quick Alt+3 Alt+1) was undone as the first tab's body took the focus, and with
        # it the tab. And only if nothing in it has the focus yet: the palette's "Processes:
        # filter" opens the filter as it shows the tab.
        if self._one("#tabs", TabbedContent).active != tab:
            return
        focused = self.focused
        if focused is None or self.query_one(f"#{tab}") not in focused.ancestors:
            self.set_focus(self.query_one(body))  # now: a later focus() (the filter's) wins

    def _refresh_active_tab(self) -> None:
        """Only what the user can see is rebuilt: hidden tables and charts cost nothing."""
        if self.snapshot is None or self.history is None:
            return
        active = self._one("#tabs", TabbedContent).active
        if active == "rig-tab":
            self._fill_processes("#rig-gpu-processes", "#rig-cpu-processes")
            if self.has_class("-tall"):
                self._fill_charts("rig-chart")
        elif active == "charts-tab":
            self._fill_charts("big-chart")
        elif active == "processes-tab":
            self._one("#process-panes", ProcessPane).show(self.snapshot)
        elif active == "chat-tab":
            # The live strip only while it is seen: a hidden widget that repaints has Textual
            # work out the whole screen's map again, every second.
            self.chat.show_snapshot(self.snapshot)
            if self.has_class("-wide"):
                # Beside the chat: the same figures, compact, to watch a model offload.
                self._show_gpus_and_cpu(self.snapshot, "#chat-gpu-", "#chat-cpu")

    def _show_gpus_and_cpu(self, snapshot: RigSnapshot, card_prefix: str, cpu_id: str) -> None:
        for gpu in snapshot.gpus:
            card = self._one(f"{card_prefix}{gpu.index}", GpuCard)
            card.insight = self.insights.get(gpu.index)
            card.reading = gpu
        self._one(cpu_id, CpuPanel).show(snapshot.cpu, snapshot.memory)

    def on_resize(self, event) -> None:
        # The saved chats beside the chat only where the chat keeps its width (ctrl+f elsewhere).
        self.set_class(event.size.width >= CHAT_LIST_MIN_WIDTH, "-chat-list")
        # Short terminals get one line of per-core blocks instead of a grid of bars.
        self.query_one("#cpu-panel", CpuPanel).max_core_rows = 4 if event.size.height >= 34 else 1
        self.query_one("#chat-cpu", CpuPanel).max_core_rows = 1
        self._compact_cards(event.size.height)
        # Short: the Ollama pane in a line, so the processes are a page away, not three.
        self.query_one("#rig-models", LoadedModels).brief = event.size.height < 34
        self.call_after_refresh(self._refresh_active_tab)

    def _compact_cards(self, height: int) -> None:
        """Several GPUs on a short terminal: five lines per card, so CPU and memory still fit;
        more than two on a short one: two lines per card, as nvitop fits them."""
        compact = self._gpu_count > 1 and height < 40
        brief = self._gpu_count > 2 and height < 34
        for card in self.query("#gpu-cards GpuCard"):
            card.compact = compact
            card.brief = brief
        for card in self.query("#chat-gpus GpuCard"):
            card.compact = True

    def _ensure_cards(self, count: int) -> None:
        """One card per GPU, in the Rig tab and beside the chat. Cards are only ever added, and
        those past the count hidden: removed and mounted again, a second change before the
        removal ended (it is not awaited here) met the old card's id (DuplicateIds)."""
        if count == self._gpu_count:
            return
        self._gpu_count = count
        for container_id, card_for in (
            ("#gpu-cards", lambda index: GpuCard(index)),
            ("#chat-gpus", lambda index: GpuCard(index, id=f"chat-gpu-{index}", compact=True)),
        ):
            container = self.query_one(container_id)
            cards = list(container.query_children(GpuCard))
            for card in cards:
                card.display = card.index < count
            if count > len(cards):
                container.mount_all(card_for(index) for index in range(len(cards), count))
        self._compact_cards(self.size.height)
        self.set_class(count == 0, "-no-gpu")
        self.set_class(count > 1, "-multi-gpu")

    # --- tables and charts ------------------------------------------------------------------

    def _fill_processes(self, gpu_table_id: str, cpu_table_id: str) -> None:
        """The Rig tab's glance at the processes (the Processes tab fills itself)."""
        snapshot = self.snapshot
        assert snapshot is not None
        gpu_rows = []
        for gpu in snapshot.gpus:
            for process in gpu.processes or ():
                cells = [
                    str(gpu.index),
                    str(process.pid),
                    literal(process.name, placeholder="(not visible)"),
                    units.size(process.used_memory_bytes),
                    process.kind,
                ]
                gpu_rows.append((f"{gpu.index}:{process.pid}", cells))
        self._one(gpu_table_id, ProcessList).show_rows(gpu_rows)
        cpu_rows = []
        # The busiest dozen, also while every process is read for the Processes tab.
        busiest = sorted(snapshot.processes, key=lambda p: (-p.cpu_pct, p.pid))[:12]
        for process in busiest:
            cells = [
                str(process.pid),
                literal(process.username),
                Text(f"{process.cpu_pct:.0f}", justify="right"),
                units.size(process.rss_bytes),
                literal(process.name),
            ]
            cpu_rows.append((str(process.pid), cells))
        self._one(cpu_table_id, ProcessList).show_rows(cpu_rows)

    def _fill_charts(self, prefix: str) -> None:
        snapshot = self.snapshot
        history = self.history
        assert snapshot is not None and history is not None
        palette = theme_palette(self.app.current_theme)
        colours = [getattr(palette, name) for name in SERIES_COLOURS]
        times = history.timestamps()
        now = snapshot.taken_at
        # Mark along the bottom of every chart when a reply was being generated.
        spans = history.spans("llm.generating")
        gpus = [gpu for gpu in snapshot.gpus if not gpu.lost] or list(snapshot.gpus)
        for suffix, _, metric, _ in GPU_CHARTS:
            series = tuple(
                ChartSeries(
                    f"GPU {gpu.index}",
                    history.series(gpu_key(gpu.index, metric)),
                    colours[gpu.index % len(colours)],
                )
                for gpu in gpus
            )
            lines: tuple[ChartLine, ...] = ()
            y_max = None
            if metric == "utilization_gpu_pct":
                y_max = 100.0
            elif metric == "memory_used_bytes":
                totals = [gpu.memory_total_bytes for gpu in gpus if gpu.memory_total_bytes]
                y_max = max(totals) / units.GIB if totals else None
            elif metric == "temperature_c":
                limits = [gpu.temperature_slowdown_c for gpu in gpus if gpu.temperature_slowdown_c]
                if limits:
                    lines = (ChartLine("slowdown", float(max(limits)), palette.error),)
            elif metric == "power_draw_w":
                lines = tuple(
                    ChartLine(f"GPU {gpu.index} limit", gpu.power_limit_w, palette.warning)
                    for gpu in gpus
                    if gpu.power_limit_w
                )
                budget = snapshot.power.budget_w if snapshot.power is not None else None
                if budget:
                    lines += (ChartLine("budget", budget, palette.error),)
                # The instantaneous peaks, where the driver has them: what trips a PSU. Drawn
                # first, so the one-second average stays visible on top.
                series = (
                    tuple(
                        ChartSeries(
                            "peak",  # one legend entry for every GPU's peaks
                            history.series(gpu_key(gpu.index, "power_peak_1s_w")),
                            palette.error,
                        )
                        for gpu in gpus
                        if gpu.power_peaks_instant
                    )
                    + series
                )
            data = ChartData(
                times,
                now,
                self.window_s,
                series,
                lines,
                y_max=y_max,
                spans=spans,
                span_color=palette.accent,
            )
            self._show_chart(f"#{prefix}-{suffix}", data)
        cpu = ChartData(
            times,
            now,
            self.window_s,
            (ChartSeries("CPU", history.series("cpu.percent"), palette.normal),),
            y_max=100.0,
            spans=spans,
            span_color=palette.accent,
        )
        self._show_chart(f"#{prefix}-cpu", cpu)
        if prefix != "big-chart":
            return  # the PCIe chart is on the Charts tab only
        pcie = ChartData(
            times,
            now,
            self.window_s,
            tuple(
                ChartSeries(
                    f"GPU {gpu.index}",
                    history.series(gpu_key(gpu.index, "pcie_rx_bytes_per_s")),
                    colours[gpu.index % len(colours)],
                )
                for gpu in gpus
            ),
        )
        self._show_chart(f"#{prefix}-pcie", pcie)

    def _show_chart(self, selector: str, data: ChartData) -> None:
        self._one(selector, HistoryChart).show_data(data)

    def _one(self, selector: str, expect: type[W]) -> W:
        """``query_one``, remembered: the same widgets are updated every second, and looking
        them up in the DOM each time was a fifth of the idle dashboard's work."""
        widget = self._found.get(selector)
        if widget is None or not widget.is_attached:
            widget = self.query_one(selector, expect)
            self._found[selector] = widget
        return widget  # type: ignore[return-value]
