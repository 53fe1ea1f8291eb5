"""The Fleet tab: every rig Prometheus scrapes, a block each, and one rig's history below.

It displays what the app hands it (readings, errors, a rig's history) and asks the app, by
message, to read now or to read a rig's history; it never talks to Prometheus.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from rigtui.fleet.model import FleetReading, RigHistory
from rigtui.text.safe import literal
from rigtui.ui.messages import FleetHistoryRequested, FleetReadRequested
from rigtui.ui.render.fleet import (
    HISTORY_CHARTS,
    NO_RIGS,
    WINDOWS_S,
    fleet_status,
    history_charts,
    history_points,
    history_title,
    rig_block,
    rig_key,
)
from rigtui.ui.render.palette import theme_palette
from rigtui.ui.tuning.row_widget import shown
from rigtui.ui.widgets.history_chart import HistoryChart


class _RigList(OptionList):
    """Textual's option list, with Enter in the footer as what it does here."""

    BINDINGS = [
        Binding("enter", "select", "History", tooltip="The selected rig's history charts"),
    ]


class _History(Vertical, can_focus=True):
    """The history charts: focusable, so the pane's keys work where they replace the list."""


class _NoRigs(Static, can_focus=True):
    """What to do when Prometheus has no rigs: focusable, so ``r`` (read now) works here too."""


SHORT_HEIGHT = 30
"""Below this many rows the history takes the place of the list (80x24 leaves 19)."""
TIME_TICK_S = 1.0
"""How often the status line's "read N ago" and "trying again in N" count on."""


