"""The colours the pure renderers use, taken from the app's theme so every theme works."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from textual.color import Color


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
