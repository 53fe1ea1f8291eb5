"""The Fleet tab: the watch over Prometheus and a rig's history, run in workers, their readings
posted.

A part of :class:`rigtui.ui.app.RigApp` (a mixin: ``self`` is the app), kept apart so the app
stays the place that binds keys and owns lifetimes, and each feature's routing reads on its own.
"""

from __future__ import annotations

from textual import work

from rigtui.ui import messages as said


class FleetWiring:
    # --- the Fleet tab: the rigs a Prometheus scrapes (issue 16) --------------------------------

    def _start_fleet(self) -> None:
        if self.settings.prometheus_url is None or self.fleet_watch is not None:
            return
        from rigtui.fleet.prometheus import PrometheusClient
        from rigtui.fleet.watch import FleetWatch

        self.prometheus = PrometheusClient(self.settings.prometheus_url)
        self.fleet_watch = (self._make_fleet_watch or FleetWatch)(self.prometheus)
        self._watch_fleet(self.fleet_watch)
        self._fleet_pane().keep_time(self.fleet_watch.now)

    @work(exclusive=True, group="fleet-watch", name="fleet-watch")
    async def _watch_fleet(self, watch) -> None:
        from rigtui.fleet.watch import FleetRead, FleetUnreadable

        async for event in watch.events():
            if isinstance(event, FleetRead):
                self.post_message(said.FleetReadingTaken(event.reading, event.reading.read_at))
            elif isinstance(event, FleetUnreadable):
                self.post_message(said.FleetReadFailed(event.error, event.retry_in_s, watch.now()))

    def _fleet_pane(self):
        from rigtui.ui.widgets.fleet_pane import FleetPane

        return self.dashboard.query_one("#fleet-pane", FleetPane)

    def on_fleet_reading_taken(self, message: said.FleetReadingTaken) -> None:
        self._fleet_pane().show_reading(message.reading, message.now)

    def on_fleet_read_failed(self, message: said.FleetReadFailed) -> None:
        self._fleet_pane().show_unreadable(message.error, message.retry_in_s, message.now)

    def on_fleet_read_requested(self, _message: said.FleetReadRequested) -> None:
        if self.fleet_watch is not None:
            # A new run of the watch reads at once; the old one, maybe waiting out a backoff,
            # is cancelled (exclusive).
            self._watch_fleet(self.fleet_watch)

    def on_fleet_history_requested(self, message: said.FleetHistoryRequested) -> None:
        if self.fleet_watch is not None:
            self._read_fleet_history(self.fleet_watch, message.instance, message.window_s)

    @work(exclusive=True, group="fleet-history", name="fleet-history")
    async def _read_fleet_history(self, watch, instance: str, window_s: float) -> None:
        from rigtui.fleet.model import FleetError
        from rigtui.ui.render.fleet import HISTORY_POINTS

        try:
            history = await watch.history(instance, window_s, HISTORY_POINTS)
        except FleetError as error:
            self.post_message(said.FleetHistoryFailed(instance, str(error)))
        else:
            self.post_message(said.FleetHistoryRead(history))

    def on_fleet_history_read(self, message: said.FleetHistoryRead) -> None:
        self._fleet_pane().show_history(message.history)

    def on_fleet_history_failed(self, message: said.FleetHistoryFailed) -> None:
        self._fleet_pane().show_history_failed(message.instance, message.error)

    async def _close_fleet(self) -> None:
        if self.prometheus is not None:
            self.workers.cancel_group(self, "fleet-watch")
            self.workers.cancel_group(self, "fleet-history")
            await self.prometheus.aclose()
