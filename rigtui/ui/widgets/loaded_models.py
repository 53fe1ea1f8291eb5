"""The models Ollama has loaded, where each lives (GPU/CPU split), and whether NVML agrees;
with the focus, a cursor on one of them and the keys that unload, load and delete models.

The pane acts on nothing itself: it posts what the user asked for (``UnloadRequested``,
``ModelChooserRequested``) and the app does it, then tells the pane how it went (:meth:`say`).
"""

from __future__ import annotations

import time

from rich.text import Text
from textual.binding import Binding
from textual.reactive import reactive

from rigtui.llm.ollama import RunningModel
from rigtui.llm.placement import CrossCheck, offload_advice, processor_split
from rigtui.text import units
from rigtui.text.safe import literal
from rigtui.ui.messages import ModelChooserRequested, UnloadRequested
from rigtui.ui.render.palette import theme_palette
from rigtui.ui.widgets.text_panel import TextPanel

FOREVER_S = 20 * 365 * 24 * 3600


def _names(models) -> list[str]:
    return [model.name for model in models]


def until(expires_at_s: float | None, now_s: float) -> str:
    """The UNTIL column of ``ollama ps`` (epoch seconds)."""
    if expires_at_s is None:
        return "?"
    left = expires_at_s - now_s
    if left <= 0:
        return "stopping…"
    if left > FOREVER_S:
        return "forever"
    return f"{units.duration(left)} left"


