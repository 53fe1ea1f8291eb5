"""Fixtures shared by the UI tests."""

from __future__ import annotations

import pytest

from rigtui.sim import uninstall
from rigtui.ui.staging import staged_app


@pytest.fixture
def chat_app():
    """Makes staged apps with the simulated Ollama server, and stops their servers after."""
    apps = []

    def make(at_s: float = 345.0, speed: float = 20.0, scenario: str = "story", **staging):
        app = staged_app(scenario, at_s, ollama=True, ollama_speed=speed, **staging)
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.environment.stop_ollama()
    uninstall()
