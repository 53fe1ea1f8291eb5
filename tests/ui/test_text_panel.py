"""TextPanel: what reaches the screen line by line, long lines wrapped, changes repainted."""

from __future__ import annotations

from rich.text import Text
from textual.dom import DOMNode
from textual.geometry import Region

from rigtui.ui.widgets.text_panel import TextPanel

from .helpers import Hosting


class Lines(TextPanel):
    DEFAULT_CSS = "Lines { width: 30; height: auto; }"

    def __init__(self) -> None:
        super().__init__(id="lines")
        self.texts = ["short", "a long line " * 8]

    def panel_lines(self) -> list[Text]:
        return [Text(text) for text in self.texts]


def painted(panel: TextPanel) -> list[str]:
    return [panel.render_line(y).text.rstrip() for y in range(panel.size.height)]


async def test_long_lines_wrap_and_a_change_is_painted():
    app = Hosting(Lines())
    async with app.run_test(size=(60, 20)) as pilot:
        panel = app.query_one(Lines)
        await pilot.pause()
        shown = painted(panel)
        assert shown[0] == "short"
        assert len(shown) == 1 + 4  # 96 characters on lines of 30
        assert " ".join(shown[1:]).split() == ("a long line " * 8).split()
        panel.texts = ["changed", "tiny"]
        panel.update_lines()
        await pilot.pause()
        assert painted(panel) == ["changed", "tiny"]
        assert panel.size.height == 2  # it shrank: laid out again


class Styled(TextPanel):
    def panel_lines(self) -> list[Text]:
        return [Text("all of it red", style="#ff0000"), Text.assemble(("blue", "#0000ff"), " not")]


async def test_a_line_keeps_its_own_style_and_its_spans():
    app = Hosting(Styled())
    async with app.run_test(size=(40, 10)) as pilot:
        await pilot.pause()
        panel = app.query_one(Styled)
        red = [seg for seg in panel.render_line(0) if seg.text.strip()]
        assert red and all(seg.style.color.triplet.hex == "#ff0000" for seg in red)
        blue = [seg for seg in panel.render_line(1) if seg.text == "blue"]
        assert blue[0].style.color.triplet.hex == "#0000ff"


class Titled(TextPanel):
    DEFAULT_CSS = "Titled { border: round white; height: auto; width: 30; }"

    def panel_lines(self) -> list[Text]:
        return [Text("one"), Text("two")]


async def test_a_new_title_repaints_the_border_row_and_nothing_else():
    app = Hosting(Titled())
    async with app.run_test(size=(40, 10)) as pilot:
        panel = app.query_one(Titled)
        panel.set_border_title("load 1.00")
        await pilot.pause()

        def border_rows() -> tuple[str, str]:
            strips = panel.render_lines(Region(0, 0, 30, 4))
            return strips[0].text, strips[-1].text

        assert "load 1.00" in border_rows()[0]
        panel.set_border_title("load 2.00")
        panel.set_border_subtitle("PCI 01:00.0")
        # Textual's setter would have the whole panel repainted: here only its top and bottom.
        assert panel._repaint_regions == {Region(0, 0, 30, 1), Region(0, 3, 30, 1)}
        await pilot.pause()
        top, bottom = border_rows()
        assert "load 2.00" in top and "PCI 01:00.0" in bottom
        assert [panel.render_line(y).text.rstrip() for y in range(2)] == ["one", "two"]


class FullWidth(TextPanel):
    """Like the CPU panel: figures right-aligned at the edge, lines exactly as wide as asked."""

    DEFAULT_CSS = "FullWidth { width: 30; height: auto; }"

    def panel_lines(self) -> list[Text]:
        return [Text("RAM".ljust(self.line_width - 8) + "5.3/64.0"), Text("SWAP")]


async def test_lines_are_made_for_the_width_the_layout_asks_about():
    app = Hosting(FullWidth())
    async with app.run_test(size=(40, 10)) as pilot:
        panel = app.query_one(FullWidth)
        await pilot.pause()
        assert panel.size.height == 2
        # A scrollbar's column less: made for 29, the lines still fit on two rows. Made for the
        # 30 the panel had and wrapped at 29, they took three, and the panel grew and shrank.
        panel._stale = True
        assert panel.get_content_height(panel.size, panel.size, 29) == 2
        assert panel._lines[0].cell_len == 29


class Columns(TextPanel):
    """Like the CPU panel's cores: the narrower the panel, the more rows they take."""

    DEFAULT_CSS = "Columns { width: 1fr; height: auto; }"

    def panel_lines(self) -> list[Text]:
        rows = 2 if self.line_width >= 60 else 4
        return [Text(f"row {row}") for row in range(rows)] + [Text("RAM")]


async def test_lines_made_for_another_width_are_made_again_for_the_layout():
    panel = Columns()
    app = Hosting(panel)
    async with app.run_test(size=(80, 12)) as pilot:
        await pilot.pause()
        assert panel.size.height == 3
        # The panel narrows (a GPU card mounted beside it) before it hears of its new size:
        # the layout must not take the lines made for the old width, three rows for five.
        assert panel.get_content_height(panel.size, panel.size, 40) == 5
        panel.styles.width = 40
        await pilot.pause()
        assert panel.size.height == 5
        assert painted(panel)[-1] == "RAM"


class Shaded(TextPanel):
    DEFAULT_CSS = "Shaded { background: $primary; width: 20; height: auto; padding: 0 1; }"

    def panel_lines(self) -> list[Text]:
        return [Text("shaded")]


async def test_a_new_theme_reaches_the_background_the_panel_keeps():
    app = Hosting(Shaded())
    async with app.run_test(size=(40, 10)) as pilot:
        panel = app.query_one(Shaded)
        await pilot.pause()
        before = panel.background_colors
        app.theme = "textual-light" if app.theme != "textual-light" else "nord"
        await pilot.pause()
        # Kept between frames, not walked up to the screen each time: but not kept stale.
        assert panel.background_colors != before
        assert panel.background_colors == DOMNode.background_colors.fget(panel)
        padding = panel.render_lines(Region(0, 0, 20, 1))[0]
        assert padding.text.startswith(" shaded")
        first = next(iter(padding))
        assert first.style.bgcolor.triplet.hex == panel.background_colors[1].hex.lower()


def test_side_by_side_spans_paint_as_rich_renders_them():
    from rich.console import Console
    from rich.style import Style
    from rich.text import Span

    from rigtui.ui.widgets.text_panel import _side_by_side

    console = Console(color_system="truecolor")
    under = Style(color="#e0e0e0", bgcolor="#101010")
    line = Text("GPU ", style="bold")
    line.append("█████", style="#00ff00")
    line.append(" 52%", style="bold #ffffff")
    line.append("  fan 0%")
    line.append("", style="red")  # empty spans are nothing
    # As _paint calls it: ``under`` has the line's own style in it already.
    fast = _side_by_side(line, under + console.get_style(line.style), console)
    general = [
        (segment.text, under + segment.style if segment.style else under)
        for segment in line.render(console)
        if segment.text != "\n"
    ]
    assert [(segment.text, segment.style) for segment in fast] == general
    gapped = Text("abcdef", spans=[Span(1, 3, "bold"), Span(4, 4, "red"), Span(4, 6, "italic")])
    painted = _side_by_side(gapped, under, console)
    assert "".join(segment.text for segment in painted) == "abcdef"
    nested = Text.assemble(("all ", "bold"), ("of it", "red"))
    nested.stylize("italic", 0, 7)  # over two spans: Text.render works that out
    assert _side_by_side(nested, under, console) is None
