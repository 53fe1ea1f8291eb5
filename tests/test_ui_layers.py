"""The UI's layers point down: render is handed its insight, widgets know neither screens nor
the app nor the engines, so each can be tried (and reused) on its own."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

UI = Path(__file__).parent.parent / "rigtui" / "ui"
ENGINES = (
    "rigtui.telemetry.sampler",
    "rigtui.telemetry.nvml",
    "rigtui.telemetry.system",
    "rigtui.telemetry.opening",
    "rigtui.recording",
    "rigtui.sources",
    "rigtui.sim",
    "rigtui.commands",
)
"""Modules that do I/O or keep running state: a widget is handed their results."""
ENGINE_NAMES = {"OllamaClient", "RigSampler", "RigInsight", "LoadMonitor", "ReplayCursor"}


def imports(path: Path) -> list[tuple[str, str]]:
    """``(module, name)`` for every import in the module, at its top or inside a function."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.extend((node.module, alias.name) for alias in node.names)
        elif isinstance(node, ast.Import):
            found.extend((alias.name, "") for alias in node.names)
    return found


def modules(folder: str) -> list[Path]:
    return sorted(path for path in (UI / folder).glob("*.py") if path.name != "__init__.py")


@pytest.mark.parametrize("path", modules("widgets"), ids=lambda path: path.stem)
def test_a_widget_imports_no_screen_no_app_and_no_engine(path):
    for module, name in imports(path):
        assert not module.startswith(("rigtui.ui.screens", "rigtui.ui.app")), (module, name)
        assert not module.startswith(ENGINES), (module, name)
        assert name not in ENGINE_NAMES, (module, name)


@pytest.mark.parametrize("path", modules("render"), ids=lambda path: path.stem)
def test_render_takes_only_values_and_constants_from_the_layers_below(path):
    for module, name in imports(path):
        assert not module.startswith(("rigtui.ui.", "textual.")) or module.startswith(
            ("rigtui.ui.render", "textual.color", "textual.theme")
        ), (module, name)
        if module.startswith("rigtui.insight"):
            # Types (GpuInsight, Diagnosis) and constants (BAD): never a function that judges.
            assert name[:1].isupper() and name not in ENGINE_NAMES, (module, name)
        assert not module.startswith(ENGINES), (module, name)
