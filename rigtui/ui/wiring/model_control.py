"""Model control: unload, load and delete from the loaded-models pane and the palette.

A part of :class:`rigtui.ui.app.RigApp` (a mixin: ``self`` is the app), kept apart so the app
stays the place that binds keys and owns lifetimes, and each feature's routing reads on its own.
"""

from __future__ import annotations

from functools import partial

from textual import work
from textual.app import SystemCommand

from rigtui.llm.keep_alive import describe_keep_alive
from rigtui.llm.ollama import OllamaClient, OllamaError
from rigtui.llm.placement import processor_split
from rigtui.ui import messages as said
from rigtui.ui.screens.delete_model import DeleteModelScreen
from rigtui.ui.screens.model_chooser import ModelChoice, ModelChooserScreen
from rigtui.ui.widgets.loaded_models import LoadedModels


class ModelControlWiring:
    # --- model control ------------------------------------------------------------------------
    # Unload, load and delete, from the loaded-models pane's keys and the command palette. After
    # each, /api/ps is read at once: the pane shows what Ollama did without waiting for a poll.

    def _model_control_commands(self):
        if self.replay is not None:
            return
        for purpose, title, help_text in (
            ("load", "Load a model…", "Load one, or keep one loaded, for a keep-alive (l)"),
            ("unload", "Unload a model…", "Free its VRAM now, as `ollama stop` does (u)"),
            ("delete", "Delete a model…", "Remove an installed model, as `ollama rm` does (d)"),
        ):
            yield SystemCommand(
                title, help_text, partial(self.post_message, said.ModelChooserRequested(purpose))
            )

    def _say_to_models(self, text: str, kind: str = "") -> None:
        for pane in self.dashboard.query(LoadedModels):
            pane.say(text, kind)

    def _ollama_to_control(self) -> OllamaClient | None:
        """The client, or None with the reason said in the pane."""
        if self.ollama is None:
            if self.replay is not None:
                why = "a replay shows a recording, with no Ollama to act on"
            elif self.source.ollama_address is None:
                why = "Ollama is switched off (--no-ollama)"
            else:
                why = "Ollama is not connected yet"
            self._say_to_models(f"Cannot control models: {why}.", "error")
        return self.ollama

    def on_unload_requested(self, message: said.UnloadRequested) -> None:
        if self._ollama_to_control() is not None:
            self._control_model("unload", message.model)

    def on_model_chooser_requested(self, message: said.ModelChooserRequested) -> None:
        if self._ollama_to_control() is not None:
            self._choose_model(message.purpose, message.highlighted)

    @work(exclusive=True, group="model-chooser")
    async def _choose_model(self, purpose: str, highlighted: str | None) -> None:
        """The list to choose from (the installed models, fresh; or the loaded ones), then,
        to delete, the confirmation; then the action."""
        assert self.ollama is not None
        loaded = {model.name: model for model in self.running_models}
        sizes: dict[str, int] = {}
        if purpose == "unload":
            choices = [
                ModelChoice(
                    model.name,
                    f"{model.size_bytes / 1e9:.1f} GB  "
                    f"{processor_split(model.size_bytes, model.size_vram_bytes)}",
                )
                for model in loaded.values()
            ]
        else:
            try:
                installed = await self.ollama.installed()
            except OllamaError as error:
                self.post_message(said.ModelActionFinished(purpose, "", error))
                return
            choices = []
            for model in installed:
                sizes[model.name] = model.size_bytes
                detail = [f"{model.size_bytes / 1e9:.1f} GB", model.parameter_size]
                detail += [model.quantization, "loaded" if model.name in loaded else ""]
                choices.append(ModelChoice(model.name, "  ".join(part for part in detail if part)))
        chosen = await self.push_screen_wait(ModelChooserScreen(purpose, choices, highlighted))
        if chosen is None:
            return
        if purpose == "delete":
            confirm = DeleteModelScreen(
                chosen.model, sizes.get(chosen.model), loaded=chosen.model in loaded
            )
            if not await self.push_screen_wait(confirm):
                return
        self._control_model(purpose, chosen.model, chosen.keep_alive)

    @work(group="model-control")
    async def _control_model(self, action: str, model: str, keep_alive: str | None = None) -> None:
        client = self.ollama
        assert client is not None
        self.post_message(said.ModelActionStarted(action, model, keep_alive))
        error: OllamaError | None = None
        try:
            if action == "unload":
                await client.unload(model)
            elif action == "load":
                await client.load(model, keep_alive)
            else:
                await client.delete(model)
        except OllamaError as failed:
            error = failed
        still_loaded = False
        try:  # at once, not at the next poll
            running = await client.running()
            self.post_message(said.ModelsRunning(running))
            still_loaded = action != "load" and any(m.name == model for m in running)
            if action == "delete":
                self.post_message(said.ModelsListed(await client.installed()))
        except OllamaError:
            pass  # the watch says so
        self.post_message(
            said.ModelActionFinished(
                action, model, error, keep_alive=keep_alive, still_loaded=still_loaded
            )
        )

    def on_model_action_started(self, message: said.ModelActionStarted) -> None:
        doing = {"unload": "Unloading", "load": "Loading", "delete": "Deleting"}[message.action]
        kept = message.keep_alive and f" (keep-alive {describe_keep_alive(message.keep_alive)})"
        self._say_to_models(f"{doing} {message.model}{kept or ''}…")

    def on_model_action_finished(self, message: said.ModelActionFinished) -> None:
        model = message.model
        if message.error is not None:
            text = str(message.error)
            if model:
                text = f"Could not {message.action} {model}: {text}"
            self._say_to_models(text, "error")
            self.notify(text, title="Ollama", severity="error", timeout=8)
            return
        if message.still_loaded:
            text = f"{model} is answering a request: Ollama unloads it when that ends."
        elif message.action == "unload":
            text = f"Unloaded {model}: its memory is free."
        elif message.action == "load":
            kept = describe_keep_alive(message.keep_alive or "5m")
            kept = "loaded forever" if kept == "forever" else f"for {kept}"
            text = f"Loaded {model}; Ollama keeps it {kept}."
        else:
            text = f"Deleted {model}."
        self._say_to_models(text, "muted")
