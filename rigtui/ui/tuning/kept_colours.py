"""Background colours and opacity kept between frames, for what is on screen all day."""

from __future__ import annotations

from textual.color import Color


class KeptColours:
    """A mixin for widgets: Textual asks every widget in a frame for its background colours and
    its opacity, and each walks up to the screen (30-70 us a widget a frame, a tenth of the idle
    dashboard's frame). Like ``rich_style``, they change only with the styles, so they are kept
    until ``notify_style_update`` says the styles changed.

    (A container whose background changed with a class while this widget's own rules did not
    would leave them stale: no container above the dashboard's panels does that.)
    """

    _kept_backgrounds: tuple[Color, Color] | None = None
    _kept_opacity: float | None = None

    @property
    def background_colors(self) -> tuple[Color, Color]:
        if self._kept_backgrounds is None:
            self._kept_backgrounds = super().background_colors  # type: ignore[misc]
        return self._kept_backgrounds

    @property
    def opacity(self) -> float:
        if self._kept_opacity is None:
            self._kept_opacity = super().opacity  # type: ignore[misc]
        return self._kept_opacity

    def notify_style_update(self) -> None:
        super().notify_style_update()  # type: ignore[misc]
        self._kept_backgrounds = self._kept_opacity = None
