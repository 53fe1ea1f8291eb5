"""A bordered panel of text lines that repaints only the lines that changed."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Self

from rich.console import Console, Group
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.geometry import Region, Size
from textual.strip import Strip

from rigtui.ui.tuning.row_widget import RowWidget, shown


class TextPanel(RowWidget):
    """A panel updated every second must cost next to nothing: it renders and repaints only
    the lines whose text changed, and has the screen laid out again only when it grows or
    shrinks. Lines longer than the panel are wrapped.

    Subclasses say what to show in :meth:`panel_lines` and call :meth:`update_lines` when
    their data changed (their reactives do not repaint by themselves).
    """

    wrap_lines = True
    """Wrap lines longer than the panel (else they are cut at its edge)."""
    _border_row: int | None = None
    """While a title is set: the border row that alone is repainted for it."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._lines: list[Text] = []
        self._lines_width: int | None = None
        """The width ``_lines`` were made for."""
        self._drawn_for: tuple | None = None
        self._fitting_width: int | None = None

    def panel_lines(self) -> list[Text]:
        """The lines, made for :attr:`line_width` cells."""
        raise NotImplementedError

    @property
    def line_width(self) -> int:
        """The width the lines are made for: while the layout asks how tall the panel would be
        at some width, that width, not the one it has now. Lines made for the current width and
        wrapped at another (a scrollbar's column less) made the panel taller, then shorter, then
        taller again, every second."""
        if self._fitting_width is not None:
            return self._fitting_width
        return self.content_size.width

    def _fitted(self, width: int | None = None) -> list[Text]:
        """The panel's lines, those longer than the panel wrapped (advice, long names)."""
        width = self.content_size.width if width is None else width
        self._fitting_width = width
        try:
            made = self.panel_lines()
        finally:
            self._fitting_width = None
        if not self.wrap_lines:
            return made
        lines = []
        for line in made:
            if 0 < width < line.cell_len:
                lines.extend(line.wrap(self.app.console, width))
            else:
                lines.append(line)
        return lines

    def set_border_title(self, title: str) -> None:
        if title != self.border_title:
            with self._repainting_border_row(0):
                self.border_title = title

    def set_border_subtitle(self, subtitle: str) -> None:
        if subtitle != self.border_subtitle:
            with self._repainting_border_row(self.outer_size.height - 1):
                self.border_subtitle = subtitle

    @contextmanager
    def _repainting_border_row(self, row: int) -> Iterator[None]:
        """Textual's title setters repaint the whole panel; a title that changes every second
        (the CPU's load average) needs its border row repainted, nothing more."""
        self._border_row = row
        try:
            yield
        finally:
            self._border_row = None

    def refresh(self, *regions: Region, **options) -> Self:
        row = self._border_row
        if row is not None and not regions and not options:
            offset = self.content_offset
            regions = (Region(-offset.x, row - offset.y, self.outer_size.width, 1),)
        return super().refresh(*regions, **options)

    def update_lines(self) -> None:
        if not self.is_mounted or not shown(self):
            # Hidden (another tab) or not laid out yet: worked out when shown. Asking for a
            # layout here would have the whole screen laid out and painted again.
            self._stale = True
            return
        self._update()

    def _update(self) -> None:
        lines = self._fitted()
        self._stale = False
        old, self._lines = self._lines, lines
        self._lines_width = self.content_size.width
        if len(lines) != len(old):
            self._strips.clear()
            self.refresh(layout=True)
            return
        self.repaint_changed(old, lines)

    def on_resize(self) -> None:
        self._stale = True
        self._strips.clear()

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        # Lines made for another width (the panel's width before this layout) can be more or
        # fewer: a panel laid out with them was drawn that many rows tall and stayed so, its
        # last lines cut off (the CPU panel's memory lines, seen in snapshots under load).
        if self._stale or width != self._lines_width:
            self._lines = self._fitted(width)
            self._lines_width = width
            self._stale = False
            self._strips.clear()
        return len(self._lines)

    def render(self) -> Group:
        """The lines as one renderable (what :meth:`render_line` paints line by line)."""
        return Group(*(self._fitted() if self._stale else self._lines))

    def render_line(self, y: int) -> Strip:
        if self._stale:
            self._update()
        width = self.content_size.width
        base = self.base_style
        if (width, base) != self._drawn_for:
            # Resized (perhaps by a scrollbar, before the Resize event arrives) or a new theme:
            # the lines are laid out for the width they fill.
            self._drawn_for = (width, base)
            self._lines = self._fitted()
            self._lines_width = width
            self._stale = False
            self._strips.clear()
        return self.kept_strip(y, len(self._lines), self._paint)

    def _paint(self, y: int) -> Strip:
        line, base, console = self._lines[y], self.base_style, self.app.console
        # Text.render leaves out the line's own style when it has no spans: add it here.
        under = base + console.get_style(line.style) if line.style else base
        segments = _side_by_side(line, under, console)
        if segments is None:
            segments = [
                Segment(segment.text, under + segment.style if segment.style else under)
                for segment in line.render(console)
                if segment.text != "\n"
            ]
        return Strip(segments).crop_extend(0, self.content_size.width, base)


def _side_by_side(line: Text, under: Style, console: Console) -> list[Segment] | None:
    """The segments of a line whose spans follow one another without overlapping (the lines
    panels make): half the time of ``Text.render``, which works out nested styles. None for
    any other line."""
    plain = line.plain
    segments = []
    position = 0
    for span in line.spans:
        start, end = span.start, span.end
        if end <= start:
            continue  # an empty span styles nothing
        if start < position:
            return None
        if start > position:
            segments.append(Segment(plain[position:start], under))
        segments.append(Segment(plain[start:end], under + console.get_style(span.style)))
        position = end
    if position < len(plain):
        segments.append(Segment(plain[position:], under))
    return segments
