"""Side by side while a reply streams: token rate, GPU use, CPU load, and where the model lives."""

from __future__ import annotations

from collections import deque

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from rigtui.ui.render.palette import theme_palette

SPARK = " ▁▂▃▄▅▆▇█"


def fit_words(text: str, width: int) -> str:
    """``text`` if it fits in ``width`` cells, else its first whole words and an ellipsis."""
    if Text(text).cell_len <= width:
        return text
    words = text.split(" ")
    while words and Text(" ".join(words) + "…").cell_len > width:
        words.pop()
    return " ".join(words) + "…" if words else ""


class LiveStrip(Widget):
    """One line that fits its width: no figure or sentence is cut. Where it is narrow, parts go
    in order of their worth: the sparkline, the state's long form (``state_short`` then), the
    word "model", CPU, GPU; the rate, the model's split and the state stay."""

    tokens_per_s: reactive[float | None] = reactive(None)
    gpu_pct: reactive[float | None] = reactive(None)
    cpu_pct: reactive[float | None] = reactive(None)
    split: reactive[str] = reactive("")
    state: reactive[str] = reactive("")
    state_short: reactive[str] = reactive("")
    """The state in fewer words, for a narrow strip (empty: the state has no shorter form)."""
    warning: reactive[bool] = reactive(False)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._rates: deque[float] = deque(maxlen=48)

    def record_rate(self, rate: float) -> None:
        self._rates.append(rate)
        self.tokens_per_s = rate
        self.refresh()

    def clear_rates(self) -> None:
        self._rates.clear()
        self.tokens_per_s = None

    def say(self, state: str, short: str = "", *, warning: bool = False) -> None:
        """Show ``state`` (``short`` where it does not fit), as a warning or not."""
        self.state, self.state_short, self.warning = state, short, warning

    def render(self) -> Text:
        palette = theme_palette(self.app.current_theme)
        rate = Text()
        if self.tokens_per_s is not None:
            rate.append(f"{self.tokens_per_s:6.1f} tok/s", style=f"bold {palette.accent}")
        else:
            rate.append("     – tok/s", style=palette.muted)
        spark = Text()
        if self.tokens_per_s is not None and self._rates:
            top = max(self._rates, default=1.0) or 1.0
            bars = "".join(SPARK[min(8, round(rate / top * 8))] for rate in self._rates)
            spark.append(" " + bars[-16:], style=palette.accent)
        gpu = Text.assemble(
            ("  GPU ", "bold"), "N/A" if self.gpu_pct is None else f"{self.gpu_pct:3.0f}%"
        )
        cpu = Text.assemble(
            ("  CPU ", "bold"), "N/A" if self.cpu_pct is None else f"{self.cpu_pct:3.0f}%"
        )
        model_word = Text()
        split = Text()
        if self.split:
            on_cpu = "CPU" in self.split and self.split != "100% GPU"
            model_word.append("  model", style="bold")
            split.append(
                " " + self.split, style=f"bold {palette.warning if on_cpu else palette.good}"
            )
        state_style = f"bold {palette.error}" if self.warning else palette.muted
        long_state = Text(f"  {self.state}", style=state_style) if self.state else Text()
        short_state = (
            Text(f"  {self.state_short}", style=state_style) if self.state_short else long_state
        )
        parts = {"rate": rate, "spark": spark, "gpu": gpu, "cpu": cpu, "model": model_word}
        parts["split"] = split
        # From the whole line down, the least worth going first: the sparkline, the state's
        # long form, the word "model", CPU, GPU.
        attempts = [
            ((), long_state),
            (("spark",), long_state),
            (("spark",), short_state),
            (("spark", "model"), short_state),
            (("spark", "model", "cpu"), short_state),
            (("spark", "model", "cpu", "gpu"), short_state),
        ]
        width = self.content_size.width or self.size.width
        for dropped, state_text in attempts:
            shown = [text for name, text in parts.items() if name not in dropped]
            line = Text.assemble(*shown, state_text)
            if line.cell_len <= width:
                return line
        # Too narrow even so: the state in the words that fit, after the rate and the split.
        line = Text.assemble(rate, split)
        room = width - line.cell_len - 2
        state = self.state_short or self.state
        if state and room > 1:
            line.append(f"  {fit_words(state, room)}", style=state_style)
        return line
