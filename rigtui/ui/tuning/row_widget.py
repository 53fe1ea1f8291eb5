"""What the widgets painted row by row share: each row's strip kept until that row changes."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rich.style import Style
from textual.geometry import Region
from textual.strip import Strip
from textual.widget import Widget

from rigtui.ui.tuning.kept_colours import KeptColours


def shown(widget: Widget) -> bool:
    """Laid out and not hidden (by an inactive tab, say): cheaper than asking for the region,
    which has the compositor look the widget up."""
    if not widget.size.area:
        return False
    node = widget
    while isinstance(node, Widget):
        if not node.display:
            return False
        node = node.parent
    return True


class RowWidget(KeptColours, Widget):
    """Painted row by row (Textual's Line API): a row's strip is built once and kept until the
    row changes, and only changed rows are repainted. Subclasses keep their rows, mark them
    stale when their data or styles change, and say how a row is painted."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._strips: dict[int, Strip] = {}
        self._stale = True
        self._base: Style | None = None

    @property
    def base_style(self) -> Style:
        """``rich_style``, remembered until the styles change: it walks up to the screen."""
        if self._base is None:
            self._base = self.rich_style
        return self._base

    def notify_style_update(self) -> None:
        super().notify_style_update()
        # Perhaps a new theme (the rows then come out in other colours and are all repainted),
        # more often a class changed somewhere above and nothing here did.
        self._stale = True
        self._base = None

    def repaint_changed(self, old: Sequence, new: Sequence) -> None:
        """Forget the strips of the rows that differ, and repaint just those rows."""
        width = self.content_size.width
        changed = []
        for y, row in enumerate(new):
            if y >= len(old) or row != old[y]:
                self._strips.pop(y, None)
                changed.append(Region(0, y, width, 1))
        if changed:
            self.refresh(*changed)  # one call: each walks up to the screen

    def kept_strip(self, y: int, rows: int, paint: Callable[[int], Strip]) -> Strip:
        """Row ``y`` of ``rows``: the kept strip, or a newly painted one (blank below them)."""
        strip = self._strips.get(y)
        if strip is None:
            if y >= rows:
                return Strip.blank(self.content_size.width, self.base_style)
            strip = self._strips[y] = paint(y)
        return strip
