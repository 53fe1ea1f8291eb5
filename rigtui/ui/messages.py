"""Messages are past-tense facts that flow from sources to the app."""

from __future__ import annotations

from textual.message import Message

from rigtui.telemetry.model import NvmlStatus, RigSnapshot


class SamplerOpened(Message):
    def __init__(self, status: NvmlStatus) -> None:
        super().__init__()
        self.status = status


class SnapshotTaken(Message):
    """A new snapshot is waiting; the app takes the newest, so a backlog collapses to one."""


class HistoryLoaded(Message):
    """Earlier snapshots (the demo's story so far, a replay) to put in the history at once."""

    def __init__(self, snapshots: tuple[RigSnapshot, ...]) -> None:
        super().__init__()
        self.snapshots = snapshots


class SourceFailed(Message):
    def __init__(self, source: str, error: str) -> None:
        super().__init__()
        self.source = source
        self.error = error
