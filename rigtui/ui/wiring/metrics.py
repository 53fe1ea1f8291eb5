"""``--metrics``: the dashboard serves its own readings to Prometheus, fed to the exporter's board.

A part of :class:`rigtui.ui.app.RigApp` (a mixin: ``self`` is the app), kept apart so the app
stays the place that binds keys and owns lifetimes, and each feature's routing reads on its own.
"""

from __future__ import annotations

from rigtui.llm.watch import Connected, Disconnected, FactsRead, Listed, Running
from rigtui.telemetry.model import RigSnapshot
from rigtui.ui import messages as said


class MetricsWiring:
    # --- the exporter: --metrics serves the dashboard's own readings (issue 16, part 1) -----
    # The same board as ``rigtui exporter``'s, fed here from the sampling worker's readings and
    # the Ollama watch's messages: no second sampler, and a scrape never reaches the rig.

    metrics_board = None
    """``rigtui.exporter.board.MetricsBoard`` while metrics are served."""
    metrics_server = None

    def _start_metrics(self) -> None:
        listen = self.settings.metrics_listen
        if not listen:
            return
        if self.replay is not None:
            self.notify("--metrics serves a live rig, not a recording.", severity="warning")
            return
        from rigtui.exporter.board import MetricsBoard
        from rigtui.exporter.server import ServeError, serve_board

        environment = self.source.environment
        board = MetricsBoard(watches_ollama=self.source.ollama_address is not None)
        try:
            self.metrics_server = serve_board(
                board,
                listen,
                demo=environment.scenario.name if environment else "",
                flag="--metrics",
            )
        except ServeError as error:
            self.notify(
                f"Metrics not served: {error}", title="--metrics", severity="error", timeout=12
            )
            return
        self.metrics_board = board
        where = self.metrics_server.url
        if self.metrics_server.reachable_from_network:
            where += " (reachable from the network)"
        self.notify(f"Serving metrics at {where}", title="Prometheus", timeout=8)

    def _stop_metrics(self) -> None:
        if self.metrics_server is not None:
            self.metrics_server.stop()
            self.metrics_server = None

    def _feed_metrics(self, snapshot: RigSnapshot) -> None:
        if self.metrics_board is not None:
            self.metrics_board.took(snapshot)

    def _tell_metrics(self, message: said.RigMessage) -> None:
        """What the board hears besides readings: a failed reading, and the Ollama watch's news
        (the app's ``@on`` handler hands them over: Textual collects decorated handlers from the
        App's own class body only, not from a plain mixin)."""
        board = self.metrics_board
        if board is None:
            return
        if isinstance(message, said.SourceFailed):
            if message.source == "sampler":
                board.failed(message.error)
        elif isinstance(message, said.OllamaConnected):
            board.heard(Connected(message.version))
        elif isinstance(message, said.OllamaDisconnected):
            board.heard(Disconnected(message.error, message.retry_in_s))
        elif isinstance(message, said.ModelsListed):
            board.heard(Listed(message.models))
        elif isinstance(message, said.ModelFactsRead):
            board.heard(FactsRead(message.facts))
        elif isinstance(message, said.ModelsRunning):
            board.heard(Running(message.models))
