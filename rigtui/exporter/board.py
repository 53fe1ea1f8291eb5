"""The latest of everything the exporter serves, handed in by the samplers and read by scrapes.

The board never reads a source: the sampling thread and the Ollama watch call it with what they
read, and a scrape takes one consistent :class:`BoardView` of it. So ten scrapers cost what one
does, and a slow Ollama or NVML never slows a scrape.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from rigtui.llm.ollama import ModelFacts, RunningModel
from rigtui.llm.watch import Connected, Disconnected, FactsRead, Listed, Running, WatchEvent
from rigtui.telemetry.model import RigSnapshot


@dataclass(frozen=True)
class OllamaState:
    """What the watch last said about Ollama."""

    up: bool = False
    version: str | None = None
    installed: int | None = None
    """Models on disk, once listed."""
    running: tuple[RunningModel, ...] = ()
    facts: Mapping[str, ModelFacts] = field(default_factory=lambda: MappingProxyType({}))
    """Model shapes (``/api/show``) for the fit predictions, by model name."""


@dataclass(frozen=True)
class BoardView:
    """One consistent reading of the board, for one scrape."""

    snapshot: RigSnapshot | None
    received_at: float | None
    """When the board got the snapshot, on the board's clock (Unix time): a demo that holds
    still keeps its reading's own time, but the exporter's health is about now."""
    sampling_failures: int
    ollama: OllamaState | None
    """None when Ollama is not watched (``--no-ollama``)."""
    generation: int
    """Goes up with every change: a scrape may reuse what it built for the same generation."""


class MetricsBoard:
    """Thread-safe: fed from the sampling thread and the Ollama thread, read by scrape threads."""

    def __init__(
        self, *, watches_ollama: bool = True, clock: Callable[[], float] = time.time
    ) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._view = BoardView(None, None, 0, OllamaState() if watches_ollama else None, 0)

    def view(self) -> BoardView:
        with self._lock:
            return self._view

    def _change(self, **changes) -> None:
        with self._lock:
            self._view = replace(self._view, generation=self._view.generation + 1, **changes)

    # --- fed by the sampling thread -----------------------------------------------------------

    def took(self, snapshot: RigSnapshot) -> None:
        """A new reading of the rig."""
        self._change(snapshot=snapshot, received_at=self.clock())

    def failed(self, _error: str = "") -> None:
        """A reading failed: the last good one is served meanwhile."""
        with self._lock:
            view = self._view
            self._view = replace(
                view, sampling_failures=view.sampling_failures + 1, generation=view.generation + 1
            )

    # --- fed by the Ollama watch --------------------------------------------------------------

    def heard(self, event: WatchEvent) -> None:
        """One event of :class:`rigtui.llm.watch.OllamaWatch`."""
        with self._lock:
            ollama = self._view.ollama or OllamaState()
            if isinstance(event, Connected):
                ollama = replace(ollama, up=True, version=event.version)
            elif isinstance(event, Disconnected):
                ollama = replace(ollama, up=False, running=())
            elif isinstance(event, Listed):
                ollama = replace(ollama, up=True, installed=len(event.models))
            elif isinstance(event, FactsRead):
                facts = {**ollama.facts, **event.facts}
                ollama = replace(ollama, facts=MappingProxyType(facts))
            elif isinstance(event, Running):
                ollama = replace(ollama, up=True, running=tuple(event.models))
            view = self._view
            self._view = replace(view, ollama=ollama, generation=view.generation + 1)

    def ollama_running(self, models: list[RunningModel]) -> None:
        self.heard(Running(list(models)))
