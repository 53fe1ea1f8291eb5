"""Process control: signals to GPU and CPU processes, checked and confirmed, sent off the UI loop.

A part of :class:`rigtui.ui.app.RigApp` (a mixin: ``self`` is the app), kept apart so the app
stays the place that binds keys and owns lifetimes, and each feature's routing reads on its own.
"""

from __future__ import annotations

from textual import work
from textual.app import SystemCommand

from rigtui.telemetry.signals import PidOrigin, ProcessSignals, SignalCheck, SignalTarget
from rigtui.ui import messages as said
from rigtui.ui.screens.confirm_signal import ConfirmSignalScreen
from rigtui.ui.widgets.process_pane import ProcessPane


class ProcessControlWiring:
    # --- process control ----------------------------------------------------------------------

    process_signal_uid: int | None = None
    """The user signals are sent as (None: this process's effective uid); tests set another."""

    def on_every_process_wanted(self, message: said.EveryProcessWanted) -> None:
        sampler = self.sampler
        if sampler is not None:
            # Read on the sampling thread at its next round: one attribute, set whole.
            sampler.system.all_processes = message.every

    def process_signals(self) -> ProcessSignals:
        """Where the listed PIDs come from decides whether a signal may be sent at all."""
        if self.replay is not None:
            origin = PidOrigin.RECORDED
        elif self.sampler is not None:
            origin = PidOrigin.LOCAL if self.sampler.pids_are_local else PidOrigin.SIMULATED
        else:
            origin = PidOrigin.SIMULATED if self.source.environment else PidOrigin.LOCAL
        return ProcessSignals(origin, uid=self.process_signal_uid)

    def on_process_signal_requested(self, message: said.ProcessSignalRequested) -> None:
        self._check_signal(self.process_signals(), message.target, message.action)

    @work(thread=True, group="process-signal", name="process-signal-check")
    def _check_signal(self, signals: ProcessSignals, target: SignalTarget, action: str) -> None:
        self.post_message(said.ProcessSignalChecked(signals.check(target), action))

    def on_process_signal_checked(self, message: said.ProcessSignalChecked) -> None:
        check = message.check
        if not check.allowed:
            # Said before asking: there is nothing to confirm.
            severity = "information" if check.gone else "warning"
            self.notify(check.refusal or "", title="Not sent", severity=severity, timeout=8)
            return

        def answered(send: bool | None) -> None:
            if send:
                self._send_signal(self.process_signals(), check, message.action)

        self.push_screen(ConfirmSignalScreen(check.target, message.action, check.owner), answered)

    @work(thread=True, group="process-signal", name="process-signal-send")
    def _send_signal(self, signals: ProcessSignals, check: SignalCheck, action: str) -> None:
        self.post_message(said.ProcessSignalSent(signals.send(check, action)))

    def on_process_signal_sent(self, message: said.ProcessSignalSent) -> None:
        outcome = message.outcome
        if outcome.sent:
            self.notify(outcome.message, title="Sent", timeout=5)
        elif outcome.gone:
            self.notify(outcome.message, title="Not sent", timeout=6)
        else:
            self.notify(outcome.message, title="Not sent", severity="error", timeout=10)

    def _process_commands(self):
        """The Processes tab's keys in the command palette."""

        def on_processes(action: str):
            def run() -> None:
                self.action_show_tab("processes-tab")
                pane = self.dashboard.query_one(ProcessPane)
                self.call_after_refresh(pane.run_action, action)

            return run

        for title, help_text, action in (
            (
                "Processes: sort by the next column",
                "VRAM, SM%, CPU%, memory, PID, name (s)",
                "sort_next",
            ),
            ("Processes: reverse the sort", "Biggest or smallest first (r)", "sort_reverse"),
            ("Processes: filter", "By name, command, user or PID (/)", "open_filter"),
            (
                "Processes: terminate the selected process",
                "SIGTERM, after a confirmation (T)",
                "signal('terminate')",
            ),
            (
                "Processes: kill the selected process",
                "SIGKILL, after a confirmation (K)",
                "signal('kill')",
            ),
        ):
            yield SystemCommand(title, help_text, on_processes(action))
