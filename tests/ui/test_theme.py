"""A new theme recolours the figures: widgets take their palette from Textual's theme."""

from __future__ import annotations

import pytest
from textual.geometry import Region
from textual.theme import BUILTIN_THEMES

from rigtui.telemetry.model import GpuReading
from rigtui.ui.render.palette import theme_palette
from rigtui.ui.staging import staged_app
from rigtui.ui.widgets.gpu_card import GpuCard
from rigtui.ui.widgets.live_strip import LiveStrip

from .helpers import Hosting, first_reading_shown

DARK = BUILTIN_THEMES["textual-dark"]
NORD = BUILTIN_THEMES["nord"]


@pytest.fixture(autouse=True)
def _forget_the_simulated_library():
    yield
    from rigtui.sim import uninstall

    uninstall()


def painted_colours(widget) -> set[str]:
    """The foreground colours of what the widget paints, as ``#RRGGBB``."""
    width, height = widget.size
    colours = set()
    for strip in widget.render_lines(Region(0, 0, width, height)):
        for segment in strip:
            style = segment.style
            if style is not None and style.color is not None and style.color.triplet is not None:
                colours.add(style.color.triplet.hex.upper())
    return colours


async def test_the_dashboard_recolours_its_cards_after_a_theme_change():
    app = staged_app("story", 45.0)
    async with app.run_test(size=(100, 30)) as pilot:
        await first_reading_shown(pilot)
        card = app.screen.query_one("#gpu-card-0", GpuCard)
        # The utilisation bar is drawn in the theme's primary colour.
        assert DARK.primary.upper() in painted_colours(card)
        app.theme = "nord"
        await pilot.pause()
        colours = painted_colours(card)
        assert NORD.primary.upper() in colours
        assert DARK.primary.upper() not in colours


async def test_a_widget_follows_the_theme_without_the_app_telling_it():
    card = GpuCard(0)
    app = Hosting(card)  # a plain Textual app: no palette of its own, nothing refreshed for it
    async with app.run_test(size=(100, 14)) as pilot:
        card.reading = GpuReading(index=0, name="Test GPU", utilization_gpu_pct=50)
        await pilot.pause()
        assert DARK.primary.upper() in painted_colours(card)
        app.theme = "nord"
        await pilot.pause()
        assert NORD.primary.upper() in painted_colours(card)


async def test_the_live_strip_draws_in_the_new_theme():
    strip = LiveStrip()
    app = Hosting(strip)
    async with app.run_test(size=(80, 3)) as pilot:
        strip.record_rate(42.0)
        app.theme = "nord"
        await pilot.pause()
        rate = next(span for span in strip.render().spans if "bold" in str(span.style))
        assert str(rate.style) == f"bold {NORD.accent.upper()}"


def test_a_theme_registered_again_under_its_name_gets_its_own_palette():
    first = theme_palette(NORD)
    assert first.normal == NORD.primary.upper()
    from dataclasses import replace

    changed = replace(NORD, primary="#123456")
    assert theme_palette(changed).normal == "#123456"
    assert theme_palette(NORD) == first
