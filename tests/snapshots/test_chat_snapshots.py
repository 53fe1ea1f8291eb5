"""SVG snapshots of the chat while a reply streams: fully on the GPU, and split with the CPU.

The reply is held after a fixed number of tokens (the simulated server stalls there), and the
live token rate is fixed to the simulated model's modelled rate, so the picture is reproducible.
"""

from __future__ import annotations

import pytest

from rigtui.sim import uninstall
from rigtui.sim.ollama.models import tokenize
from rigtui.ui.staging import hold_live_figures, staged_app
from rigtui.ui.widgets.chat_pane import ChatPane
from rigtui.ui.widgets.prompt_input import PromptInput
from tests.ui.helpers import first_reading_shown, until

# Fixed ports: the Ollama address is on screen. One per test, so parallel workers never clash;
# below Linux's ephemeral range (32768-60999), where any client socket could have taken them.
PORTS = {"gpu": 31611, "offloaded": 31612}
STALL_AFTER_TOKENS = 60


@pytest.fixture
def chat_snapshot_app():
    made = []

    def make(at_s: float, port: int):
        app = staged_app("story", at_s, ollama=True, ollama_speed=20.0, ollama_port=port)
        app.environment.ollama.faults.stall_after_tokens = STALL_AFTER_TOKENS
        made.append(app)
        return app

    yield make
    for app in made:
        app.environment.stop_ollama()
    uninstall()


def _mid_reply(prompt: str):
    async def run_before(pilot) -> None:
        app = pilot.app
        await first_reading_shown(pilot)
        await until(pilot, lambda: app.ollama_connected and app.running_models)
        await pilot.press("4")
        chat = app.screen.query_one(ChatPane)
        loaded = app.running_models[0].name
        await until(pilot, lambda: chat.current_model == loaded)
        await until(pilot, lambda: isinstance(app.focused, PromptInput))
        chat.query_one(PromptInput).text = prompt
        await pilot.press("enter")
        server = app.environment.ollama
        # The server holds the reply after its 60th token: wait for exactly those on screen.
        held = "".join(tokenize(server.reply_for(prompt))[:STALL_AFTER_TOKENS])
        await until(pilot, lambda: chat.reply is not None and chat.reply.content == held)
        await chat.reply.settle()  # the held tokens all laid out; the reply goes on
        (model,) = [m for m in server.loaded() if m.name == loaded]
        hold_live_figures(app, round(model.generation_tokens_per_s, 1))
        chat.query_one(PromptInput).text = "and what if I lower the power limit?"
        await pilot.pause()

    return run_before


def test_chat_reply_fully_on_gpu_160x50(snap_compare, chat_snapshot_app):
    app = chat_snapshot_app(345.0, PORTS["gpu"])
    assert snap_compare(app, terminal_size=(160, 50), run_before=_mid_reply("Why is my GPU slow?"))


def test_chat_reply_offloaded_160x50(snap_compare, chat_snapshot_app):
    app = chat_snapshot_app(440.0, PORTS["offloaded"])
    assert snap_compare(
        app, terminal_size=(160, 50), run_before=_mid_reply("Why is this model so slow?")
    )
