"""The Processes tab: every GPU and CPU process, sorted, filtered as you type, and a signal for
the one selected (asked of the app: a widget never sends one).

Keys, as nvitop and btop have them: ``s`` sorts the table with the focus by the next column,
``r`` reverses it, ``/`` opens the filter (Esc clears it), ``T`` terminates and ``K`` kills the
selected process, each after a confirmation the app shows.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Input, Static

from rigtui.telemetry.model import RigSnapshot
from rigtui.ui.messages import EveryProcessWanted, ProcessSignalRequested
from rigtui.ui.render.processes import (
    CPU_COLUMNS,
    DESCENDING_FIRST,
    GPU_COLUMNS,
    NARROW_HIDDEN,
    SORT_KEYS,
    SORT_WORDS,
    ProcessRow,
    cpu_process_rows,
    gpu_process_rows,
    matching,
    sort_column,
    sorted_rows,
    utilization_notes,
)
from rigtui.ui.widgets.process_table import ProcessTable

GPU_EMPTY = "no process is using a GPU"
FILTER_ACTIONS = {"sort_next", "sort_reverse", "signal", "open_filter"}
"""Printable keys: while the filter has the focus they are text."""


class ProcessPane(Vertical):
    DEFAULT_CSS = """
    ProcessPane {
        height: 1fr;
    }
    ProcessPane #process-status {
        height: 1;
        padding: 0 1;
    }
    ProcessPane #process-filter {
        height: 3;
    }
    """
    BINDINGS = [
        Binding(
            "s",
            "sort_next",
            "Sort",
            id="processes-sort",
            tooltip="Processes: sort the table by the next column (VRAM, SM%, CPU%, memory, "
            "PID, name)",
        ),
        Binding(
            "r",
            "sort_reverse",
            "Reverse",
            id="processes-reverse",
            tooltip="Processes: reverse the sort",
        ),
        Binding(
            "slash",
            "open_filter",
            "Filter",
            key_display="/",
            id="processes-filter",
            tooltip="Processes: filter by name, command, user or PID as you type (Esc clears)",
        ),
        Binding(
            "T",
            "signal('terminate')",
            "Terminate",
            id="processes-terminate",
            tooltip="Processes: terminate the selected process (SIGTERM), after a confirmation",
        ),
        Binding(
            "K",
            "signal('kill')",
            "Kill",
            id="processes-kill",
            tooltip="Processes: kill the selected process (SIGKILL), after a confirmation",
        ),
        Binding(
            "escape",
            "close_filter",
            "Clear filter",
            show=False,
            id="processes-clear-filter",
            tooltip="Processes: clear the filter",
        ),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.snapshot: RigSnapshot | None = None
        self.filter_text = ""
        self.sorting: dict[str, tuple[str, bool]] = {
            "gpu-processes": ("vram", True),
            "cpu-processes": ("cpu", True),
        }
        self._rows: dict[str, list[ProcessRow]] = {}
        """What each table shows now, in its order (the signal's target is looked up here)."""

    def compose(self) -> ComposeResult:
        yield Input(
            placeholder="filter: name, command, user or PID (Enter keeps it, Esc clears)",
            id="process-filter",
        )
        yield Static(id="process-status")
        yield ProcessTable(
            GPU_COLUMNS, id="gpu-processes", empty_message=GPU_EMPTY, narrow_hidden=NARROW_HIDDEN
        )
        yield ProcessTable(CPU_COLUMNS, id="cpu-processes", empty_message="no process")

    def on_mount(self) -> None:
        self.query_one("#process-filter").display = False
        for table in self.query(ProcessTable):
            self._mark(table)

    # --- shown or not: every process costs more to read than the busiest dozen ---------------

    def on_show(self) -> None:
        self.post_message(EveryProcessWanted(True))

    def on_hide(self) -> None:
        self.post_message(EveryProcessWanted(False))

    # --- data in -------------------------------------------------------------------------------

    def show(self, snapshot: RigSnapshot) -> None:
        self.snapshot = snapshot
        self._fill()

    def _fill(self) -> None:
        snapshot = self.snapshot
        if snapshot is None:
            return
        made = {
            "gpu-processes": gpu_process_rows(snapshot),
            "cpu-processes": cpu_process_rows(snapshot),
        }
        counts = []
        for table_id, rows in made.items():
            table = self.query_one(f"#{table_id}", ProcessTable)
            kept = matching(rows, self.filter_text)
            sort_key, descending = self.sorting[table_id]
            ordered = sorted_rows(kept, sort_key, descending)
            self._rows[table_id] = ordered
            if self.filter_text and not ordered:
                table.empty_message = f"no process matches {self.filter_text!r}"
            else:
                table.empty_message = GPU_EMPTY if table_id == "gpu-processes" else "no process"
            table.show_rows([(row.key, row.cells) for row in ordered])
            counts.append((len(ordered), len(rows)))
        self._show_status(counts, utilization_notes(snapshot))

    def _show_status(self, counts: list[tuple[int, int]], notes: list[str]) -> None:
        line = Text(no_wrap=True, overflow="ellipsis")
        if self.filter_text:
            (gpu_shown, gpu_all), (cpu_shown, cpu_all) = counts
            line.append("filter ", style="bold")
            line.append(repr(self.filter_text))
            line.append(f": {gpu_shown} of {gpu_all} GPU, {cpu_shown} of {cpu_all} processes")
        else:
            line.append("/ filter  s sort  r reverse  T terminate  K kill", style="dim")
        for note in notes:
            line.append("  ·  ")
            line.append(note, style="dim")
        self.query_one("#process-status", Static).update(line)

    # --- sorting -------------------------------------------------------------------------------

    def _active_table(self) -> ProcessTable:
        focused = self.screen.focused
        if isinstance(focused, ProcessTable) and focused.parent is self:
            return focused
        return self.query_one("#gpu-processes", ProcessTable)

    def _sort_keys(self, table: ProcessTable) -> list[str]:
        columns = set(table.column_keys)
        return [key for key in SORT_KEYS if sort_column(key) in columns]

    def _mark(self, table: ProcessTable) -> None:
        sort_key, descending = self.sorting[table.id or ""]
        table.mark_sorted(sort_column(sort_key), descending)

    def action_sort_next(self) -> None:
        table = self._active_table()
        keys = self._sort_keys(table)
        current, _ = self.sorting[table.id or ""]
        following = keys[(keys.index(current) + 1) % len(keys)] if current in keys else keys[0]
        self.sorting[table.id or ""] = (following, following in DESCENDING_FIRST)
        self._mark(table)
        self._fill()
        self.notify(f"Sorted by {SORT_WORDS[following]}", timeout=2)

    def action_sort_reverse(self) -> None:
        table = self._active_table()
        sort_key, descending = self.sorting[table.id or ""]
        self.sorting[table.id or ""] = (sort_key, not descending)
        self._mark(table)
        self._fill()

    # --- filtering -----------------------------------------------------------------------------

    def action_open_filter(self) -> None:
        field = self.query_one("#process-filter", Input)
        field.display = True
        # Now, not on the next turn: the tab shown with it (the palette's command) focuses its
        # table unless something in the tab has the focus already.
        self.screen.set_focus(field)

    def action_close_filter(self) -> None:
        field = self.query_one("#process-filter", Input)
        field.value = ""  # Changed: the filter goes
        field.display = False
        self.filter_text = ""
        self._fill()
        self.query_one("#gpu-processes").focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.filter_text = event.value
        self._fill()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Enter keeps the filter and goes back to the table (as less's ``/``)."""
        event.stop()
        if not event.value:
            event.input.display = False
        self.query_one("#gpu-processes").focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        typing = isinstance(self.screen.focused, Input)
        if typing and action in FILTER_ACTIONS:
            return False  # a character in the filter
        if action == "close_filter":
            return typing or bool(self.filter_text)
        return True

    # --- signals -------------------------------------------------------------------------------

    def selected_row(self) -> ProcessRow | None:
        table = self._active_table()
        key = table.selected_key
        return next((row for row in self._rows.get(table.id or "", ()) if row.key == key), None)

    def action_signal(self, action: str) -> None:
        row = self.selected_row()
        if row is None:
            self.notify("No process is selected.", severity="warning", timeout=3)
            return
        self.post_message(ProcessSignalRequested(row.target, action))
