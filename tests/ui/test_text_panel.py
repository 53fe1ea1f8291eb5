"""TextPanel: what reaches the screen line by line, long lines wrapped, changes repainted."""

from __future__ import annotations

from rich.text import Text
from textual.app import App, ComposeResult

from rigtui.ui.widgets.text_panel import TextPanel


class Lines(TextPanel):
    def __init__(self) -> None:
        super().__init__(id="lines")
        self.texts = ["short", "a long line " * 8]

    def panel_lines(self) -> list[Text]:
        return [Text(text) for text in self.texts]


class OnePanel(App):
    CSS = "Lines { width: 30; height: auto; }"

    def compose(self) -> ComposeResult:
        yield Lines()


def painted(panel: TextPanel) -> list[str]:
    return [panel.render_line(y).text.rstrip() for y in range(panel.size.height)]


async def test_long_lines_wrap_and_a_change_is_painted():
    app = OnePanel()
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


class StyledApp(App):
    def compose(self) -> ComposeResult:
        yield Styled()


async def test_a_line_keeps_its_own_style_and_its_spans():
    app = StyledApp()
    async with app.run_test(size=(40, 10)) as pilot:
        await pilot.pause()
        panel = app.query_one(Styled)
        red = [seg for seg in panel.render_line(0) if seg.text.strip()]
        assert red and all(seg.style.color.triplet.hex == "#ff0000" for seg in red)
        blue = [seg for seg in panel.render_line(1) if seg.text == "blue"]
        assert blue[0].style.color.triplet.hex == "#0000ff"
