"""A table of processes that keeps the cursor on the same process across updates."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey

WRAPPED = "command"
"""The column that takes the rest of the width and wraps in it."""
MIN_WRAP_WIDTH = 20


class ProcessTable(DataTable):
    """Rows keyed by PID. An update changes only the cells that changed while the same
    processes stay in the same order; otherwise the rows are replaced and the cursor put back
    on its PID."""

    def __init__(
        self,
        columns: Sequence[tuple[str, str]],
        *,
        empty_message: str = "",
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes, cursor_type="row", zebra_stripes=True)
        self._column_spec = list(columns)
        self.empty_message = empty_message
        keys = [key for key, _ in self._column_spec]
        # The message goes in the name column, where it reads naturally and widens nothing odd.
        self._message_column = keys.index("name") if "name" in keys else 0
        self._shown: list[tuple[str, list[Text | str]]] | None = None
        self._wrapped_at: int | None = None
        """The width the last column's text was wrapped at."""

    def on_mount(self) -> None:
        for key, label in self._column_spec:
            self.add_column(label, key=key)

    def _wrap_width(self) -> int | None:
        """The width that leaves the last column (the command line) the rest of the table, to
        wrap in: sized by its content it ran off the edge, cut mid-word."""
        if not self.columns or self._column_spec[-1][0] != WRAPPED:
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
        if self._shown is not None and self._wrap_width() != self._wrapped_at:
            rows, self._shown = self._shown, None
            self.show_rows(rows)  # laid out again, at the new width

    def show_rows(self, rows: Sequence[tuple[str, Sequence[Text | str]]]) -> None:
        """``rows`` are ``(row key, cells)``; cells are ``Text`` so names are never markup."""
        rows = [(key, list(cells)) for key, cells in rows]
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
        if shown is not None and not rows and not shown:
            return  # still nothing to show
        if shown is not None and rows and [key for key, _ in rows] == [key for key, _ in shown]:
            column_keys = [key for key, _ in self._column_spec]
            for (key, cells), (_, old_cells) in zip(rows, shown, strict=True):
                for column, (new, old) in enumerate(zip(cells, old_cells, strict=True)):
                    if new != old:
                        self.update_cell(key, column_keys[column], new, update_width=True)
            self._shown = rows
            return
        self._shown = rows
        selected = None
        if self.row_count and self.cursor_row < self.row_count:
            selected = self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        self.clear()
        if not rows and self.empty_message:
            cells: list[Text | str] = [""] * len(self._column_spec)
            cells[self._message_column] = Text.styled(self.empty_message, style="dim")
            self.add_row(*cells, key="-empty-")
            return
        for key, cells in rows:
            # As many lines as the wrapped command line needs (None: Textual works it out).
            self.add_row(*cells, key=key, height=None if self._wrapped_at else 1)
        if selected is not None and selected in self.rows:
            self.move_cursor(row=self.get_row_index(selected), animate=False)