class FleetPane(Vertical, can_focus=False):
    DEFAULT_CSS = """
    FleetPane {
        height: 1fr;
    }
    FleetPane #fleet-status {
        height: auto;
        max-height: 4;
        padding: 0 1;
    }
    FleetPane #fleet-rigs {
        height: 1fr;
        border: none;
        padding: 0;
        /* A line per fact: cut at the edge rather than wrapped under the rig's title. */
        text-wrap: nowrap;
        text-overflow: ellipsis;
        /* The selected rig on a quiet background: its red and amber figures stay legible. */
        & > .option-list--option-highlighted {
            background: $primary 25%;
            text-style: none;
        }
        &:focus > .option-list--option-highlighted {
            background: $primary 35%;
            text-style: none;
        }
    }
    FleetPane #fleet-empty {
        display: none;
        padding: 1 2;
        height: auto;
    }
    FleetPane.-empty #fleet-empty {
        display: block;
    }
    FleetPane.-empty #fleet-rigs {
        display: none;
    }
    FleetPane #fleet-history {
        display: none;
        height: 2fr;
    }
    FleetPane.-history #fleet-history {
        display: block;
    }
    FleetPane.-history.-short #fleet-rigs {
        display: none;
    }
    FleetPane #fleet-history-title {
        height: auto;
        max-height: 3;
        padding: 0 1;
    }
    FleetPane .fleet-chart-row {
        height: 1fr;
    }
    FleetPane .fleet-chart-row HistoryChart {
        width: 1fr;
    }
    """

    BINDINGS = [
        Binding("j", "next_rig", "Next rig", show=False, id="fleet-next"),
        Binding("k", "previous_rig", "Previous rig", show=False, id="fleet-previous"),
        Binding(
            "enter",
            "open_history",
            "History",
            id="fleet-history",
            tooltip="The selected rig's history charts, read from Prometheus",
        ),
        Binding(
            "w",
            "cycle_window",
            "Window",
            id="fleet-window",
            tooltip="The history's window: 15m, 1h, 6h, 24h",
        ),
        Binding("escape", "close_history", "Back", id="fleet-back", tooltip="Close the history"),
        Binding("r", "read_now", "Read now", id="fleet-read", tooltip="Read Prometheus now"),
    ]

    def __init__(self, server: str = "", *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.server = server
        self.reading: FleetReading | None = None
        self.error: str | None = None
        self.retry_in_s: float | None = None
        self.news_at = 0.0
        """When the newest news (a reading or an error) came: the retry counts down from it."""
        self.now = 0.0
        """The time as last told (with news, or by :meth:`show_time`): "read N ago" counts to it."""
        self.history_instance: str | None = None
        """The rig whose history is open, or None."""
        self.window_s = WINDOWS_S[0]
        self.history: RigHistory | None = None
        self.history_error: str | None = None
        self._status_shown: Text | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="fleet-status")
        yield _NoRigs(Text(NO_RIGS), id="fleet-empty")
        yield _RigList(id="fleet-rigs")
        with _History(id="fleet-history"):
            yield Static(id="fleet-history-title")
            for row in (HISTORY_CHARTS[:2], HISTORY_CHARTS[2:]):
                with Horizontal(classes="fleet-chart-row"):
                    for key, title, scale in row:
                        yield HistoryChart(title, scale=scale, id=f"fleet-chart-{key}")

    def on_mount(self) -> None:
        self._show_status()

    def on_resize(self, event) -> None:
        self.set_class(event.size.height < SHORT_HEIGHT, "-short")

    @property
    def rigs(self) -> OptionList:
        return self.query_one("#fleet-rigs", OptionList)

    @property
    def selected_instance(self) -> str | None:
        """The highlighted rig's instance."""
        if self.reading is None:
            return None
        index = self.rigs.highlighted
        if index is None or not 0 <= index < len(self.reading.rigs):
            return None
        return self.reading.rigs[index].instance

    # --- what the app hands in ------------------------------------------------------------------

    def show_reading(self, reading: FleetReading, now: float) -> None:
        """A fresh reading: the rigs in its order, the same rig kept highlighted."""
        self.reading = reading
        self.error = None
        self.retry_in_s = None
        self.news_at = self.now = now
        focus_here = self._holds_focus()
        palette = theme_palette(self.app.current_theme)
        rigs = self.rigs
        kept = None
        if rigs.highlighted is not None and rigs.option_count:
            kept = rigs.get_option_at_index(rigs.highlighted).id
        with self.app.batch_update():
            rigs.set_options(
                Option(rig_block(rig, reading.read_at, palette), id=rig_key(rig))
                for rig in reading.rigs
            )
            keys = [rig_key(rig) for rig in reading.rigs]
            if keys:
                rigs.highlighted = keys.index(kept) if kept in keys else 0
            self.set_class(not reading.rigs, "-empty")
            self._show_status()
        if focus_here:
            # The list hides while there are no rigs, the note shows instead: the keys follow.
            if self.has_class("-history") and self.has_class("-short"):
                pass  # the history keeps the focus it has
            elif reading.rigs:
                rigs.focus()
            else:
                self.query_one("#fleet-empty").focus()
        if self.history_instance is not None and self.history_error is not None:
            self._open(self.history_instance)  # Prometheus is back: the history too

    def show_unreadable(self, error: str, retry_in_s: float | None, now: float) -> None:
        """Prometheus could not be read: said above the rigs, the last good reading kept."""
        self.error = error
        self.retry_in_s = retry_in_s
        self.news_at = self.now = now
        self._show_status()

    def keep_time(self, clock: Callable[[], float]) -> None:
        """Tell the time by ``clock`` every second, so "read 5s ago" and "trying again in 20s"
        count on between readings (a staged clock stands still).

        The pane's own timer, not the app's: Textual stops a widget's timers before it takes
        its children away, while the app's timers still tick as the app's screens are torn
        down at quitting (one that asked for the status line then found it gone)."""
        self.set_interval(TIME_TICK_S, lambda: self.show_time(clock()), name="fleet-clock")

    def show_time(self, now: float) -> None:
        """The time now: how long ago the fleet was read, and when it is tried again."""
        self.now = now
        self._show_status()

    def show_history(self, history: RigHistory) -> None:
        if history.instance != self.history_instance:
            return  # the user moved on while it was read
        self.history = history
        self.history_error = None
        palette = theme_palette(self.app.current_theme)
        for key, data in history_charts(history, palette, self.window_s).items():
            self.query_one(f"#fleet-chart-{key}", HistoryChart).show_data(data)
        self._show_history_title()

    def show_history_failed(self, instance: str, error: str) -> None:
        if instance != self.history_instance:
            return
        self.history_error = error
        self._clear_charts()
        self._show_history_title()

    # --- keys -----------------------------------------------------------------------------------

    def action_next_rig(self) -> None:
        self.rigs.action_cursor_down()

    def action_previous_rig(self) -> None:
        self.rigs.action_cursor_up()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.action_open_history()

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        event.stop()
        # Beside the list, the charts follow the highlight (as nvitop's process tree does).
        if self.history_instance is not None and not self.has_class("-short"):
            instance = self.selected_instance
            if instance is not None and instance != self.history_instance:
                self._open(instance)

    def action_open_history(self) -> None:
        instance = self.selected_instance
        if instance is not None:
            self._open(instance)

    def action_close_history(self) -> None:
        if self.history_instance is None:
            return
        self.history_instance = None
        self.history = None
        self.remove_class("-history")
        self.rigs.focus()
        self.call_after_refresh(self.rigs.scroll_to_highlight, top=True)

    def action_cycle_window(self) -> None:
        at = WINDOWS_S.index(self.window_s) if self.window_s in WINDOWS_S else -1
        self.window_s = WINDOWS_S[(at + 1) % len(WINDOWS_S)]
        if self.history_instance is not None:
            self._open(self.history_instance)

    def action_read_now(self) -> None:
        self.post_message(FleetReadRequested())

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if action == "close_history":
            return self.history_instance is not None
        if action == "open_history":
            return self.selected_instance is not None
        return True

    # --- drawing --------------------------------------------------------------------------------

    def _open(self, instance: str) -> None:
        if instance != self.history_instance:
            self._clear_charts()  # no other rig's lines under this rig's name while it is read
        self.history_instance = instance
        self.history = None
        self.history_error = None
        if self.has_class("-short"):
            self.query_one("#fleet-history").focus()  # before the list it replaces hides
        self.add_class("-history")
        self.call_after_refresh(self.rigs.scroll_to_highlight, top=True)  # the list shrank
        self._show_history_title()
        self.refresh_bindings()
        self.post_message(FleetHistoryRequested(instance, self.window_s))

    def _clear_charts(self) -> None:
        for chart in self.query(HistoryChart):
            chart.show_data(None)

    def _holds_focus(self) -> bool:
        """Whether the keys are the Fleet tab's: the focus is in it, or it is on screen and
        the focus is nowhere (it was on the list or the note as one of them hid)."""
        focused = self.app.focused
        if focused is None:
            # Shown by every container above it now, not by the last frame's map: in the frame
            # after a tab key that map still holds the pane, and the focus would take the old
            # tab back.
            return shown(self)
        return self in focused.ancestors

    def _show_status(self) -> None:
        palette = theme_palette(self.app.current_theme)
        retry_in_s = None
        if self.error is not None and self.retry_in_s is not None:
            retry_in_s = max(0.0, self.news_at + self.retry_in_s - self.now)
        status = fleet_status(self.reading, self.error, retry_in_s, self.now, palette, self.server)
        shown = self.query_one("#fleet-status", Static)
        if status != self._status_shown:
            self._status_shown = status
            shown.update(status)

    def _show_history_title(self) -> None:
        instance = self.history_instance or ""
        palette = theme_palette(self.app.current_theme)
        if self.history is not None:
            title = history_title(instance, self.window_s, history_points(self.history))
        else:
            title = history_title(instance, self.window_s, -1)
            if self.history_error is None:
                title.append(" · reading…", style=palette.muted)
        # The keys before any error: a long error wraps below them (up to the title's height).
        title.append("  (w window, Esc back)", style=palette.muted)
        if self.history_error is not None:
            title.append("\n⚠ ", style=palette.error)
            title.append_text(literal(self.history_error, style=palette.error))
        self.query_one("#fleet-history-title", Static).update(title)
