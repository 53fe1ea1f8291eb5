"""The colours the pure renderers use, taken from the app's theme so every theme works."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual.color import Color

if TYPE_CHECKING:
    from textual.theme import Theme


@dataclass(frozen=True)
class Palette:
    normal: str = "#0178D4"
    good: str = "#4EBF71"
    warning: str = "#FEA62B"
    error: str = "#B93C5B"
    muted: str = "#8A8A8A"
    text: str = "#E0E0E0"
    track: str = "#2A3540"
    accent: str = "#FEA62B"

    @classmethod
    def from_theme_variables(cls, variables: Mapping[str, str]) -> Palette:
        background = Color.parse(variables.get("background", "#121212"))

        def solid(name: str, fallback: str) -> str:
            try:
                color = Color.parse(variables.get(name, fallback))
            except Exception:  # noqa: BLE001 - a theme value we cannot parse falls back
                color = Color.parse(fallback)
            if color.a < 1.0:
                color = background.blend(color.with_alpha(1.0), color.a)
            return color.hex6

        return cls(
            normal=solid("primary", cls.normal),
            good=solid("success", cls.good),
            warning=solid("warning", cls.warning),
            error=solid("error", cls.error),
            muted=solid("foreground-muted", cls.muted),
            text=solid("foreground", cls.text),
            track=solid("panel", cls.track),
            accent=solid("accent", cls.accent),
        )


DEFAULT_PALETTE = Palette()

_palettes: dict[str, tuple[Theme, Palette]] = {}
"""Each theme's palette, by name, with the theme it was made from. Working out a theme's
colours takes 1 to 5 ms, and every panel asks for its palette each time it draws."""


def theme_palette(theme: Theme) -> Palette:
    """The palette of ``theme`` (``app.current_theme``, Textual's own API): any widget can ask
    for it without knowing which app it is in.

    Made from the theme itself rather than ``app.theme_variables``: those follow a new theme
    only once the app has refreshed its CSS, and a palette made in between would be the old
    theme's, kept under the new name.
    """
    kept = _palettes.get(theme.name)
    if kept is not None and kept[0] is theme:
        return kept[1]
    # As Textual builds its CSS variables: the colour system, then the theme's own variables.
    variables = {**theme.to_color_system().generate(), **theme.variables}
    palette = Palette.from_theme_variables(variables)
    # A theme registered again under the same name is another object: made afresh.
    _palettes[theme.name] = (theme, palette)
    return palette
