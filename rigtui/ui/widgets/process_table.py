"""A table of processes that keeps the cursor on the same process across updates."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.binding import Binding
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey

WRAPPED = "command"
"""The column that takes the rest of the width and wraps in it."""
MIN_WRAP_WIDTH = 20


class ProcessTable(DataTable):
    """Rows keyed by PID. An update changes only the cells that changed while the same
    processes stay in the same order; otherwise the rows are replaced and the cursor put back
    on its PID.

    ``narrow_hidden``: columns left out while the table is narrower than ``NARROW_BELOW``
    (cells are still handed in for every column; the table shows those it has). The sorted
    column is marked in its header (``mark_sorted``)."""

    # Textual's DataTable scrolls on Home/End and leaves the cursor behind; a process list
    # (nvitop, htop) moves the selection to the first or the last process.
    BINDINGS = [
        Binding("home", "cursor_to('first')", "First", show=False),
        Binding("end", "cursor_to('last')", "Last", show=False),
    ]

    NARROW_BELOW = 110

    def __init__(
        self,
        columns: Sequence[tuple[str, str]],
        *,
        empty_message: str = "",
        narrow_hidden: frozenset[str] = frozenset(),
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes, cursor_type="row", zebra_stripes=True)
        self._column_spec = list(columns)
        self.empty_message = empty_message
        self._narrow_hidden = narrow_hidden
        self._narrow = False
        self._sorted: tuple[str, bool] | None = None
        self._handed: list[tuple[str, list[Text | str]]] | None = None
        """The rows last handed in, every column: shown again when the columns change."""
        self._keep_selected: str | None = None
        self._shown: list[tuple[str, list[Text | str]]] | None = None
        self._shown_empty: str | None = None
        self._wrapped_at: int | None = None
        """The width the last column's text was wrapped at."""

    @property
    def column_keys(self) -> list[str]:
        """Every column's key, shown or not."""
        return [key for key, _ in self._column_spec]

    @property
    def visible_keys(self) -> list[str]:
        return [
            key for key, _ in self._column_spec if not (self._narrow and key in self._narrow_hidden)
        ]

    @property
    def sorted_by(self) -> tuple[str, bool] | None:
        """(column key, descending) as marked in the header."""
        return self._sorted

    @property
    def selected_key(self) -> str | None:
        """The row key under the cursor (None when the table is empty)."""
        if not self.row_count or self.cursor_row >= self.row_count:
            return None
        key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        return None if key == "-empty-" else key

    def on_mount(self) -> None:
        self._add_columns()

    def _add_columns(self) -> None:
        visible = set(self.visible_keys)
        for key, label in self._column_spec:
            if key in visible:
                self.add_column(self._label(key, label), key=key)

    def _label(self, key: str, label: str) -> str:
        if self._sorted is not None and self._sorted[0] == key:
            return f"{label}{'▼' if self._sorted[1] else '▲'}"
        return label

    def _rebuild_columns(self) -> None:
        """Columns again (another set, or another sort mark); the rows come back, and the
        cursor on its PID."""
        self._keep_selected = self.selected_key
        self.clear(columns=True)
        self._shown = None
        self._shown_empty = None
        self._wrapped_at = None
        self._add_columns()
        if self._handed is not None:
            self.show_rows(self._handed)

    def mark_sorted(self, column_key: str | None, descending: bool) -> None:
        marked = (column_key, descending) if column_key is not None else None
        if marked == self._sorted:
            return
        self._sorted = marked
        if self.is_mounted:
            self._rebuild_columns()

    def _wrap_width(self) -> int | None:
        """The width that leaves the last column (the command line) the rest of the table, to
        wrap in: sized by its content it ran off the edge, cut mid-word."""
        if not self.columns or self.visible_keys[-1] != WRAPPED:
            return None
        others = sum(
            column.get_render_width(self)
            for key, column in self.columns.items()
            if key.value != WRAPPED
        )
        room = self.scrollable_content_region.width - others - 2 * self.cell_padding
        return max(MIN_WRAP_WIDTH, room)

    @property
    def wrapped_to_its_width(self) -> bool:
        """Whether the command lines shown are wrapped at the table's current width (a resize,
        or a tab shown for the first time, lays them out again a frame later)."""
        return self._wrap_width() == self._wrapped_at

    def on_resize(self) -> None:
        narrow = bool(self._narrow_hidden) and self.size.width < self.NARROW_BELOW
        if narrow != self._narrow:
            self._narrow = narrow
            self._rebuild_columns()
            return
        if self._shown is not None and self._wrap_width() != self._wrapped_at:
            rows, self._shown = self._shown, None
            self._show_visible(rows)  # laid out again, at the new width

    def show_rows(self, rows: Sequence[tuple[str, Sequence[Text | str]]]) -> None:
        """``rows`` are ``(row key, cells)``, a cell per column given at the start; cells are
        ``Text`` so names are never markup."""
        self._handed = [(key, list(cells)) for key, cells in rows]
        keys = [key for key, _ in self._column_spec]
        visible = self.visible_keys
        if visible == keys:
            self._show_visible(self._handed)
            return
        where = [keys.index(key) for key in visible]
        self._show_visible([(key, [cells[i] for i in where]) for key, cells in self._handed])

    def _show_visible(self, rows: list[tuple[str, list[Text | str]]]) -> None:
        shown = self._shown
        wrap_width = self._wrap_width()
        if wrap_width is not None and (
            wrap_width != self._wrapped_at
            or shown is None
            or [cells[-1] for _, cells in rows] != [cells[-1] for _, cells in shown]
        ):
            # A command line of another length may need another row height: rows made again.
            self.columns[ColumnKey(WRAPPED)].width = wrap_width
            self.columns[ColumnKey(WRAPPED)].auto_width = False
            self._wrapped_at = wrap_width
            shown = self._shown = None
        if shown is not None and not rows and not shown and self._shown_empty == self.empty_message:
            return  # still nothing to show
        if shown is not None and rows and [key for key, _ in rows] == [key for key, _ in shown]:
            column_keys = self.visible_keys
            for (key, cells), (_, old_cells) in zip(rows, shown, strict=True):
                for column, (new, old) in enumerate(zip(cells, old_cells, strict=True)):
                    if new != old:
                        self.update_cell(key, column_keys[column], new, update_width=True)
            self._shown = rows
            return
        self._shown = rows
        selected = self._keep_selected or self.selected_key
        self._keep_selected = None
        self.clear()
        if not rows and self.empty_message:
            visible = self.visible_keys
            cells: list[Text | str] = [""] * len(visible)
            column = visible.index("name") if "name" in visible else 0
            cells[column] = Text.styled(self.empty_message, style="dim")
            self.add_row(*cells, key="-empty-")
            self._shown_empty = self.empty_message
            return
        self._shown_empty = None
        for key, cells in rows:
            # As many lines as the wrapped command line needs (None: Textual works it out).
            self.add_row(*cells, key=key, height=None if self._wrapped_at else 1)
        if selected is not None and selected in self.rows:
            self.move_cursor(row=self.get_row_index(selected), animate=False)

    def action_cursor_to(self, where: str) -> None:
        if self.row_count:
            self.move_cursor(row=0 if where == "first" else self.row_count - 1)