class LoadedModels(TextPanel):
    """Focusable (Tab): ↑/↓ move the cursor over the loaded models; the footer shows the keys."""

    BINDINGS = [
        Binding("up", "cursor(-1)", "Previous", show=False, id="models-up"),
        Binding("down", "cursor(1)", "Next", show=False, id="models-down"),
        Binding(
            "u",
            "unload",
            "Unload",
            id="models-unload",
            tooltip="Unload the model under the cursor now, freeing its VRAM (ollama stop)",
        ),
        Binding(
            "l",
            "load",
            "Load…",
            id="models-load",
            tooltip="Load a model, or keep one loaded, for a keep-alive you choose",
        ),
        Binding(
            "d",
            "delete",
            "Delete…",
            id="models-delete",
            tooltip="Delete an installed model from disk (ollama rm), after a confirmation",
        ),
    ]
    can_focus = True

    models: reactive[tuple[RunningModel, ...]] = reactive((), repaint=False)
    check: reactive[CrossCheck | None] = reactive(None, repaint=False)
    status: reactive[str] = reactive("Looking for Ollama…", repaint=False)
    """Why the list is empty or stale (Ollama unreachable …); empty when connected."""
    show_advice: reactive[bool] = reactive(True, repaint=False)
    predictions: reactive[dict] = reactive(dict, repaint=False)
    """The fit estimate for each loaded model, to show next to what Ollama did."""
    now_epoch_s: reactive[float | None] = reactive(None, repaint=False)
    """The time of the latest reading: "4m left" is counted from it (the rig's own clock)."""
    brief: reactive[bool] = reactive(False, repaint=False)
    """One line for all the models (a short terminal); a disagreement with NVML still shows."""
    selected_name: reactive[str | None] = reactive(None, repaint=False)
    """The model under the cursor (kept by name: /api/ps sorts by time left)."""
    action_line: reactive[tuple[str, str]] = reactive(("", ""), repaint=False)
    """What the last model action is doing or did, and how it went: "", "error" or "muted"."""

    def show(
        self,
        models: tuple[RunningModel, ...],
        check: CrossCheck,
        predictions: dict,
        now_epoch_s: float | None,
    ) -> None:
        """Everything of one poll at once: worked out and repainted once, not per field."""
        if self.action_line[1] == "muted" and _names(models) != _names(self.models):
            # An action's outcome ("Unloaded …") is stale once Ollama's models change again.
            self.set_reactive(LoadedModels.action_line, ("", ""))
        self.set_reactive(LoadedModels.models, models)
        self.set_reactive(LoadedModels.check, check)
        self.set_reactive(LoadedModels.predictions, predictions)
        self.set_reactive(LoadedModels.now_epoch_s, now_epoch_s)
        self.set_reactive(LoadedModels.status, "")
        self.update_lines()

    def _changed(self) -> None:
        self.update_lines()

    watch_models = watch_check = watch_status = watch_show_advice = _changed
    watch_predictions = watch_now_epoch_s = watch_selected_name = watch_action_line = _changed

    # --- the cursor and the keys ---------------------------------------------------------------

    @property
    def selected(self) -> RunningModel | None:
        """The model under the cursor: the one chosen, else the first."""
        for model in self.models:
            if model.name == self.selected_name:
                return model
        return self.models[0] if self.models else None

    def action_cursor(self, step: int) -> None:
        names = [model.name for model in self.models]
        if not names:
            return
        current = self.selected
        at = names.index(current.name) if current is not None else 0
        self.selected_name = names[(at + step) % len(names)]

    def action_unload(self) -> None:
        model = self.selected
        if model is None:
            self.say("No model is loaded: nothing to unload (l loads one).", "error")
            return
        self.post_message(UnloadRequested(model.name))

    def action_load(self) -> None:
        model = self.selected
        self.post_message(ModelChooserRequested("load", model.name if model else None))

    def action_delete(self) -> None:
        model = self.selected
        self.post_message(ModelChooserRequested("delete", model.name if model else None))

    def say(self, text: str, kind: str = "") -> None:
        """A line under the models: an action under way (``kind`` ""), its outcome ("muted")
        or what went wrong ("error")."""
        self.action_line = (text, kind)

    def on_focus(self) -> None:
        self.update_lines()

    def on_blur(self) -> None:
        self.update_lines()

    def _marked(self, model: RunningModel) -> str:
        """The name's style: reversed under the cursor while the pane has the focus."""
        return "bold reverse" if self.has_focus and model is self.selected else "bold"

    def _action_lines(self, palette) -> list[Text]:
        text, kind = self.action_line
        if not text:
            return []
        style = {"error": palette.error, "muted": palette.muted}.get(kind, palette.accent)
        return [literal(text, style=style)]

    def watch_brief(self, brief: bool) -> None:
        self.set_class(brief, "-brief")
        self.update_lines()

    def panel_lines(self) -> list[Text]:
        if self.brief:
            return self._brief_lines()
        palette = theme_palette(self.app.current_theme)
        lines: list[Text] = []
        if self.status:
            lines.append(Text(self.status, style=palette.warning))
        if not self.models and not self.status:
            lines.append(Text("No model loaded.", style=palette.muted))
        now_s = self.now_epoch_s if self.now_epoch_s is not None else time.time()
        for model in self.models:
            split = processor_split(model.size_bytes, model.size_vram_bytes)
            line = literal(model.name, style=self._marked(model))
            line.append(f"  {model.size_bytes / 1e9:.1f} GB  ")
            colour = palette.good if split == "100% GPU" else palette.warning
            line.append(split, style=f"bold {colour}")
            if model.context_length:
                line.append(f"  ctx {model.context_length}", style=palette.muted)
            line.append(f"  {until(model.expires_at_s, now_s)}", style=palette.muted)
            lines.append(line)
            prediction = self.predictions.get(model.name)
            if prediction is not None:
                lines.append(
                    Text(
                        f"  rigtui predicted {prediction.short()} "
                        f"({prediction.layers_on_gpu}/{prediction.layers_total} layers on GPU); "
                        f"Ollama: {split}",
                        style=palette.muted,
                    )
                )
        if self.models and self.check is not None:
            colour = palette.muted if self.check.agrees is not False else palette.error
            lines.append(Text(self.check.explain(), style=colour))
        if self.show_advice:
            for model in self.models:
                advice = offload_advice(model)
                if advice:
                    lines.append(Text(advice, style=palette.warning))
        return lines + self._action_lines(palette)

    def _brief_lines(self) -> list[Text]:
        """``Ollama  llama3.1:8b 100% GPU 9m45s left · qwen3:32b 62%/38% CPU/GPU …``"""
        palette = theme_palette(self.app.current_theme)
        line = Text.styled("Ollama ", style="bold")
        if self.status:
            line.append(self.status, style=palette.warning)
            return [line, *self._action_lines(palette)]
        if not self.models:
            line.append("no model loaded", style=palette.muted)
            return [line, *self._action_lines(palette)]
        now_s = self.now_epoch_s if self.now_epoch_s is not None else time.time()
        for number, model in enumerate(self.models):
            split = processor_split(model.size_bytes, model.size_vram_bytes)
            if number:
                line.append(" · ", style=palette.muted)
            line.append_text(literal(model.name, style=self._marked(model)))
            colour = palette.good if split == "100% GPU" else palette.warning
            line.append(f" {split}", style=f"bold {colour}")
            line.append(f" {until(model.expires_at_s, now_s)}", style=palette.muted)
        lines = [line]
        if self.check is not None and self.check.agrees is False:
            lines.append(Text(self.check.explain(), style=palette.error))
        return lines + self._action_lines(palette)
