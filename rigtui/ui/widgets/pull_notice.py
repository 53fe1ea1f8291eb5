"""One pull in the chat: what Ollama is doing, a bar, the speed and the time left, and Cancel.

The speed and the time left are the pull meter's (``llm/pulling.py``), worked out from the steps
the app hands in, each stamped with when it arrived. Cancelling posts ``PullCancelRequested``;
the app closes the stream, and Ollama keeps what it downloaded for the next pull.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, ProgressBar, Static

from rigtui.llm.ollama import NotInLibraryError, PullStep
from rigtui.llm.pulling import PullMeter
from rigtui.text import units
from rigtui.text.safe import literal
from rigtui.ui.messages import PullCancelRequested


def describe_pull(model: str, step: PullStep | None, meter: PullMeter) -> Text:
    """``Pulling llama3.1:8b: pulling 667b0c1932bc  1.2 GiB of 4.6 GiB · 110 MB/s · 31s left``"""
    text = literal(f"Pulling {model}: {step.status if step else 'asking Ollama'}")
    figures = meter.figures()
    if figures.total_bytes:
        text.append(f"  {units.size(figures.completed_bytes)} of {units.size(figures.total_bytes)}")
        if figures.bytes_per_s is not None and figures.completed_bytes < figures.total_bytes:
            text.append(f" · {units.rate(figures.bytes_per_s)}")
            if figures.seconds_left is not None:
                text.append(f" · {units.duration(figures.seconds_left)} left")
    return text


class PullNotice(Vertical):
    """Told by the chat pane: :meth:`progressed` for each step, :meth:`finished` at the end."""

    def __init__(self, model: str) -> None:
        super().__init__(classes="chat-notice -pull")
        self.model = model
        self.meter = PullMeter()
        self.step: PullStep | None = None
        self.outcome: Text | None = None
        self.cancelling = False
        self.pulled = False
        self._composed = False

    def compose(self) -> ComposeResult:
        yield Static(describe_pull(self.model, None, self.meter), classes="pull-status")
        yield ProgressBar(total=100, show_eta=False, classes="pull-bar")
        with Horizontal(classes="pull-actions"):
            yield Button("Cancel", id="pull-cancel", compact=True)
            yield Static("esc cancels", classes="pull-keys")

    def on_mount(self) -> None:
        self._composed = True
        self._show()

    @property
    def ended(self) -> bool:
        return self.outcome is not None

    def progressed(self, step: PullStep) -> None:
        self.step = step
        self.meter.add(step)
        self._show()

    def finished(self, error: Exception | None, *, cancelled: bool = False) -> None:
        if cancelled:
            self.outcome = literal(
                f"Pull of {self.model} cancelled. Ollama keeps what it downloaded: "
                f"/pull {self.model} goes on from there."
            )
        elif error is None:
            self.pulled = True
            self.outcome = literal(f"Pulled {self.model}. It is in the model list now.")
        else:
            self.outcome = literal(f"Could not pull {self.model}: {error}", style="bold red")
            if isinstance(error, NotInLibraryError):
                self.outcome.append(
                    " /pull takes a name from ollama.com/library, such as llama3.1:8b.",
                    style="red",
                )
        self.set_class(error is not None and not cancelled, "-error")
        self._show()

    def cancel(self) -> bool:
        """Ask the app to stop this pull; False if it has ended or is being cancelled."""
        if self.ended or self.cancelling:
            return False
        self.cancelling = True
        self.post_message(PullCancelRequested(self.model))
        self._show()
        return True

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "pull-cancel":
            event.stop()
            self.cancel()

    def _show(self) -> None:
        if not self._composed:
            return  # shown once composed
        label = self.query_one(".pull-status", Static)
        if self.outcome is None:
            text = describe_pull(self.model, self.step, self.meter)
            if self.cancelling:
                text.append("  cancelling…", style="bold")
            label.update(text)
            fraction = self.meter.figures().fraction
            if fraction is not None:
                self.query_one(ProgressBar).update(total=100, progress=fraction * 100)
            return
        label.update(self.outcome)
        for actions in self.query(".pull-actions"):
            actions.remove()
        for bar in self.query(ProgressBar):
            if self.pulled:
                bar.update(total=100, progress=100)
            else:
                bar.remove()  # a bar stopped part way reads as a download still to come
