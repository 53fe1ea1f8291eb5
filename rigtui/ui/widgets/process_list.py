"""The busiest processes at a glance: a read-only list that repaints only the rows that changed.

The Rig tab shows it every second; a DataTable there re-rendered every cell of both tables each
second (a third of the idle dashboard's work). The Processes tab keeps the interactive table.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text

from rigtui.ui.render.palette import theme_palette
from rigtui.ui.widgets.text_panel import TextPanel

GAP = 2


class ProcessList(TextPanel):
    DEFAULT_CSS = """
    ProcessList {
        height: auto;
        background: $surface;
    }
    """

    def __init__(
        self,
        columns: Sequence[tuple[str, str]],
        *,
        empty_message: str = "",
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self.columns = list(columns)
        self.empty_message = empty_message
        self.rows: list[tuple[str, list[Text | str]]] = []
        # Columns only ever widen, so figures do not jump sideways from one second to the next.
        self._widths = [len(label) for _, label in self.columns]
        # Nor does the list shrink when a process goes: the charts above would change size, and
        # the whole screen be laid out and painted again.
        self._most_lines = 0

    def show_rows(self, rows: Sequence[tuple[str, Sequence[Text | str]]]) -> None:
        """``rows`` are ``(key, cells)``; cells are ``Text`` so names are never markup."""
        self.rows = [(key, list(cells)) for key, cells in rows]
        for _, cells in self.rows:
            for column, cell in enumerate(cells):
                length = cell.cell_len if isinstance(cell, Text) else len(cell)
                self._widths[column] = max(self._widths[column], length)
        self.update_lines()

    def panel_lines(self) -> list[Text]:
        palette = theme_palette(self.app.current_theme)
        header = Text(style=f"bold {palette.muted}")
        for column, (_, label) in enumerate(self.columns):
            header.append(label.ljust(self._widths[column] + GAP))
        lines = [header]
        if not self.rows and self.empty_message:
            lines.append(Text(self.empty_message, style="dim"))
        for _, cells in self.rows:
            line = Text()
            for column, cell in enumerate(cells):
                text = cell if isinstance(cell, Text) else Text(cell)
                padded = text.copy()
                if text.justify == "right":
                    padded.pad_left(self._widths[column] - text.cell_len)
                    padded.append(" " * GAP)
                else:
                    padded.append(" " * (self._widths[column] - text.cell_len + GAP))
                line.append_text(padded)
            lines.append(line)
        width = self.line_width
        for line in lines:
            line.truncate(max(1, width), overflow="ellipsis")
        self._most_lines = max(self._most_lines, len(lines))
        return lines + [Text() for _ in range(self._most_lines - len(lines))]
